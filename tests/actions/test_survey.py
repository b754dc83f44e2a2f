"""The survey's chat side: action_survey_answer and action_survey_comment against real trackers,
a CollectingDispatcher and the runtime's real SQLite store (tickets and follow-ups)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.runtime import Runtime
from bot.actions.survey import ActionSurveyAnswer, ActionSurveyComment
from bot.followup.messages import payload
from tests.actions.events import user_event
from tests.followup.support import file_ticket, resolve

SENDER = "web:session-a"
RESOLVED = datetime.now(timezone.utc) - timedelta(hours=80)


@pytest.fixture
def surveyed(action_runtime: Runtime) -> str:
    """A ticket resolved 80 h ago whose survey went to SENDER's conversation; its number."""
    assert action_runtime.ensure_schema()
    ticket = file_ticket(action_runtime.store, RESOLVED, sender_id=SENDER)
    resolve(action_runtime.store, ticket.number, RESOLVED)
    key = f"followup:{ticket.number}:72h"
    [followup] = action_runtime.followups.claim_due(datetime.now(timezone.utc), limit=10, lease=timedelta(minutes=1))
    assert followup.key == key
    action_runtime.followups.advance([key], "survey", followup.due_at, followup.due_at + timedelta(hours=24))
    return ticket.number


def _text(domain: dict[str, Any], name: str, number: str = "") -> str:
    return domain["responses"][name][0]["text"].replace("{ticket_number}", number)


async def _press(
    make_tracker: Callable[..., Tracker], domain: dict[str, Any], value: str | None, *, text: str | None = None,
    sender: str = SENDER,
) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    """The customer presses a survey button carrying ``value`` (or types ``text``); the action runs."""
    entities = [] if value is None else [{"entity": "survey_answer", "value": value}]
    typed = text if text is not None else f'/inform{{"survey_answer":"{value}"}}'
    tracker = make_tracker([user_event(typed, "inform", entities=entities)], sender_id=sender)
    dispatcher = CollectingDispatcher()
    events = await ActionSurveyAnswer().run(dispatcher, tracker, domain)
    return dispatcher, events


def _state(rt: Runtime, number: str) -> tuple[str, str, str]:
    ticket = rt.store.get(number)
    return ticket.status, ticket.priority, rt.followups.for_ticket(number).state


