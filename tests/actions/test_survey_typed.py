"""Typed survey answers: action_survey_answer reached by the typed-answer rules (any intent while
``survey_step`` is "asked") and the fallback's check for a lone number, against real trackers, a
CollectingDispatcher and the runtime's real SQLite store (tickets and follow-ups)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.conversation import ActionClarifyFallback
from bot.actions.runtime import Runtime
from bot.actions.survey import ActionSurveyAnswer
from bot.followup.messages import payload
from tests.actions.events import user_event
from tests.followup.support import file_ticket, resolve

SENDER = "web:session-typed"
RESOLVED = datetime.now(timezone.utc) - timedelta(hours=80)
RATING_BUTTONS = ["1", "2", "3", "4", "5"]


def send_survey(rt: Runtime, sender_id: str) -> str:
    """A ticket resolved 80 h ago whose survey went to ``sender_id`` (sent now); its number."""
    assert rt.ensure_schema()
    ticket = file_ticket(rt.store, RESOLVED, sender_id=sender_id)
    resolve(rt.store, ticket.number, RESOLVED)
    key = f"followup:{ticket.number}:72h"
    now = datetime.now(timezone.utc)
    assert key in [f.key for f in rt.followups.claim_due(now, limit=10, lease=timedelta(minutes=1))]
    rt.followups.advance([key], "survey", now, now + timedelta(hours=24))
    return ticket.number


@pytest.fixture
def surveyed(action_runtime: Runtime) -> str:
    return send_survey(action_runtime, SENDER)


def text_of(domain: dict[str, Any], name: str, number: str = "") -> str:
    return domain["responses"][name][0]["text"].replace("{ticket_number}", number)


async def typed(
    make_tracker: Callable[..., Tracker], domain: dict[str, Any], text: str, intent: str = "inform", *,
    confidence: float = 0.9, counts: dict[str, int] | None = None, sender: str = SENDER,
) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    """The customer types ``text`` (classified as ``intent``) while the survey waits; the action runs."""
    tracker = make_tracker([user_event(text, intent, confidence)], {"survey_step": "asked", "ask_counts": counts or {}},
                           sender_id=sender)
    dispatcher = CollectingDispatcher()
    return dispatcher, await ActionSurveyAnswer().run(dispatcher, tracker, domain)


def recorded(rt: Runtime, number: str) -> tuple[Any, ...]:
    """The ticket's status and priority, the follow-up's state and the answer's parts."""
    answer = rt.followups.answer(f"followup:{number}:72h")
    parts = (None, None, None) if answer is None else (answer.rating, answer.solved, answer.comment)
    return (rt.store.get(number).status, rt.store.get(number).priority, rt.followups.for_ticket(number).state, *parts)


@pytest.mark.parametrize(("text", "intent", "rating"), [
    ("4 out of 5", "inform", 4),
    ("five", "choose_option", 5),
    ("it was ok, 3", "affirm", 3),
])
async def test_a_typed_rating_of_3_to_5_is_recorded_and_asks_whether_it_was_solved(
    text: str, intent: str, rating: int, surveyed: str, action_runtime: Runtime,
    make_tracker: Callable[..., Tracker], domain: dict[str, Any],
) -> None:
    dispatcher, events = await typed(make_tracker, domain, text, intent)
    [question] = dispatcher.messages
    assert question["text"] == text_of(domain, "utter_survey_solved")
    assert [(b["title"], b["payload"]) for b in question["buttons"]] == [
        ("Yes, it was", payload(surveyed, "solved", "yes")), ("No, it wasn't", payload(surveyed, "solved", "no")),
    ]
    assert events == [SlotSet("survey_step", "asked")]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "answered", rating, None, None)


