"""Leaving the happy path: stopping, not being understood."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.handoff_checks import hand_off, message_triggers
from bot.actions.runtime import runtime
from bot.actions.slots import reset_intake
from bot.actions.tickets import file_from_tracker
from bot.transcript import intake_messages
from bot.triage import complaint_category

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


class ActionClarifyFallback(Action):
    """Ask a clarifying question, unless the hand-off rules say a person should take over
    (misunderstood too often in a row, a threat, lasting anger).

    A long message the classifier was unsure of is treated as a complaint, so an upset
    customer who writes a paragraph is listened to rather than asked to rephrase.
    """

    def name(self) -> str:
        return "action_clarify_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        intent = message.get("intent") or {}
        text = message.get("text") or ""
        name = intent.get("name") or FALLBACK_INTENT
        if complaint_category(name, float(intent.get("confidence") or 0.0), text, runtime().config.triage):
            return [FollowupAction("action_acknowledge_complaint")]
        triggers = message_triggers(tracker, misunderstood=True)
        if triggers:
            return hand_off(triggers)
        dispatcher.utter_message(response="utter_clarify")
        return []