async def test_a_rating_of_2_reopens_the_ticket_one_step_higher_and_puts_it_in_front_of_a_person(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    dispatcher, events = await _press(make_tracker, domain, f"{surveyed}:rating:2")

    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_reopened", surveyed)]
    assert events == [SlotSet("survey_step", "done")]
    assert _state(action_runtime, surveyed) == ("escalated", "P2", "answered")
    history = [e.detail for e in action_runtime.store.events(surveyed) if e.kind == "status"][-2:]
    assert [(h["from"], h["to"], h["actor"]) for h in history] == [("resolved", "reopened", "customer"), ("reopened", "escalated", "bot")]
    assert history[0]["priority_raised_from"] == "P3"
    answer = action_runtime.followups.answer(f"followup:{surveyed}:72h")
    assert (answer.rating, answer.solved, answer.comment) == (2, None, None)


async def test_a_rating_of_5_asks_whether_it_was_solved_and_yes_closes_the_ticket(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    dispatcher, events = await _press(make_tracker, domain, f"{surveyed}:rating:5")
    assert events == [SlotSet("survey_step", "asked")]  # a typed yes or no now goes to the survey
    [question] = dispatcher.messages
    assert question["text"] == _text(domain, "utter_survey_solved")
    assert [(b["title"], b["payload"]) for b in question["buttons"]] == [
        ("Yes, it was", payload(surveyed, "solved", "yes")), ("No, it wasn't", payload(surveyed, "solved", "no")),
    ]
    assert _state(action_runtime, surveyed) == ("resolved", "P3", "answered")

    dispatcher, events = await _press(make_tracker, domain, f"{surveyed}:solved:yes")
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_thanks", surveyed)]
    assert events == [SlotSet("survey_step", "done")]
    assert _state(action_runtime, surveyed) == ("closed", "P3", "answered")
    answer = action_runtime.followups.answer(f"followup:{surveyed}:72h")
    assert (answer.rating, answer.solved) == (5, True)


async def test_a_4_that_was_not_really_solved_reopens_the_ticket(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await _press(make_tracker, domain, f"{surveyed}:rating:4")
    dispatcher, _ = await _press(make_tracker, domain, f"{surveyed}:solved:no")
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_reopened", surveyed)]
    assert _state(action_runtime, surveyed) == ("escalated", "P2", "answered")


async def test_a_3_asks_what_would_have_made_it_better_and_records_the_comment(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await _press(make_tracker, domain, f"{surveyed}:rating:3")
    dispatcher, events = await _press(make_tracker, domain, f"{surveyed}:solved:yes")
    assert dispatcher.messages == []  # the comment form asks its question
    assert events == [SlotSet("survey_step", "comment"), FollowupAction("survey_comment_form")]
    assert _state(action_runtime, surveyed) == ("closed", "P3", "answered")

    tracker = make_tracker([user_event("A call back would have been quicker.", "inform")], sender_id=SENDER,
                           slots={"survey_comment": "A call back would have been quicker."})
    dispatcher = CollectingDispatcher()
    events = await ActionSurveyComment().run(dispatcher, tracker, domain)
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_comment_thanks")]
    assert events == [SlotSet("survey_comment", None), SlotSet("survey_step", "done")]
    answer = action_runtime.followups.answer(f"followup:{surveyed}:72h")
    assert (answer.rating, answer.solved, answer.comment) == (3, True, "A call back would have been quicker.")


@pytest.mark.parametrize("answer", ["7", "meh", "0", ""])
async def test_a_rating_that_is_not_1_to_5_gets_a_clear_reply_and_changes_nothing(
    answer: str, surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    dispatcher, _ = await _press(make_tracker, domain, f"{surveyed}:rating:{answer}")
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_bad_answer")]
    assert _state(action_runtime, surveyed) == ("resolved", "P3", "sent")
    assert action_runtime.followups.answer(f"followup:{surveyed}:72h") is None


@pytest.mark.parametrize(("typed", "reply", "state"), [
    ("7", "utter_survey_bad_answer", "sent"),
    ("meh", "utter_survey_bad_answer", "sent"),
    ("4", "utter_survey_solved", "answered"),
])
async def test_an_answer_typed_while_the_survey_is_open_is_read_as_the_rating(
    typed: str, reply: str, state: str, surveyed: str, action_runtime: Runtime,
    make_tracker: Callable[..., Tracker], domain: dict[str, Any],
) -> None:
    dispatcher, _ = await _press(make_tracker, domain, None, text=typed)
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, reply)]
    assert _state(action_runtime, surveyed) == ("resolved", "P3", state)


async def test_a_solved_answer_that_is_not_yes_or_no_asks_again(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await _press(make_tracker, domain, f"{surveyed}:rating:4")
    dispatcher, _ = await _press(make_tracker, domain, None, text="kind of")
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_bad_solved")]
    assert len(dispatcher.messages[0]["buttons"]) == 2
    assert action_runtime.followups.answer(f"followup:{surveyed}:72h").solved is None


async def test_a_survey_answered_twice_keeps_the_first_answer(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await _press(make_tracker, domain, f"{surveyed}:rating:5")
    await _press(make_tracker, domain, f"{surveyed}:solved:yes")
    for value in (f"{surveyed}:rating:1", f"{surveyed}:solved:no"):
        dispatcher, _ = await _press(make_tracker, domain, value)
        assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_already_answered", surveyed)]
    assert _state(action_runtime, surveyed) == ("closed", "P3", "answered")
    answer = action_runtime.followups.answer(f"followup:{surveyed}:72h")
    assert (answer.rating, answer.solved) == (5, True)


@pytest.mark.parametrize("value", ["{number}:rating:1", "CX-AAAAAA:rating:1", "not a survey value"])
async def test_an_answer_about_a_ticket_whose_survey_went_elsewhere_changes_nothing(
    value: str, surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    dispatcher, _ = await _press(make_tracker, domain, value.format(number=surveyed), sender="web:someone-else")
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_not_yours")]
    assert _state(action_runtime, surveyed) == ("resolved", "P3", "sent")
    assert action_runtime.followups.answer(f"followup:{surveyed}:72h") is None


async def test_an_answer_to_a_survey_that_is_no_longer_open_changes_nothing(
    action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    assert action_runtime.ensure_schema()
    ticket = file_ticket(action_runtime.store, RESOLVED, sender_id=SENDER)
    resolve(action_runtime.store, ticket.number, RESOLVED)
    key = f"followup:{ticket.number}:72h"
    now = datetime.now(timezone.utc)
    for step, due in (("survey", now - timedelta(hours=8)), ("reminder", now - timedelta(hours=4)), ("unanswered", None)):
        assert [f.key for f in action_runtime.followups.claim_due(now, limit=10, lease=timedelta(minutes=1))] == [key]
        action_runtime.followups.advance([key], step, now, due)

    dispatcher, _ = await _press(make_tracker, domain, f"{ticket.number}:rating:4")
    assert [m["text"] for m in dispatcher.messages] == [_text(domain, "utter_survey_not_open", ticket.number)]
    assert _state(action_runtime, ticket.number) == ("resolved", "P3", "unanswered")
