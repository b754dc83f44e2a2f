"""File: write the ticket, tell the customer its number and a truthful timeline, and have
its SLA watched from that moment."""

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
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.actions.callbacks import after_filing, customer_time_zone
from bot.actions.handoff_checks import hand_off, open_deadlines, ticket_triggers
from bot.actions.responses import response_text
from bot.actions.runtime import Runtime, runtime
from bot.actions.slots import reset_intake
from bot.channels import conversation_channel
from bot.domain_config import HUMAN_AGENT
from bot.errors import TicketStoreUnavailable
from bot.filing import build_draft
from bot.models import Ticket
from bot.outbound.queue import create_queue
from bot.outbound.settings import load_outbound_settings
from bot.sla.jobs import watch_ticket
from bot.sla.watch import SlaCheck
from bot.ticket_access import Access, ticket_access
from bot.ticket_numbers import find_ticket_number, new_ticket_number
from bot.tickets import TicketDraft, TicketRecord

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"resolved", "closed", "withdrawn"})


@dataclass(frozen=True)
class Filing:
    """What happened to a draft: stored, or kept in the spool until the store answers."""

    number: str
    spooled: bool
    draft: TicketDraft
    opened: datetime
    checks: tuple[SlaCheck, ...] = ()
    """The SLA checks written with the ticket, to be queued."""


def customer_time(moment: datetime, rt: Runtime) -> str:
    """A deadline as the customer reads it, in the service's timezone, rounded up to the
    minute so the time shown is never earlier than the real deadline."""
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    local = moment.astimezone(ZoneInfo(rt.settings.timezone))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def _customer_type(rt: Runtime, channel: str, sender_id: str) -> str:
    """``new`` or ``returning``; the schema is ensured first, so a store that was never
    migrated reads as empty (a new customer) rather than as an error."""
    try:
        if not rt.ensure_schema():
            return "unknown"
        return "returning" if rt.store.find_by_sender(channel, sender_id) else "new"
    except Exception:
        logger.exception("customer type unknown: the ticket store did not answer")
        return "unknown"


def _store_or_spool(rt: Runtime, draft: TicketDraft, now: datetime) -> Filing:
    """Write the ticket; if the store stays down, keep it in the spool under a fixed number.

    Tickets spooled earlier are filed after this one succeeds, so a customer never
    waits for somebody else's retries.
    """
    try:
        if not rt.ensure_schema():
            raise TicketStoreUnavailable("the ticket store could not be migrated")
        planned: list[SlaCheck] = []

        def plan_checks(session: Session, ticket: Ticket) -> None:
            planned[:] = rt.sla_watch.add_checks(session, ticket)

        record: TicketRecord = rt.store.create(draft, now, within=plan_checks)
    except Exception:
        logger.exception("ticket could not be stored; spooling it")
        number = new_ticket_number()
        rt.spool.put(draft, number, now)
        logger.error("ticket store unavailable; draft spooled", extra={"ticket_number": number})
        return Filing(number=number, spooled=True, draft=draft, opened=now)
    if rt.spool.pending():
        try:
            rt.spool.replay(rt.store)
        except Exception:
            logger.exception("spool replay deferred; the customer's own ticket is filed")
    return Filing(number=record.number, spooled=False, draft=draft, opened=now, checks=tuple(planned))


async def file_from_tracker(tracker: Tracker, status: str) -> Filing:
    """Build the draft from the conversation and file it without blocking the event loop."""
    rt = runtime()
    channel = conversation_channel(tracker.sender_id, tracker.get_latest_input_channel())
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
        customer_timezone=customer_time_zone(tracker),
    )
    filing = await asyncio.to_thread(_store_or_spool, rt, draft, now)
    if not filing.spooled:
        await watch_sla(rt, filing)
    return filing


async def watch_sla(rt: Runtime, filing: Filing) -> None:
    """Queue the new ticket's SLA checks now, not at the worker's next sweep (up to a
    minute later). Best effort: whatever fails here, that sweep still does."""
    try:
        queue = await create_queue(load_outbound_settings())
    except (OSError, RedisError) as error:
        logger.warning("job queue unreachable; the SLA sweep will plan the ticket", extra={"error": type(error).__name__})
        return
    try:
        await watch_ticket(rt.sla_watch, queue, filing.number, filing.checks)
    except SQLAlchemyError as error:
        logger.warning("SLA checks not planned; the SLA sweep will plan the ticket", extra={"error": type(error).__name__})
    finally:
        await queue.close(close_connection_pool=True)


