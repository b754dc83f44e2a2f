"""What a typed message asks of a booked call: the words decide, the intent only breaks a tie."""

from __future__ import annotations

import pytest

from bot.callbacks.wording import asked_change


@pytest.mark.parametrize(("text", "intent", "change"), [
    ("cancel my call", "cancel_callback", "cancel"),
    ("pls cancle my callback", "cancel_callback", "cancel"),
    ("I don't need the call any more", "cancel_callback", "cancel"),
    ("no need to ring me now, it's sorted", "reschedule_callback", "cancel"),
    ("can we move the call to Friday at 10", "reschedule_callback", "reschedule"),
    ("can you call me later instead", "cancel_callback", "reschedule"),
    ("I'd rather you rang on Tuesday", "reschedule_callback", "reschedule"),
    ("postpone the call until next week", "reschedule_callback", "reschedule"),
    ("cancel the 3pm call and ring me at 5 instead", "reschedule_callback", "reschedule"),
    ("cancel the 3pm call and ring me at 5 instead", "cancel_callback", "cancel"),
])
def test_a_change_is_read_from_the_words(text: str, intent: str, change: str) -> None:
    assert asked_change(text, intent) == change


@pytest.mark.parametrize("text", [
    "call me back please", "I want a call back", "someone to actually call me back today", "please call me tomorrow",
    "a supervisor calling me back", "",
])
def test_a_wish_for_a_call_is_no_change(text: str) -> None:
    assert asked_change(text, "cancel_callback") is None
    assert asked_change(text, "reschedule_callback") is None
