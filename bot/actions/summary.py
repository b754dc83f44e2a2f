"""Read the complaint back before filing, so the ticket says what the customer meant."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.questions import record_ask
from bot.actions.resolution import option_label
from bot.actions.responses import response_text

SUMMARY_FIELDS = {
    "summary_name": "customer_name",
    "summary_product": "complaint_product",
    "summary_problem": "problem_description",
    "summary_date": "incident_date",
    "summary_location": "incident_location",
    "summary_order": "order_ref",
    "summary_people": "people_involved",
    "summary_impact": "impact",
    "summary_outcome": "desired_outcome",
    "summary_contact": "contact",
}
MISSING_VALUES = (None, "unknown", "none")
SUMMARY_TEXT_LIMIT = 160


def _shorten(value: str) -> str:
    """The read-back shows the start of a long answer; the ticket keeps all of it."""
    return value if len(value) <= SUMMARY_TEXT_LIMIT else value[: SUMMARY_TEXT_LIMIT - 1].rstrip() + "…"


class ActionAskComplaintConfirmed(Action):
    """Show the summary with Yes / Change buttons, or ask what to change after a no."""

    def name(self) -> str:
        return "action_ask_complaint_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        asked = record_ask(tracker, ("complaint_confirmed",))
        if intent == "deny":
            dispatcher.utter_message(response="utter_ask_what_to_change")
            return asked
        not_given = response_text(domain, "utter_value_not_given", tracker)
        values = {
            key: not_given if tracker.get_slot(slot) in MISSING_VALUES else _shorten(str(tracker.get_slot(slot)))
            for key, slot in SUMMARY_FIELDS.items()
        }
        option = tracker.get_slot("chosen_option")
        values["summary_option"] = option_label(domain, tracker, option) if option else not_given
        buttons = [
            {"title": response_text(domain, "utter_button_yes", tracker), "payload": "/affirm"},
            {"title": response_text(domain, "utter_button_change", tracker), "payload": "/deny"},
        ]
        dispatcher.utter_message(response="utter_complaint_summary", buttons=buttons, **values)
        return asked
