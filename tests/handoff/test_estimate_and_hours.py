"""The wait the customer is told, and who is online when (pure functions of the policy and the clock)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.callbacks.policy import CallbackPolicy
from bot.handoff.estimate import WaitEstimate, estimate_wait
from bot.handoff.hours import agents_online, next_opening, reply_by
from bot.handoff.policy import AgentsPolicy, WaitEstimatePolicy
from tests.handoff.conftest import MONDAY_NOON, SUNDAY_NOON, UTC, make_policy

ESTIMATE = WaitEstimatePolicy(window_minutes=120, min_claims=3, max_minutes=90)
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("ahead", "waits_min", "told"),
    [
        (0, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 10),   # 12 claims in 2 h: one every 10 min, so a newcomer waits ~10
        (0, [4, 6, 5] * 20, 5),                         # 60 claims in 2 h (one every 2 min), median wait 5 min
        (3, [4, 6, 5] * 20, 8),                         # four in front of the claims: 8 min
        (9, [4, 6, 5] * 20, 20),                        # 10 x 2 min, told in fives above ten
        (0, [0.2] * 200, 2),                            # never "about 1 minute": at least 2
        (0, [3, 3], None),                              # two claims are too little evidence
        (20, [5, 5, 5], None),                          # 21 x 40 min is past the 90 we would ever promise
    ],
)
def test_the_wait_is_the_longer_of_the_recent_median_and_the_queue_at_the_claim_rate(
    ahead: int, waits_min: list[float], told: int | None
) -> None:
    estimate = estimate_wait(ahead, [minutes * 60 for minutes in waits_min], ESTIMATE)
    assert estimate == WaitEstimate(told)
    assert estimate.seconds == (None if told is None else told * 60)


def test_agents_are_online_in_the_callback_hours_unless_live_chat_is_off(hours: CallbackPolicy) -> None:
    agents = make_policy().agents
    assert agents_online(agents, hours, MONDAY_NOON)
    assert not agents_online(agents, hours, SUNDAY_NOON)
    assert not agents_online(agents, hours, datetime(2026, 11, 30, 17, 0, tzinfo=LONDON))
    assert agents_online(agents, hours, datetime(2026, 11, 30, 16, 59, tzinfo=LONDON))
    off = AgentsPolicy(live_chat=False, hours="callbacks")
    assert not agents_online(off, hours, MONDAY_NOON)


def test_agents_may_keep_their_own_hours(hours: CallbackPolicy) -> None:
    evenings = AgentsPolicy(live_chat=True, hours={"sunday": ["10:00-14:00"]})
    own = evenings.opening_hours(hours)
    assert own.business_timezone == "Europe/London" and own.slot_minutes == hours.slot_minutes
    assert agents_online(evenings, own, SUNDAY_NOON)
    assert not agents_online(evenings, own, MONDAY_NOON)


def test_the_reply_time_is_the_sla_s_or_the_next_opening_after_it(hours: CallbackPolicy) -> None:
    saturday_evening = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    assert next_opening(hours, saturday_evening) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)   # Monday 09:00 London (GMT)
    assert reply_by(saturday_evening, hours) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert reply_by(MONDAY_NOON, hours) == MONDAY_NOON
    summer_sunday = datetime(2026, 7, 5, 12, 0, tzinfo=UTC)
    assert next_opening(hours, summer_sunday) == datetime(2026, 7, 6, 8, 0, tzinfo=UTC)      # 09:00 BST
    for moment in (saturday_evening, MONDAY_NOON, summer_sunday, SUNDAY_NOON - timedelta(minutes=1)):
        assert reply_by(moment, hours) >= moment
