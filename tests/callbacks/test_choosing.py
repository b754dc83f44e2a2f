"""What an answer to the slot offer books: typed times on the customer's clock, buttons,
numbers, and the refusals (past, gibberish, outside hours, full, too far) with alternatives."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.callbacks.choosing import Choice, choose
from bot.callbacks.policy import CallbackPolicy
from bot.callbacks.when import read_wish

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # Monday 14:00 in London
OFFERED = ["2026-11-30T15:00:00+00:00", "2026-11-30T15:30:00+00:00", "2026-11-30T16:00:00+00:00"]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def decide(policy: CallbackPolicy, answer: str, taken: dict | None = None, zone: ZoneInfo = LONDON, now: datetime = NOW) -> Choice:
    return choose(answer=answer, offered=OFFERED, now=now, policy=policy, taken=taken or {}, customer_zone=zone)


def alternatives(choice: Choice) -> list[datetime]:
    return [slot.start for slot in choice.alternatives]


@pytest.mark.parametrize(
    ("text", "at", "exact"),
    [
        ("tomorrow after 3", datetime(2026, 12, 1, 15, 0, tzinfo=LONDON), True),
        ("Tomorrow at 3pm please", datetime(2026, 12, 1, 15, 0, tzinfo=LONDON), True),
        ("friday 10am", datetime(2026, 12, 4, 10, 0, tzinfo=LONDON), True),
        ("wednesday 4.30pm", datetime(2026, 12, 2, 16, 30, tzinfo=LONDON), True),
        ("dec 3 at 14:30", datetime(2026, 12, 3, 14, 30, tzinfo=LONDON), True),
        ("tomorrow afternoon", datetime(2026, 12, 1, 12, 0, tzinfo=LONDON), False),
        ("tomorrow", datetime(2026, 12, 1, 0, 0, tzinfo=LONDON), False),
        ("as soon as possible", NOW, False),
    ],
)
def test_a_wished_time_is_read_on_the_customers_clock(text: str, at: datetime, exact: bool) -> None:
    wish = read_wish(text, NOW, LONDON)
    assert wish is not None
    assert (wish.at, wish.exact) == (at, exact)


@pytest.mark.parametrize("text", ["asdkjh qwe", "banana", "", "   ", "ok"])
def test_gibberish_is_no_time(text: str) -> None:
    assert read_wish(text, NOW, LONDON) is None


def test_tomorrow_after_3_books_the_3pm_slot(policy: CallbackPolicy) -> None:
    choice = decide(policy, "tomorrow after 3")
    assert choice.outcome == "book"
    assert (choice.slot.start, choice.slot.end) == (utc(2026, 12, 1, 15, 0), utc(2026, 12, 1, 15, 30))


def test_tomorrow_after_10_in_new_york_is_3pm_in_london(policy: CallbackPolicy) -> None:
    choice = decide(policy, "tomorrow after 10", zone=NEW_YORK)
    assert choice.outcome == "book"
    assert choice.slot.start == utc(2026, 12, 1, 15, 0)


def test_a_full_wished_slot_books_the_nearest_free_one_after_it_that_day(policy: CallbackPolicy) -> None:
    choice = decide(policy, "tomorrow at 3pm", taken={utc(2026, 12, 1, 15, 0): 2})
    assert (choice.outcome, choice.slot.start) == ("book", utc(2026, 12, 1, 15, 30))


def test_a_day_full_from_the_wished_time_books_nothing_and_offers_the_next_day(policy: CallbackPolicy) -> None:
    taken = {utc(2026, 12, 1, hour, minute): 2 for hour in (15, 16) for minute in (0, 30)}
    choice = decide(policy, "tomorrow at 3pm", taken=taken)
    assert (choice.outcome, choice.slot) == ("full", None)
    assert alternatives(choice) == [utc(2026, 12, 2, 9, 0), utc(2026, 12, 2, 9, 30), utc(2026, 12, 2, 10, 0), utc(2026, 12, 2, 10, 30)]


def test_a_time_in_the_past_books_nothing(policy: CallbackPolicy) -> None:
    for text in ("yesterday at 3", "today at 9am", "yesterday"):
        choice = decide(policy, text)
        assert (choice.outcome, choice.slot) == ("past", None), text
        assert alternatives(choice) == [utc(2026, 11, 30, 15, 0), utc(2026, 11, 30, 15, 30), utc(2026, 11, 30, 16, 0), utc(2026, 11, 30, 16, 30)]


def test_gibberish_books_nothing_and_offers_the_next_slots(policy: CallbackPolicy) -> None:
    choice = decide(policy, "qwerty zxcv")
    assert (choice.outcome, choice.slot) == ("unreadable", None)
    assert alternatives(choice)[0] == utc(2026, 11, 30, 15, 0)


def test_outside_hours_books_nothing_and_offers_the_nearest_times_after_it(policy: CallbackPolicy) -> None:
    choice = decide(policy, "tomorrow at 8pm")
    assert (choice.outcome, choice.slot) == ("outside_hours", None)
    assert alternatives(choice)[:2] == [utc(2026, 12, 2, 9, 0), utc(2026, 12, 2, 9, 30)]
    sunday = decide(policy, "sunday at 11")
    assert sunday.outcome == "outside_hours"
    assert alternatives(sunday)[0] == utc(2026, 12, 7, 9, 0)


def test_a_closed_day_books_nothing(policy: CallbackPolicy) -> None:
    choice = decide(policy, "sunday")
    assert (choice.outcome, choice.slot) == ("closed_day", None)
    assert alternatives(choice)[0] == utc(2026, 12, 7, 9, 0)


def test_beyond_the_horizon_books_nothing(policy: CallbackPolicy) -> None:
    choice = decide(policy, "31 december at 10am")
    assert (choice.outcome, choice.slot) == ("too_far", None)


def test_a_button_or_a_number_books_the_offered_slot(policy: CallbackPolicy) -> None:
    assert decide(policy, "2026-11-30T16:00:00+00:00").slot.start == utc(2026, 11, 30, 16, 0)
    assert decide(policy, "2").slot.start == utc(2026, 11, 30, 15, 30)
    assert decide(policy, "#3").slot.start == utc(2026, 11, 30, 16, 0)


def test_a_button_pressed_too_late_or_for_a_slot_filled_since_books_nothing(policy: CallbackPolicy) -> None:
    late = decide(policy, "2026-11-30T15:00:00+00:00", now=utc(2026, 11, 30, 14, 30))
    assert (late.outcome, late.slot) == ("past", None)
    full = decide(policy, "2026-11-30T15:30:00+00:00", taken={utc(2026, 11, 30, 15, 30): 2})
    assert (full.outcome, full.slot) == ("full", None)
    assert alternatives(full)[0] == utc(2026, 11, 30, 16, 0)
    odd = decide(policy, "2026-11-30T15:10:00+00:00")
    assert (odd.outcome, odd.slot) == ("outside_hours", None)
