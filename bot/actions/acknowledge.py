"""Listen and empathize: the first reply to a complaint, before any question."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.handoff_checks import hand_off, message_triggers
from bot.actions.responses import fresh_text
from bot.actions.runtime import runtime
from bot.actions.slots import reset_intake
from bot.triage import categorize, mood_for, score_emotion

FORM_NAME = "complaint_form"


class ActionAcknowledgeComplaint(Action):
    """Acknowledge at once, in words that fit the category and the customer's mood.

    It then hands over to the complaint form, also when it was reached from the fallback
    (a long message the classifier could not place), where no rule follows; or to a person
    straight away when the opening meets a hand-off rule ("it caught fire", "I'll sue").
    """

    def name(self) -> str:
        return "action_acknowledge_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        config = runtime().config.triage
        message: dict[str, Any] = tracker.latest_message or {}
        text = message.get("text") or ""
        intent = message.get("intent") or {}
        guess = categorize(intent.get("name"), float(intent.get("confidence") or 0.0), text, config)
        mood = mood_for(text, score_emotion(text, config), config)
        if tracker.active_loop_name == FORM_NAME:
            return self._acknowledge_more(dispatcher, tracker, domain, guess.category, guess.confidence, mood)
        opening = fresh_text(domain, f"utter_empathy_{mood}", tracker)
        ownership = fresh_text(domain, f"utter_ack_{guess.category}", tracker)
        dispatcher.utter_message(text=f"{opening} {ownership}")
        triggers = message_triggers(tracker)
        return reset_intake(tracker) + [
            SlotSet("complaint_category", guess.category),
            SlotSet("category_confidence", guess.confidence),
            SlotSet("mood", mood),
        ] + (hand_off(triggers) if triggers else [FollowupAction(FORM_NAME)])

    @staticmethod
    def _acknowledge_more(
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        category: str,
        confidence: float,
        mood: str,
    ) -> list[EventType]:
        """The customer keeps talking mid-form: keep listening, sharpen the category."""
        if mood == "angry":
            dispatcher.utter_message(text=fresh_text(domain, "utter_empathy_followup_angry", tracker))
        events: list[EventType] = [SlotSet("mood", mood)]
        if tracker.get_slot("complaint_category") in (None, "other") and category != "other":
            events += [SlotSet("complaint_category", category), SlotSet("category_confidence", confidence)]
        return events
