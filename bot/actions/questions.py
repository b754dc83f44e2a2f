"""Ask for the next detail, together with the related ones still missing, and count the asks.

"May I have your name, and an email or phone number to reach you on?" is one question,
answered in one line; the count lets the form stop asking a question after its last
allowed ask (``settings/dialogue.yml``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.runtime import runtime
from bot.dialogue import counted, not_worth_asking, question_response, question_slots
from bot.domain_config import ASKED_SLOTS

VALUE_AFTER_YES = frozenset({"order_ref", "people_involved"})
"""Questions that are yes/no in form: after a bare "yes", ask for the value itself."""


def record_ask(tracker: Tracker, slots: tuple[str, ...]) -> list[EventType]:
    """The events that remember which details a question asked for, and how often."""
    counts = counted(tracker.get_slot("ask_counts") or {}, slots)
    return [SlotSet("asked_slots", list(slots)), SlotSet("ask_counts", counts)]


class _AskQuestion(Action, ABC):
    """Ask for ``slot`` and the other details of its group that are still missing."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The form slot this action asks for first."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        policy = runtime().config.dialogue
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if self.slot in VALUE_AFTER_YES and intent == "affirm" and tracker.get_slot("requested_slot") == self.slot:
            dispatcher.utter_message(response=f"utter_ask_value_{self.slot}")
            return record_ask(tracker, (self.slot,))
        skipped = not_worth_asking(tracker.slots, policy)
        missing = {slot for slot in ASKED_SLOTS if tracker.get_slot(slot) is None and slot not in skipped}
        slots = question_slots(self.slot, missing, policy)
        dispatcher.utter_message(response=question_response(slots, policy))
        return record_ask(tracker, slots)


def _ask_action(slot: str, what: str) -> type[_AskQuestion]:
    """The ask action of one form slot (Rasa finds it by its name, ``action_ask_<slot>``)."""
    name = "ActionAsk" + slot.title().replace("_", "")
    return type(name, (_AskQuestion,), {"slot": slot, "__doc__": f"Ask for {what}.", "__module__": __name__})


ActionAskCustomerName = _ask_action("customer_name", "the customer's name")
ActionAskContact = _ask_action("contact", "a way to reach the customer")
ActionAskComplaintProduct = _ask_action("complaint_product", "the product or service")
ActionAskProblemDescription = _ask_action("problem_description", "what went wrong")
ActionAskIncidentDate = _ask_action("incident_date", "when it happened")
ActionAskIncidentLocation = _ask_action("incident_location", "where it happened")
ActionAskOrderRef = _ask_action("order_ref", "the order or reference number")
ActionAskImpact = _ask_action("impact", "how it affected the customer")
ActionAskPeopleInvolved = _ask_action("people_involved", "who else was involved")