async def test_a_typed_2_reopens_the_ticket_one_step_higher_and_ends_the_survey(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    dispatcher, events = await typed(make_tracker, domain, "2", "choose_option")
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_reopened", surveyed)]
    assert events == [SlotSet("survey_step", "done")]
    assert recorded(action_runtime, surveyed) == ("escalated", "P2", "answered", 2, None, None)


async def test_no_it_is_still_broken_typed_to_was_it_solved_reopens_the_ticket(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await typed(make_tracker, domain, "4")
    dispatcher, events = await typed(make_tracker, domain, "no, it is still broken", "complain_product")
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_reopened", surveyed)]
    assert events == [SlotSet("survey_step", "done")]
    assert recorded(action_runtime, surveyed) == ("escalated", "P2", "answered", 4, False, None)


async def test_yes_thanks_typed_to_was_it_solved_closes_the_ticket(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await typed(make_tracker, domain, "5 stars")
    dispatcher, events = await typed(make_tracker, domain, "yes thanks", "thank")
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_thanks", surveyed)]
    assert events == [SlotSet("survey_step", "done")]
    assert recorded(action_runtime, surveyed) == ("closed", "P3", "answered", 5, True, None)


async def test_a_typed_3_then_yes_opens_the_comment_form(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await typed(make_tracker, domain, "3")
    dispatcher, events = await typed(make_tracker, domain, "yep all sorted", "affirm")
    assert dispatcher.messages == []
    assert events == [SlotSet("survey_step", "comment"), FollowupAction("survey_comment_form")]
    assert recorded(action_runtime, surveyed) == ("closed", "P3", "answered", 3, True, None)


@pytest.mark.parametrize(("text", "intent"), [("7", "choose_option"), ("meh", "nlu_fallback"), ("0", "inform")])
async def test_a_rating_that_is_not_1_to_5_is_asked_again_with_the_buttons_and_changes_nothing(
    text: str, intent: str, surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker],
    domain: dict[str, Any],
) -> None:
    dispatcher, events = await typed(make_tracker, domain, text, intent)
    [again] = dispatcher.messages
    assert again["text"] == text_of(domain, "utter_survey_bad_answer")
    assert [(b["title"], b["payload"]) for b in again["buttons"]] == [
        (value, payload(surveyed, "rating", value)) for value in RATING_BUTTONS
    ]
    assert events == [SlotSet("survey_step", "asked"), SlotSet("ask_counts", {"survey_answer": 1})]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "sent", None, None, None)


async def test_a_second_miss_leaves_the_survey_to_its_buttons_without_asking_a_third_time(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    dispatcher, events = await typed(make_tracker, domain, "dunno really", "dont_know", counts={"survey_answer": 1})
    assert [(m["response"], m["ticket_number"]) for m in dispatcher.messages] == [("utter_survey_left_open", surveyed)]
    assert events == [SlotSet("survey_step", "done"), SlotSet("ask_counts", {})]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "sent", None, None, None)


async def test_an_unclear_yes_or_no_is_asked_again_with_its_buttons(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await typed(make_tracker, domain, "4")
    dispatcher, events = await typed(make_tracker, domain, "yes but it broke again", "affirm")
    [again] = dispatcher.messages
    assert again["text"] == text_of(domain, "utter_survey_bad_solved")
    assert [b["payload"] for b in again["buttons"]] == [payload(surveyed, "solved", "yes"), payload(surveyed, "solved", "no")]
    assert events == [SlotSet("survey_step", "asked"), SlotSet("ask_counts", {"survey_answer": 1})]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "answered", 4, None, None)


async def test_a_rating_typed_again_where_yes_or_no_is_asked_keeps_the_first(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await typed(make_tracker, domain, "4")
    dispatcher, events = await typed(make_tracker, domain, "1", "choose_option")
    [again] = dispatcher.messages
    assert again["text"] == text_of(domain, "utter_survey_rating_given", surveyed)
    assert [b["title"] for b in again["buttons"]] == ["Yes, it was", "No, it wasn't"]
    assert events == [SlotSet("survey_step", "asked")]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "answered", 4, None, None)


async def test_a_survey_answered_twice_in_words_keeps_the_first_answer(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    await typed(make_tracker, domain, "5")
    await typed(make_tracker, domain, "yes")
    dispatcher = CollectingDispatcher()  # the survey is over (survey_step "done"): "1" reaches the fallback
    tracker = make_tracker([user_event("1", "choose_option", 0.6)], {"survey_step": "done"}, sender_id=SENDER)
    events = await ActionClarifyFallback().run(dispatcher, tracker, domain)
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_already_answered", surveyed)]
    assert events == [SlotSet("survey_step", "done")]
    assert recorded(action_runtime, surveyed) == ("closed", "P3", "answered", 5, True, None)


async def test_a_number_typed_before_the_chat_knew_the_survey_waits_still_answers_it(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker([user_event("4", "choose_option", 0.6)], sender_id=SENDER)  # no survey_step yet
    events = await ActionClarifyFallback().run(dispatcher, tracker, domain)
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_solved")]
    assert events == [SlotSet("survey_step", "asked")]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "answered", 4, None, None)


async def test_a_lone_number_with_no_survey_is_clarified_as_before(
    action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    assert action_runtime.ensure_schema()
    dispatcher = CollectingDispatcher()
    events = await ActionClarifyFallback().run(dispatcher, make_tracker([user_event("4", "choose_option", 0.6)],
                                                                         sender_id=SENDER), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_clarify"]
    assert events == []


async def test_an_answer_when_no_survey_waits_says_so_and_records_nothing(
    action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    assert action_runtime.ensure_schema()
    dispatcher, events = await typed(make_tracker, domain, "4")
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_none_pending")]
    assert events == [SlotSet("survey_step", "done")]


async def test_an_answer_naming_a_ticket_surveyed_in_another_conversation_changes_nothing(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    theirs = send_survey(action_runtime, "web:someone-else")
    dispatcher, events = await typed(make_tracker, domain, f"{theirs} 1")
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_not_yours")]
    assert events == [SlotSet("survey_step", "asked")]  # this conversation's own survey still waits
    assert recorded(action_runtime, theirs) == ("resolved", "P3", "sent", None, None, None)
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "sent", None, None, None)

    dispatcher, _ = await typed(make_tracker, domain, f"{surveyed.lower()}: 5")  # its own number, as typed
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_solved")]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "answered", 5, None, None)


async def test_an_answer_to_a_survey_no_longer_open_changes_nothing(
    action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    number = send_survey(action_runtime, SENDER)
    key = f"followup:{number}:72h"
    now = datetime.now(timezone.utc)
    for step, due in (("reminder", now), ("unanswered", None)):
        claimed = action_runtime.followups.claim_due(now + timedelta(days=3), limit=10, lease=timedelta(minutes=1))
        assert key in [f.key for f in claimed]
        action_runtime.followups.advance([key], step, now, due)
    dispatcher, events = await typed(make_tracker, domain, "4")
    assert [m["text"] for m in dispatcher.messages] == [text_of(domain, "utter_survey_not_open", number)]
    assert events == [SlotSet("survey_step", "done")]
    assert recorded(action_runtime, number) == ("resolved", "P3", "unanswered", None, None, None)


async def test_a_new_complaint_told_while_the_survey_waits_is_heard_as_a_complaint(
    surveyed: str, action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    text = "my new fridge from you arrived with a dented door and the freezer does not get cold at all"
    dispatcher, events = await typed(make_tracker, domain, text, "complain_product", confidence=0.8)
    assert dispatcher.messages == []
    assert events == [SlotSet("survey_step", "done"), FollowupAction("action_acknowledge_complaint")]
    assert recorded(action_runtime, surveyed) == ("resolved", "P3", "sent", None, None, None)
