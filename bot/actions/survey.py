"""The chat side of the satisfaction survey: a survey button pressed, the comment after a 3.

Buttons carry ``/inform{"survey_answer": "<ticket>:<question>:<answer>"}`` (see
:mod:`bot.followup.messages`), so data/rules.yml routes them here without NLU training;
what an answer does is decided in :mod:`bot.followup.answers`. ``survey_step`` tells the
rules whether to open the comment form ("comment") or to listen ("done").
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import OperationalError

from bot.actions.runtime import runtime
from bot.errors import TicketStoreUnavailable
from bot.followup.answers import Reply, SurveyAnswers
from bot.followup.messages import SURVEY_ENTITY, parse_value, question_message
from bot.outbound.store import utcnow

STEP_SLOT = "survey_step"
COMMENT_SLOT = "survey_comment"


def _answers() -> SurveyAnswers:
    rt = runtime()
    rt.ensure_schema()
    return SurveyAnswers(rt.followups, rt.store, utcnow)


def _say(dispatcher: CollectingDispatcher, domain: DomainDict, reply: Reply) -> None:
    """Utter the reply's response from the domain; the solved question with its yes/no buttons."""
    if reply.ask == "comment":
        return  # the comment form asks (utter_ask_survey_comment)
    responses = domain.get("responses", {})
    text, buttons = question_message(
        responses, reply.response, ticket_number=reply.ticket_number or "", question="solved",
        buttons=reply.ask == "solved",
    )
    dispatcher.utter_message(text=text, buttons=[{"title": b.title, "payload": b.payload} for b in buttons])


class ActionSurveyAnswer(Action):
    """A survey button (or an answer typed while the survey is open) is applied and answered."""

    def name(self) -> str:
        return "action_survey_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        entity = next(
            (e.get("value") for e in tracker.latest_message.get("entities") or [] if e.get("entity") == SURVEY_ENTITY),
            None,
        )
        value = parse_value(str(entity)) if entity is not None else None
        try:
            if entity is not None and value is None:
                reply = Reply("utter_survey_not_yours")
            else:
                text = tracker.latest_message.get("text") or ""
                reply = await asyncio.to_thread(_answers().answer, tracker.sender_id, value, text)
        except (TicketStoreUnavailable, OperationalError):  # the store is down: nothing was changed
            dispatcher.utter_message(response="utter_technical_difficulty")
            return [SlotSet(STEP_SLOT, "done")]
        _say(dispatcher, domain, reply)
        return [SlotSet(STEP_SLOT, "comment" if reply.ask == "comment" else "done")]


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
        return [SlotSet(COMMENT_SLOT, None), SlotSet(STEP_SLOT, "done")]
