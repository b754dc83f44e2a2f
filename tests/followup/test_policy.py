"""When a survey is due: the delay, quiet hours in the customer's time zone, a DST change, bad files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.followup.policy import FollowupPolicyError, followup_policy, parse_followup_policy
from tests.followup.support import POLICY

UTC = timezone.utc


def test_the_configured_policy_is_72_hours_with_quiet_hours_and_one_reminder_after_24_hours() -> None:
    followup_policy.cache_clear()
    policy = followup_policy()
    assert policy.after == timedelta(hours=72)
    assert policy.horizon_label == "72h"
    assert (str(policy.quiet_hours.start), str(policy.quiet_hours.end)) == ("21:00:00", "09:00:00")
    assert policy.reminder_after == timedelta(hours=24)
    assert policy.default_time_zone == "Europe/London"


def test_a_survey_due_in_the_day_goes_out_72_hours_after_the_resolution() -> None:
    resolved = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # 11:00 BST
    assert POLICY.survey_due(resolved) == datetime(2026, 6, 4, 10, 0, tzinfo=UTC)


def test_a_survey_due_in_the_evening_waits_for_the_morning_in_the_customers_zone() -> None:
    resolved = datetime(2026, 6, 1, 21, 30, tzinfo=UTC)  # 22:30 BST: quiet
    assert POLICY.survey_due(resolved) == datetime(2026, 6, 5, 8, 0, tzinfo=UTC)  # 09:00 BST next day
    assert POLICY.survey_due(resolved, "America/New_York") == datetime(2026, 6, 4, 21, 30, tzinfo=UTC)  # 17:30 EDT


def test_a_survey_due_after_midnight_waits_for_the_same_morning() -> None:
    resolved = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # 02:00 BST
    assert POLICY.survey_due(resolved) == datetime(2026, 6, 4, 8, 0, tzinfo=UTC)


def test_quiet_hours_across_the_spring_daylight_saving_change() -> None:
    # Resolved 26 March 20:30 GMT; due 29 March 20:30 UTC, after the clocks went forward: 21:30 BST, quiet.
    resolved = datetime(2026, 3, 26, 20, 30, tzinfo=UTC)
    assert POLICY.survey_due(resolved) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 09:00 BST


def test_quiet_hours_across_the_autumn_daylight_saving_change() -> None:
    resolved = datetime(2026, 10, 22, 7, 30, tzinfo=UTC)  # due 25 Oct 07:30 UTC = 07:30 GMT, quiet
    assert POLICY.survey_due(resolved) == datetime(2026, 10, 25, 9, 0, tzinfo=UTC)  # 09:00 GMT


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.survey_due(datetime(2026, 6, 1, 10, 0))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("default_time_zone: Mars/Olympus\nquiet_hours: {start: '21:00', end: '09:00'}\nreminder_after_h: 24\nunanswered_after_h: 24\n", "default_time_zone"),
        ("default_time_zone: UTC\nquiet_hours: {start: '21:00', end: '21:00'}\nreminder_after_h: 24\nunanswered_after_h: 24\n", "quiet_hours.end"),
        ("default_time_zone: UTC\nquiet_hours: {start: '21:00', end: '09:00'}\nreminder_after_h: 0\nunanswered_after_h: 24\n", "reminder_after_h"),
        ("default_time_zone: UTC\nquiet_hours: {start: '25:00', end: '09:00'}\nreminder_after_h: 24\nunanswered_after_h: 24\n", "quiet_hours.start"),
        ("default_time_zone: UTC\nquiet_hours: {start: '21:00', end: '09:00'}\nreminder_after_h: 24\nunanswered_after_h: 24\nextra: 1\n", "extra"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "followup.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FollowupPolicyError) as error:
        parse_followup_policy(path, 72)
    assert str(error.value).startswith(f"{path}: ")
    assert problem in str(error.value)


def test_a_non_positive_delay_in_sla_yml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "followup.yml"
    path.write_text("default_time_zone: UTC\nquiet_hours: {start: '21:00', end: '09:00'}\nreminder_after_h: 24\nunanswered_after_h: 24\n")
    with pytest.raises(FollowupPolicyError, match="followup_after_h must be positive"):
        parse_followup_policy(path, 0)
