"""Answer "why do you need that?" for whichever detail is being asked."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class ActionExplainRequestedSlot(Action):
    """Explain the purpose of the requested detail; the form then asks it again."""

    def name(self) -> str:
        return "action_explain_requested_slot"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot("requested_slot")
        name = f"utter_why_{requested}"
        dispatcher.utter_message(response=name if name in domain.get("responses", {}) else "utter_why_generic")
        return []
