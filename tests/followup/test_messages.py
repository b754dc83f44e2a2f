"""The survey as each channel shows it, and the payloads its buttons carry."""

from __future__ import annotations

import pytest

from bot.followup.messages import parse_value, payload, step_message


def test_a_channel_without_buttons_gets_the_numbers_in_the_text() -> None:
    message = step_message("survey", "CX-7K3F9Q", "rest")
    assert message.buttons == ()
    assert message.text.startswith("Hello again. A few days ago we resolved your complaint CX-7K3F9Q.")
    assert "Please reply with one number: 1 (very dissatisfied), 2, 3, 4 or 5 (very satisfied)." in message.text


def test_the_survey_and_its_reminder_open_the_rating_question_in_the_conversation() -> None:
    for step in ("survey", "reminder"):
        assert step_message(step, "CX-7K3F9Q", "webchat").slots == (("survey_step", "asked"),)


def test_a_channel_with_buttons_gets_five_rating_buttons() -> None:
    message = step_message("reminder", "CX-7K3F9Q", "telegram")
    assert [(b.title, b.payload) for b in message.buttons] == [
        (str(n), f'/inform{{"survey_answer":"CX-7K3F9Q:rating:{n}"}}') for n in range(1, 6)
    ]
    assert "{ticket_number}" not in message.text


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("CX-7K3F9Q:rating:4", ("CX-7K3F9Q", "rating", "4")),
        ("CX-7K3F9Q:solved:no", ("CX-7K3F9Q", "solved", "no")),
        ("CX-7K3F9Q:rating:meh", ("CX-7K3F9Q", "rating", "meh")),
        ("CX-7K3F9Q:refund:yes", None),
        ("cx-7k3f9q:rating:4", None),
        ("CX-7K3F9Q:rating:" + "9" * 41, None),
        ("hello", None),
    ],
)
def test_a_survey_value_is_read_only_in_its_own_shape(value: str, parsed: tuple[str, str, str] | None) -> None:
    result = parse_value(value)
    assert (None if result is None else (result.ticket_number, result.question, result.answer)) == parsed


def test_a_payload_names_the_ticket_the_question_and_the_answer() -> None:
    assert payload("CX-7K3F9Q", "solved", "yes") == '/inform{"survey_answer":"CX-7K3F9Q:solved:yes"}'
