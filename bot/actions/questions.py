"""Questions that are yes/no in form: after a bare "yes", ask for the value itself."""

from __future__ import annotations

from abc import ABC, abstractmethod

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class _AskValueAfterYes(Action, ABC):
    """Ask ``utter_ask_<slot>``, or ``utter_ask_value_<slot>`` right after a "yes"."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The form slot this action asks for."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        said_yes = intent == "affirm" and tracker.get_slot("requested_slot") == self.slot
        dispatcher.utter_message(response=f"utter_ask_value_{self.slot}" if said_yes else f"utter_ask_{self.slot}")
        return []


class ActionAskOrderRef(_AskValueAfterYes):
    """Ask for the order or reference number."""

    slot = "order_ref"


class ActionAskPeopleInvolved(_AskValueAfterYes):
    """Ask who else was involved."""

    slot = "people_involved"
