"""The slots one complaint's intake fills, cleared between complaints."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

INTAKE_SLOTS = (
    "customer_name", "complaint_product", "problem_description", "incident_date", "incident_location",
    "order_ref", "people_involved", "impact", "desired_outcome", "desired_outcome_kind", "contact",
    "contact_kind", "chosen_option", "complaint_confirmed", "complaint_category", "category_confidence",
    "mood", "offered_options", "asked_slots", "ask_counts", "unparsed_slots",
)


def reset_intake(tracker: Tracker) -> list[EventType]:
    """Clear the intake, so a new complaint never inherits an earlier one's details.

    Only filled slots are cleared: every event is stored and re-read on each message.
    """
    return [SlotSet(slot, None) for slot in INTAKE_SLOTS if tracker.get_slot(slot) is not None]
