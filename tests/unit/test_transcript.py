"""The narrative is the current complaint's words, verbatim, and nothing else."""

from __future__ import annotations

from bot.transcript import intake_messages, transcript


def user(text: str) -> dict:
    return {"event": "user", "text": text, "timestamp": 1.0}


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def loop(name: str | None) -> dict:
    return {"event": "active_loop", "name": name}


def test_the_narrative_runs_from_the_opening_message_to_now() -> None:
    events = [user("hi"), action("utter_greet"), user("my parcel is lost"), action("action_acknowledge_complaint"),
              loop("complaint_form"), user("Sam"), user("/affirm"), action("action_acknowledge_complaint"),
              user("and the driver was rude")]
    assert intake_messages(events) == ["my parcel is lost", "Sam", "and the driver was rude"]


def test_an_abandoned_intake_is_superseded_by_the_next_complaint() -> None:
    events = [user("my parcel is lost"), action("action_acknowledge_complaint"), loop("complaint_form"),
              user("Sam"), loop(None), user("my bill is wrong"), action("action_acknowledge_complaint"),
              loop("complaint_form")]
    assert intake_messages(events) == ["my bill is wrong"]


def test_a_filed_complaint_ends_the_narrative() -> None:
    events = [user("my parcel is lost"), action("action_acknowledge_complaint"), action("action_create_ticket"),
              user("thanks")]
    assert intake_messages(events) == []


def test_the_transcript_keeps_both_sides_in_order() -> None:
    lines = transcript([user("hello"), {"event": "bot", "text": "Hi!", "timestamp": 2.0}, action("x")])
    assert [(line["sender"], line["text"]) for line in lines] == [("customer", "hello"), ("assistant", "Hi!")]
