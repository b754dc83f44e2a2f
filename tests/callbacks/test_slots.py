"""Slot computation: business hours on the business clock, shown on the customer's, across
time zones and both daylight-saving changes, with no past, out-of-hours or full slot."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.callbacks.policy import CallbackPolicy, CallbackPolicyError, parse_callback_policy
from bot.callbacks.slots import day_slots, free_slots, hours_label, in_business_hours, is_bookable, slot_label
from tests.callbacks.conftest import ROOT, make_policy

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def starts(slots: list) -> list[datetime]:
    return [slot.start for slot in slots]


def test_slots_start_after_the_lead_time_within_hours_and_show_on_the_customers_clock(policy: CallbackPolicy) -> None:
    now = utc(2026, 11, 30, 12, 0)  # Monday, London on GMT
    slots = free_slots(policy, now, {})
    assert starts(slots) == [utc(2026, 11, 30, 13, 0), utc(2026, 11, 30, 13, 30), utc(2026, 11, 30, 14, 0), utc(2026, 11, 30, 14, 30)]
    assert [slot.end for slot in slots][0] == utc(2026, 11, 30, 13, 30)
    assert [slot_label(slot, NEW_YORK) for slot in slots] == [
        "Mon 30 Nov, 08:00 EST", "Mon 30 Nov, 08:30 EST", "Mon 30 Nov, 09:00 EST", "Mon 30 Nov, 09:30 EST",
    ]
    assert slot_label(slots[0], TOKYO) == "Mon 30 Nov, 22:00 JST"
    assert slot_label(slots[0], ZoneInfo("Europe/London")) == "Mon 30 Nov, 13:00 GMT"


def test_no_slot_in_the_past_or_inside_the_lead_time(policy: CallbackPolicy) -> None:
    now = utc(2026, 11, 30, 14, 10)
    assert starts(free_slots(policy, now, {}, limit=2)) == [utc(2026, 11, 30, 15, 30), utc(2026, 11, 30, 16, 0)]


def test_the_day_ends_with_the_last_whole_slot_and_closed_days_are_skipped(policy: CallbackPolicy) -> None:
    now = utc(2026, 12, 5, 11, 30)  # Saturday: open 10:00-13:00, lead 60 min; Sunday closed
    assert starts(free_slots(policy, now, {}, limit=3)) == [
        utc(2026, 12, 5, 12, 30), utc(2026, 12, 7, 9, 0), utc(2026, 12, 7, 9, 30),
    ]
    assert day_slots(policy, date(2026, 12, 6)) == []
    assert starts(day_slots(policy, date(2026, 12, 7)))[-1] == utc(2026, 12, 7, 16, 30)
    assert len(day_slots(policy, date(2026, 12, 7))) == 16


def test_full_slots_are_not_offered_and_a_part_booked_one_is(policy: CallbackPolicy) -> None:
    now = utc(2026, 11, 30, 12, 0)
    taken = {utc(2026, 11, 30, 13, 0): 2, utc(2026, 11, 30, 13, 30): 1, utc(2026, 11, 30, 14, 0): 2}
    assert starts(free_slots(policy, now, taken, limit=3)) == [
        utc(2026, 11, 30, 13, 30), utc(2026, 11, 30, 14, 30), utc(2026, 11, 30, 15, 0),
    ]


def test_spring_forward_moves_the_business_day_an_hour_earlier_in_utc(policy: CallbackPolicy) -> None:
    # London changes from GMT to BST on Sunday 29 March 2026.
    friday = day_slots(policy, date(2026, 3, 27))
    monday = day_slots(policy, date(2026, 3, 30))
    assert (friday[0].start, friday[-1].end) == (utc(2026, 3, 27, 9, 0), utc(2026, 3, 27, 17, 0))
    assert (monday[0].start, monday[-1].end) == (utc(2026, 3, 30, 8, 0), utc(2026, 3, 30, 16, 0))
    now = utc(2026, 3, 28, 12, 45)  # Saturday, too late for Saturday's last slot
    slots = free_slots(policy, now, {})
    assert starts(slots) == [utc(2026, 3, 30, 8, 0), utc(2026, 3, 30, 8, 30), utc(2026, 3, 30, 9, 0), utc(2026, 3, 30, 9, 30)]
    assert slot_label(slots[0], ZoneInfo("Europe/London")) == "Mon 30 Mar, 09:00 BST"


def test_fall_back_moves_the_business_day_an_hour_later_in_utc(policy: CallbackPolicy) -> None:
    # London changes from BST to GMT on Sunday 25 October 2026.
    now = utc(2026, 10, 23, 15, 0)  # Friday 16:00 BST: the lead time passes closing
    assert starts(free_slots(policy, now, {}, limit=2)) == [utc(2026, 10, 24, 9, 0), utc(2026, 10, 24, 9, 30)]
    monday = day_slots(policy, date(2026, 10, 26))
    assert (monday[0].start, monday[-1].end) == (utc(2026, 10, 26, 9, 0), utc(2026, 10, 26, 17, 0))


def test_a_customer_whose_clock_changed_on_another_date_sees_the_true_local_time(policy: CallbackPolicy) -> None:
    # New York is on EDT from 8 March 2026, London still on GMT until 29 March: four hours apart, not five.
    slot = day_slots(policy, date(2026, 3, 23))[0]
    assert slot.start == utc(2026, 3, 23, 9, 0)
    assert slot_label(slot, NEW_YORK) == "Mon 23 Mar, 05:00 EDT"
    after = day_slots(policy, date(2026, 3, 30))[0]
    assert slot_label(after, NEW_YORK) == "Mon 30 Mar, 04:00 EDT"


def test_a_night_shift_gets_no_slot_in_the_skipped_hour_and_none_twice_in_the_repeated_hour() -> None:
    night = make_policy(business_hours={"sunday": ["00:00-04:00"]})
    spring = day_slots(night, date(2026, 3, 29))
    assert starts(spring) == [
        utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 0, 30),  # 00:00, 00:30 GMT; 01:00-01:59 never happens
        utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 0), utc(2026, 3, 29, 2, 30),
    ]
    autumn = day_slots(night, date(2026, 10, 25))
    assert starts(autumn) == [
        utc(2026, 10, 24, 23, 0), utc(2026, 10, 24, 23, 30),  # 00:00, 00:30 BST
        utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 30),  # 01:00, 01:30 BST, offered once
        utc(2026, 10, 25, 2, 0), utc(2026, 10, 25, 2, 30), utc(2026, 10, 25, 3, 0), utc(2026, 10, 25, 3, 30),
    ]
    assert len(set(starts(autumn))) == len(autumn)
    assert all(earlier.end <= later.start for earlier, later in zip(autumn, autumn[1:]))


def test_bookable_means_an_existing_slot_ahead_of_the_lead_time_and_within_the_horizon(policy: CallbackPolicy) -> None:
    now = utc(2026, 11, 30, 12, 0)
    assert is_bookable(policy, now, utc(2026, 12, 1, 15, 0)).end == utc(2026, 12, 1, 15, 30)
    assert is_bookable(policy, now, utc(2026, 12, 1, 15, 10)) is None
    assert is_bookable(policy, now, utc(2026, 11, 30, 12, 30)) is None
    assert is_bookable(policy, now, utc(2026, 12, 1, 18, 0)) is None
    assert is_bookable(policy, now, utc(2026, 12, 21, 9, 0)) is None
    assert in_business_hours(policy, utc(2026, 11, 30, 16, 59))
    assert not in_business_hours(policy, utc(2026, 11, 30, 17, 0))
    assert not in_business_hours(policy, utc(2026, 12, 6, 12, 0))


def test_opening_hours_read_as_one_short_line(policy: CallbackPolicy) -> None:
    assert hours_label(policy) == "Mon–Fri 09:00–17:00, Sat 10:00–13:00 (Europe/London)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"business_timezone": "Mars/Olympus"}, "business_timezone: unknown time zone 'Mars/Olympus'"),
        ({"business_hours": {"monday": ["17:00-09:00"]}}, "business_hours: '17:00-09:00' ends before it starts"),
        ({"business_hours": {"monday": ["09:00-12:00", "11:00-15:00"]}}, "business_hours: monday: opening ranges overlap"),
        ({"business_hours": {"funday": ["09:00-12:00"]}}, "business_hours: unknown weekday(s) funday"),
        ({"slot_minutes": 0}, "slot_minutes: ensure this value is greater than or equal to 5"),
        ({"surprise": 1}, "surprise: extra fields not permitted"),
    ],
)
def test_a_bad_policy_stops_with_the_key_named(tmp_path: Path, change: dict, message: str) -> None:
    raw = yaml.safe_load((ROOT / "settings" / "callbacks.yml").read_text(encoding="utf-8"))
    path = tmp_path / "callbacks.yml"
    path.write_text(yaml.safe_dump({**raw, **change}), encoding="utf-8")
    with pytest.raises(CallbackPolicyError) as raised:
        parse_callback_policy(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)
