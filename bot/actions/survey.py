"""The chat side of the satisfaction survey: an answer tapped or typed, the comment after a 3.

Buttons carry ``/inform{"survey_answer": "<ticket>:<question>:<answer>"}`` (see
:mod:`bot.followup.messages`), so data/rules.yml routes them by the entity.

A typed answer is routed by the survey's state, not by its intent. The survey message
opens its question in the conversation (it is appended to the transcript with
``survey_step: asked``, :func:`bot.followup.messages.step_message`), and while the slot
says "asked", data/rules.yml sends every message whatever its intent here, except the
few that ask for something else (a person, a ticket's status, stop, "are you a bot?").
Intent classification is the weak link on these texts: "5" and "four out of five" look
like option choices, "no, it is still broken" like a new complaint, "yes thanks" like a
thank-you; the question being waited for is not in doubt. What the words say is read in
:mod:`bot.followup.reading` and applied in :mod:`bot.followup.answers`.

So that a waiting survey never traps the customer: words that answer nothing are asked
about once more, then the survey is left open for the buttons (a question is never asked
a third time); a complaint told at length is heard as a new complaint. A lone number
typed when the slot does not say "asked" (a second answer, or one typed before the
transcript caught up) reaches :func:`typed_number_outside_the_survey` from the fallback.
``survey_step`` also tells the rules whether to open the comment form ("comment") or to
listen ("done").
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import OperationalError

from bot.actions.intents import is_complaint
from bot.actions.runtime import runtime
from bot.errors import TicketStoreUnavailable
from bot.followup.answers import Reply, SurveyAnswers
from bot.followup.messages import ASKED, QUESTIONS, STEP_SLOT, SURVEY_ENTITY, parse_value, question_message
from bot.followup.reading import mentions_rating
from bot.outbound.store import utcnow

COMMENT_SLOT = "survey_comment"
DONE, COMMENT = "done", "comment"
COUNTS_SLOT = "ask_counts"
MISSES_KEY = "survey_answer"
MAX_MISSES = 2
"""Typed messages that answer nothing before the survey is left to its buttons."""
COMPLAINT_MIN_WORDS = 6
COMPLAINT_MIN_CONFIDENCE = 0.5
"""A message that answers nothing and reads as a complaint this surely, at this length, is a new complaint."""


def _answers() -> SurveyAnswers:
    rt = runtime()
    rt.ensure_schema()
    return SurveyAnswers(rt.followups, rt.store, utcnow)


def _step(reply: Reply) -> str:
    if reply.ask == COMMENT:
        return COMMENT
    return ASKED if reply.ask in QUESTIONS else DONE


def _say(dispatcher: CollectingDispatcher, domain: DomainDict, reply: Reply) -> None:
    """Utter the reply's response from the domain; a question still open keeps its buttons."""
    if reply.ask == COMMENT:
        return  # the comment form asks (utter_ask_survey_comment)
    responses = domain.get("responses", {})
    question = reply.ask if reply.ask in QUESTIONS else "solved"
    text, buttons = question_message(
        responses, reply.response, ticket_number=reply.ticket_number or "", question=question,
        buttons=reply.ask in QUESTIONS,
    )
    dispatcher.utter_message(text=text, buttons=[{"title": b.title, "payload": b.payload} for b in buttons])


def _misses(tracker: Tracker) -> int:
    return int((tracker.get_slot(COUNTS_SLOT) or {}).get(MISSES_KEY) or 0)


def _count_misses(tracker: Tracker, misses: int) -> list[EventType]:
    """The survey's count of typed misses set to ``misses`` in ``ask_counts``; nothing if unchanged."""
    if misses == _misses(tracker):
        return []
    counts = {key: value for key, value in (tracker.get_slot(COUNTS_SLOT) or {}).items() if key != MISSES_KEY}
    return [SlotSet(COUNTS_SLOT, {**counts, MISSES_KEY: misses} if misses else counts)]


