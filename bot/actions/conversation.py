"""Leaving the happy path: stopping, asking for a person, not being understood."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.callbacks import offer_callback_out_of_hours
from bot.actions.runtime import runtime
from bot.actions.slots import reset_intake
from bot.actions.survey import typed_number_outside_the_survey
from bot.actions.tickets import file_from_tracker, timeline
from bot.transcript import intake_messages
from bot.triage import UNPLACED_INTENTS, complaint_category

FALLBACK_INTENT = "nlu_fallback"


class ActionStopComplaint(Action):
    """Stop the intake on request, keeping what was said as a withdrawn ticket."""

    def name(self) -> str:
        return "action_stop_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if intake_messages(tracker.events):
            await file_from_tracker(tracker, "withdrawn")
        dispatcher.utter_message(response="utter_stop_complaint")
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + reset_intake(tracker)


class ActionRequestHuman(Action):
    """Hand the case to people: file what we have, escalated, and say when they will call."""

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime()
        filing = await file_from_tracker(tracker, "escalated")
        dispatcher.utter_message(
            response="utter_handoff_spooled" if filing.spooled else "utter_handoff_requested",
            ticket_number=filing.number,
            **timeline(filing.draft, filing.opened, rt),
        )
        callback = [] if filing.spooled else offer_callback_out_of_hours(dispatcher, filing.number)
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + reset_intake(tracker) + [
            SlotSet("ticket_number", filing.number)
        ] + callback


class ActionClarifyFallback(Action):
    """Ask a clarifying question; on the second miss in a row, offer a person.

    A long message the classifier was unsure of is treated as a complaint, so an upset
    customer who writes a paragraph is listened to rather than asked to rephrase. A lone
    number typed soon after this conversation's survey is answered as about the survey.
    """

    def name(self) -> str:
        return "action_clarify_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        survey = await typed_number_outside_the_survey(dispatcher, tracker, domain)
        if survey is not None:
            return survey
        message = tracker.latest_message or {}
        intent = message.get("intent") or {}
        text = message.get("text") or ""
        name = intent.get("name") or FALLBACK_INTENT
        if complaint_category(name, float(intent.get("confidence") or 0.0), text, runtime().config.triage):
            return [FollowupAction("action_acknowledge_complaint")]
        if self._misses_in_a_row(tracker) >= 2:
            dispatcher.utter_message(response="utter_offer_human")
        else:
            dispatcher.utter_message(response="utter_clarify")
        return []

    @staticmethod
    def _misses_in_a_row(tracker: Tracker) -> int:
        misses = 0
        for event in reversed(tracker.events):
            if event.get("event") != "user":
                continue
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent not in UNPLACED_INTENTS:
                break
            misses += 1
        return misses