def timeline(draft: TicketDraft, opened: datetime, rt: Runtime) -> dict[str, str]:
    """The dates a customer is given, each exactly the SLA's, never sooner.

    ``looked_at_by`` is the analysis deadline, ``contact_by`` the first substantive
    response a person owes, ``resolve_by`` the deadline for the whole case.
    """
    contact_by = opened + timedelta(hours=rt.config.sla.first_response_within_h)
    return {
        "looked_at_by": customer_time(draft.sla_analyse_by, rt),
        "contact_by": customer_time(min(contact_by, draft.sla_close_by), rt),
        "resolve_by": customer_time(draft.sla_close_by, rt),
    }


class ActionCreateTicket(Action):
    """File the confirmed complaint and give its number and timeline; then bring in a person when
    a hand-off rule says so (the remedy chosen is a person, a VIP, another ticket about to be late),
    or book the call back the customer chose."""

    def name(self) -> str:
        return "action_create_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime()
        chosen = tracker.get_slot("chosen_option")
        status = "escalated" if chosen == HUMAN_AGENT else "new"
        filing = await file_from_tracker(tracker, status)
        dates = {"ticket_number": filing.number, **timeline(filing.draft, filing.opened, rt)}
        filed = reset_intake(tracker) + [SlotSet("ticket_number", filing.number)]
        if filing.spooled:
            dispatcher.utter_message(response="utter_ticket_spooled", **dates)
            dispatcher.utter_message(response="utter_anything_else")
            return filed
        dispatcher.utter_message(response="utter_ticket_filed", **dates)
        channel = conversation_channel(tracker.sender_id, tracker.get_latest_input_channel())
        triggers = ticket_triggers(
            chosen_option=chosen, customer_type=filing.draft.customer_type,
            deadlines=await open_deadlines(channel, tracker.sender_id),
        )
        if triggers:
            return filed + hand_off(triggers)
        callback = after_filing(chosen, filing.number)
        if not callback:
            dispatcher.utter_message(response="utter_anything_else")
        return filed + callback


class ActionTicketStatus(Action):
    """Answer "what is the status of ticket X?" from the store."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime()
        text = (tracker.latest_message or {}).get("text") or ""
        number = find_ticket_number(text)
        try:
            if number:
                record = await asyncio.to_thread(rt.store.get, number)
            else:
                channel = conversation_channel(tracker.sender_id, tracker.get_latest_input_channel())
                mine = await asyncio.to_thread(rt.store.find_by_sender, channel, tracker.sender_id)
                record = mine[-1] if mine else None
        except TicketStoreUnavailable:
            dispatcher.utter_message(response="utter_technical_difficulty")
            return []
        if record is None:
            if number:
                dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
            else:
                dispatcher.utter_message(response="utter_ask_ticket_number")
            return []
        access = ticket_access(
            ticket_sender_id=record.sender_id,
            ticket_contact=record.contact,
            sender_id=tracker.sender_id,
            text=text,
            phone_region=rt.settings.phone_region,
        )
        if access is not Access.GRANTED:
            refusal = "utter_ticket_status_not_yours" if access is Access.NEED_CONTACT else "utter_ticket_status_contact_mismatch"
            dispatcher.utter_message(response=refusal, ticket_number=record.number)
            return []
        final = record.status in FINAL_STATUSES
        dispatcher.utter_message(
            response="utter_ticket_status_final" if final else "utter_ticket_status",
            ticket_number=record.number,
            ticket_category=response_text(domain, f"utter_category_{record.category}", tracker),
            ticket_status_label=response_text(domain, f"utter_status_{record.status}", tracker),
            ticket_opened=customer_time(record.created_at, rt),
            resolve_by=customer_time(record.sla_close_by, rt),
        )
        triggers = [] if final else ticket_triggers(deadlines=(record.sla_resolve_by,))
        return [SlotSet("ticket_number", record.number)] + hand_off(triggers) if triggers else []
