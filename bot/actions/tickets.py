"""File: write the ticket, tell the customer its number and a truthful timeline."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.responses import response_text
from bot.actions.runtime import Runtime, runtime
from bot.errors import TicketStoreUnavailable
from bot.extraction import is_ticket_number
from bot.filing import build_draft
from bot.ticket_numbers import new_ticket_number
from bot.tickets import TicketDraft, TicketRecord

logger = logging.getLogger(__name__)

INTAKE_SLOTS = (
    "customer_name", "complaint_product", "problem_description", "incident_date", "incident_location",
    "order_ref", "people_involved", "impact", "desired_outcome", "desired_outcome_kind", "contact",
    "contact_kind", "chosen_option", "complaint_confirmed", "complaint_category", "category_confidence",
    "mood", "offered_options",
)


@dataclass(frozen=True)
class Filing:
    """What happened to a draft: stored, or kept in the spool until the store answers."""

    number: str
    spooled: bool
    draft: TicketDraft


def customer_time(moment: datetime, rt: Runtime) -> str:
    """A deadline as the customer reads it, in the service's timezone."""
    local = moment.astimezone(ZoneInfo(rt.settings.timezone))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def reset_intake() -> list[EventType]:
    """Clear the intake so a second complaint in the same chat starts afresh."""
    return [SlotSet(slot, None) for slot in INTAKE_SLOTS]


def _customer_type(rt: Runtime, channel: str, sender_id: str) -> str:
    if not rt.ensure_schema():
        return "unknown"
    try:
        return "returning" if rt.store.find_by_sender(channel, sender_id) else "new"
    except TicketStoreUnavailable:
        return "unknown"


def _store_or_spool(rt: Runtime, draft: TicketDraft, now: datetime) -> Filing:
    """Write the ticket; if the store stays down, keep it in the spool under a fixed number.

    Tickets spooled earlier are filed after this one succeeds, so a customer never
    waits for somebody else's retries.
    """
    try:
        if not rt.ensure_schema():
            raise TicketStoreUnavailable("the ticket store could not be migrated")
        record: TicketRecord = rt.store.create(draft, now)
    except TicketStoreUnavailable:
        number = new_ticket_number()
        rt.spool.put(draft, number, now)
        logger.error("ticket store unavailable; draft spooled", extra={"ticket_number": number})
        return Filing(number=number, spooled=True, draft=draft)
    if rt.spool.pending():
        try:
            rt.spool.replay(rt.store)
        except TicketStoreUnavailable:
            logger.warning("spool replay deferred: the ticket store stopped answering")
    return Filing(number=record.number, spooled=False, draft=draft)


async def file_from_tracker(tracker: Tracker, status: str) -> Filing:
    """Build the draft from the conversation and file it without blocking the event loop."""
    rt = runtime()
    channel = tracker.get_latest_input_channel() or "unknown"
    now = datetime.now(timezone.utc)
    customer_type = await asyncio.to_thread(_customer_type, rt, channel, tracker.sender_id)
    draft = build_draft(
        tracker.current_slot_values(),
        tracker.events,
        channel=channel,
        sender_id=tracker.sender_id,
        customer_type=customer_type,
        now=now,
        config=rt.config,
        status=status,
    )
    return await asyncio.to_thread(_store_or_spool, rt, draft, now)


def first_response_by(draft: TicketDraft, rt: Runtime) -> datetime:
    """When a person will have looked at the case: the analysis deadline, or the first
    substantive response the SLA allows if that comes sooner; never earlier than the SLA."""
    opened = draft.sla_classify_by - timedelta(hours=rt.config.sla.stage_hours(draft.priority).classify)
    return min(draft.sla_analyse_by, opened + timedelta(hours=rt.config.sla.first_response_within_h))


class ActionCreateTicket(Action):
    """File the confirmed complaint and give its number and timeline."""

    def name(self) -> str:
        return "action_create_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime()
        status = "escalated" if tracker.get_slot("chosen_option") == "human_agent" else "open"
        filing = await file_from_tracker(tracker, status)
        timeline = {
            "ticket_number": filing.number,
            "first_response_by": customer_time(first_response_by(filing.draft, rt), rt),
            "resolve_by": customer_time(filing.draft.sla_close_by, rt),
        }
        if filing.spooled:
            dispatcher.utter_message(response="utter_ticket_spooled", **timeline)
        else:
            dispatcher.utter_message(response="utter_ticket_filed", **timeline)
        if status == "escalated":
            dispatcher.utter_message(response="utter_ticket_filed_human", **timeline)
        dispatcher.utter_message(response="utter_anything_else")
        return reset_intake() + [SlotSet("ticket_number", filing.number)]


class ActionTicketStatus(Action):
    """Answer "what is the status of ticket X?" from the store."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime()
        text = (tracker.latest_message or {}).get("text") or ""
        number = is_ticket_number(text)
        try:
            if number:
                record = await asyncio.to_thread(rt.store.get, number)
            else:
                channel = tracker.get_latest_input_channel() or "unknown"
                mine = await asyncio.to_thread(rt.store.find_by_sender, channel, tracker.sender_id)
                record = max(mine, key=lambda r: r.created_at) if mine else None
        except TicketStoreUnavailable:
            dispatcher.utter_message(response="utter_technical_difficulty")
            return []
        if record is None:
            if number:
                dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
            else:
                dispatcher.utter_message(response="utter_ask_ticket_number")
            return []
        dispatcher.utter_message(
            response="utter_ticket_status",
            ticket_number=record.number,
            ticket_category=response_text(domain, f"utter_category_{record.category}", tracker),
            ticket_status_label=response_text(domain, f"utter_status_{record.status}", tracker),
            ticket_opened=customer_time(record.created_at, rt),
            resolve_by=customer_time(record.sla_close_by, rt),
        )
        return []