def _reply_events(dispatcher: CollectingDispatcher, domain: DomainDict, reply: Reply) -> list[EventType]:
    _say(dispatcher, domain, reply)
    step = _step(reply)
    return [SlotSet(STEP_SLOT, step)] + ([FollowupAction("survey_comment_form")] if step == COMMENT else [])


def _tells_a_complaint(message: dict[str, Any]) -> bool:
    intent = message.get("intent") or {}
    return (
        is_complaint(intent.get("name"))
        and float(intent.get("confidence") or 0.0) >= COMPLAINT_MIN_CONFIDENCE
        and len((message.get("text") or "").split()) >= COMPLAINT_MIN_WORDS
    )


class ActionSurveyAnswer(Action):
    """A survey button, or a message typed while the survey waits for an answer, is applied and answered."""

    def name(self) -> str:
        return "action_survey_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        entity = next(
            (e.get("value") for e in message.get("entities") or [] if e.get("entity") == SURVEY_ENTITY), None
        )
        value = parse_value(str(entity)) if entity is not None else None
        try:
            if entity is not None and value is None:
                reply = Reply("utter_survey_not_yours")
            else:
                text = message.get("text") or ""
                reply = await asyncio.to_thread(_answers().answer, tracker.sender_id, value, text)
        except (TicketStoreUnavailable, OperationalError):  # the store is down: nothing was changed
            dispatcher.utter_message(response="utter_technical_difficulty")
            return [SlotSet(STEP_SLOT, DONE)]
        if entity is None and not reply.understood:
            return self._missed(dispatcher, tracker, domain, reply)
        return _reply_events(dispatcher, domain, reply) + _count_misses(tracker, 0)

    @staticmethod
    def _missed(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, reply: Reply
    ) -> list[EventType]:
        """Typed words that answer nothing: heard as a new complaint; else, with a question waiting,
        asked once more or (the second time) the survey is left to its buttons; with none, told so."""
        if _tells_a_complaint(tracker.latest_message or {}):
            return [SlotSet(STEP_SLOT, DONE), *_count_misses(tracker, 0), FollowupAction("action_acknowledge_complaint")]
        if reply.ask is None:
            return _reply_events(dispatcher, domain, reply) + _count_misses(tracker, 0)
        misses = _misses(tracker) + 1
        if misses >= MAX_MISSES:
            dispatcher.utter_message(response="utter_survey_left_open", ticket_number=reply.ticket_number or "")
            return [SlotSet(STEP_SLOT, DONE), *_count_misses(tracker, 0)]
        return _reply_events(dispatcher, domain, reply) + _count_misses(tracker, misses)


async def typed_number_outside_the_survey(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
) -> list[EventType] | None:
    """A lone number typed after this conversation's survey (a second answer, say): answered as
    about the survey. None when the message is not that, and the caller carries on as before."""
    text = (tracker.latest_message or {}).get("text") or ""
    if not mentions_rating(text):
        return None
    try:
        answers = _answers()
        if not await asyncio.to_thread(answers.awaits_typed_number, tracker.sender_id, text, utcnow()):
            return None
        reply = await asyncio.to_thread(answers.typed, tracker.sender_id, text)
    except (TicketStoreUnavailable, OperationalError):
        return None
    return _reply_events(dispatcher, domain, reply)


class ActionSurveyComment(Action):
    """The comment form is filled: record what would have made it better, thank, clear the slots."""

    def name(self) -> str:
        return "action_survey_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        comment: Any = tracker.get_slot(COMMENT_SLOT) or ""
        try:
            reply = await asyncio.to_thread(_answers().comment, tracker.sender_id, str(comment))
        except (TicketStoreUnavailable, OperationalError):  # the store is down: nothing was changed
            dispatcher.utter_message(response="utter_technical_difficulty")
        else:
            _say(dispatcher, domain, reply)
        return [SlotSet(COMMENT_SLOT, None), SlotSet(STEP_SLOT, DONE)]
