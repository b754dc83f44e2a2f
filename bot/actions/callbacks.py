"""Booking a call back in the chat: offer slots, read the answer, confirm, change or cancel.

The offer is a small form (``callback_form``, one slot ``callback_time``) so that a
typed answer ("tomorrow after 3") reaches our validation whatever intent the
classifier gives it. Buttons carry the slot's start as the ``callback_time`` entity of
the ``choose_option`` intent; the confirmation's buttons carry ``callback_action``
(reschedule, cancel), so no new intent is needed. The domain decisions live in
:mod:`bot.callbacks`; this module only turns them into replies from domain.yml.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from bot.actions.responses import response_text
from bot.actions.runtime import runtime
from bot.callbacks.choosing import parse_slot_payload
from bot.callbacks.jobs import BUTTON_RESPONSES, manage_buttons, utcnow
from bot.callbacks.policy import callback_policy
from bot.callbacks.service import Callbacks, customer_zone
from bot.callbacks.slots import Slot, hours_label, slot_label
from bot.callbacks.store import CallbackRecord, CallbackStore
from bot.callbacks.wording import asked_change
from bot.channels import conversation_channel
from bot.db import make_sessionmaker
from bot.outbound.queue import create_queue
from bot.outbound.settings import load_outbound_settings
from bot.time_zones import reported_time_zone

logger = logging.getLogger(__name__)

CALLBACK_OPTIONS = frozenset({"callback", "supervisor_call"})
"""Remedies that mean "call me": choosing one books a time after the ticket is filed."""
DECLINED = "none"
FAILED = "failed"
TIME_SLOT = "callback_time"
MAX_UNUSABLE_ANSWERS = 2
"""Answers to the time question that book nothing before the bot stops asking: a question
is never asked a third time (the intake form keeps the same rule)."""
ACTION_ENTITY = "callback_action"
TICKET_ENTITY = "callback_for"
DECLINE_INTENTS = {"stop": 0.8, "deny": 0.8, "cancel_callback": 0.8}
"""Answers to the offer that mean "no call after all", with the certainty they need
(``cancel_callback`` only when the words say cancel, :mod:`bot.callbacks.wording`)."""
OUTCOME_RESPONSES = {
    "past": "utter_callback_past",
    "outside_hours": "utter_callback_outside_hours",
    "closed_day": "utter_callback_closed_day",
    "full": "utter_callback_full",
    "too_far": "utter_callback_too_far",
    "unreadable": "utter_callback_unreadable",
    "no_slots": "utter_callback_no_slots",
}
FORM_SLOTS = ("callback_time", "callback_key", "callback_offered", "callback_alternatives", "callback_ticket")

clock: Callable[[], datetime] = utcnow
"""The actions' clock; tests replace it to drive time."""


@functools.lru_cache(maxsize=1)
def callbacks() -> Callbacks:
    """This process's callbacks service, on the runtime's database; built on first use."""
    policy = callback_policy()
    rt = runtime()
    rt.ensure_schema()
    store = CallbackStore(make_sessionmaker(rt.engine), capacity=policy.capacity_per_slot)
    return Callbacks(store, policy, lambda: create_queue(load_outbound_settings()))


def customer_time_zone(tracker: Tracker) -> str | None:
    """The IANA time zone the customer's channel last reported in a message's metadata (the web
    chat sends the browser's), or None (Telegram reports none)."""
    return reported_time_zone(tracker.events, (tracker.latest_message or {}).get("metadata"))


def _zone(tracker: Tracker) -> ZoneInfo:
    """The customer's time zone, else the policy's default."""
    return customer_zone(customer_time_zone(tracker), callbacks().policy)


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == name and entity.get("value") is not None:
            return str(entity["value"])
    return None


def _payload(entity: str, value: str) -> str:
    return "/choose_option" + json.dumps({entity: value}, separators=(",", ":"))


def _slots_from(values: list[str] | None) -> list[Slot]:
    length = timedelta(minutes=callbacks().policy.slot_minutes)
    starts = [parse_slot_payload(value) for value in values or []]
    return [Slot(start, start + length) for start in starts if start is not None]


def _manage_buttons(domain: DomainDict, tracker: Tracker) -> list[dict[str, str]]:
    """The "change the time" and "cancel the call" buttons, as the reminder shows them too."""
    titles = tuple(response_text(domain, name, tracker) for name in BUTTON_RESPONSES)
    return [{"title": button.title, "payload": button.payload} for button in manage_buttons(titles)]


def _offer(dispatcher: CollectingDispatcher, domain: DomainDict, tracker: Tracker, slots: list[Slot]) -> list[EventType]:
    """Say the slots (numbered, on the customer's clock) with a button each, and a "no call" button."""
    zone = _zone(tracker)
    labels = [slot_label(slot, zone) for slot in slots]
    buttons = [{"title": label, "payload": _payload(TIME_SLOT, slot.iso())} for slot, label in zip(slots, labels)]
    buttons.append({"title": response_text(domain, "utter_button_callback_none", tracker), "payload": _payload(TIME_SLOT, DECLINED)})
    if slots:
        numbered = "\n".join(f"{number}. {label}" for number, label in enumerate(labels, start=1))
        dispatcher.utter_message(response="utter_ask_callback_time", slots_list=numbered, customer_timezone=zone.key, buttons=buttons)
    else:
        dispatcher.utter_message(response="utter_callback_no_slots", horizon_days=callbacks().policy.horizon_days, buttons=buttons[-1:])
    return [SlotSet("callback_offered", [slot.iso() for slot in slots]), SlotSet("callback_alternatives", None)]


def _confirm(dispatcher: CollectingDispatcher, domain: DomainDict, tracker: Tracker, record: CallbackRecord) -> None:
    """Say the booked time on the customer's clock, the reminder to expect, and how to change or cancel it."""
    dispatcher.utter_message(
        response="utter_callback_booked",
        ticket_number=record.ticket_number,
        slot_time=slot_label(Slot(record.slot_start, record.slot_end), ZoneInfo(record.customer_timezone)),
        reminder_minutes=callbacks().policy.reminder_minutes_before,
        buttons=_manage_buttons(domain, tracker),
    )


def _say_cancelled(dispatcher: CollectingDispatcher, cancelled: CallbackRecord) -> None:
    dispatcher.utter_message(
        response="utter_callback_cancelled",
        ticket_number=cancelled.ticket_number,
        slot_time=slot_label(Slot(cancelled.slot_start, cancelled.slot_end), ZoneInfo(cancelled.customer_timezone)),
    )


class ActionScheduleCallback(Action):
    """Start booking a call back for the conversation's ticket: the offer follows as the form's question."""

    def name(self) -> str:
        return "action_schedule_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        ticket = tracker.get_slot("callback_ticket") or tracker.get_slot("ticket_number")
        if not ticket:
            dispatcher.utter_message(response="utter_callback_no_ticket")
            return []
        return [
            SlotSet("callback_ticket", ticket),
            SlotSet("ask_counts", {**(tracker.get_slot("ask_counts") or {}), TIME_SLOT: 0}),
            SlotSet(TIME_SLOT, None),
            SlotSet("callback_key", None),
            SlotSet("callback_alternatives", None),
            FollowupAction("callback_form"),
        ]


class ActionAskCallbackTime(Action):
    """Offer slots as buttons: the alternatives to a refused answer, else the next free ones."""

    def name(self) -> str:
        return "action_ask_callback_time"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        slots = _slots_from(tracker.get_slot("callback_alternatives"))
        if not slots:
            try:
                slots = await callbacks().offer(clock())
            except SQLAlchemyError:
                logger.exception("callback slots unavailable: the store did not answer")
                slots = []
        return _offer(dispatcher, domain, tracker, slots)


class ValidateCallbackForm(Action):
    """Read the answer to the offer and book it, or say clearly why not and offer alternatives.

    Always sets ``callback_time`` (to the booked start, to None to ask again, or to
    "none"/"failed" to end the form), so Rasa never rejects the form and falls back to
    a generic apology.
    """

    def name(self) -> str:
        return "validate_callback_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("requested_slot") != TIME_SLOT:
            return []
        message = tracker.latest_message or {}
        answer = _entity(tracker, TIME_SLOT) or message.get("text") or ""
        intent = message.get("intent") or {}
        declines = float(intent.get("confidence") or 0) >= DECLINE_INTENTS.get(intent.get("name"), 2.0) and (
            intent.get("name") != "cancel_callback" or asked_change(answer, intent.get("name")) == "cancel"
        )
        if answer == DECLINED or declines:
            return [SlotSet(TIME_SLOT, DECLINED)]
        service = callbacks()
        try:
            booking = await service.answer(
                answer,
                offered=tracker.get_slot("callback_offered") or [],
                now=clock(),
                zone_=_zone(tracker),
                ticket_number=tracker.get_slot("callback_ticket"),
                sender_id=tracker.sender_id,
                channel=conversation_channel(tracker.sender_id, tracker.get_latest_input_channel()),
            )
        except SQLAlchemyError:
            logger.exception("callback not booked: the store did not answer")
            dispatcher.utter_message(response="utter_callback_unavailable", ticket_number=tracker.get_slot("callback_ticket"))
            return [SlotSet(TIME_SLOT, FAILED)]
        if booking.record is not None:
            return [SlotSet(TIME_SLOT, booking.record.slot_start.isoformat()), SlotSet("callback_key", booking.record.key)]
        outcome = booking.choice.outcome
        logger.info("callback answer not bookable", extra={"outcome": outcome})
        counts = dict(tracker.get_slot("ask_counts") or {})
        counts[TIME_SLOT] = int(counts.get(TIME_SLOT) or 0) + 1
        if counts[TIME_SLOT] >= MAX_UNUSABLE_ANSWERS:
            dispatcher.utter_message(response="utter_callback_given_up", ticket_number=tracker.get_slot("callback_ticket"))
            return [SlotSet(TIME_SLOT, FAILED), SlotSet("ask_counts", counts)]
        dispatcher.utter_message(
            response=OUTCOME_RESPONSES[outcome],
            opening_hours=hours_label(service.policy),
            horizon_days=service.policy.horizon_days,
        )
        return [
            SlotSet(TIME_SLOT, None),
            SlotSet("callback_alternatives", [slot.iso() for slot in booking.choice.alternatives]),
            SlotSet("ask_counts", counts),
        ]


class ActionConfirmCallback(Action):
    """After the form: confirm the booked time (with change and cancel buttons), or acknowledge no call.

    "Cancel my call" said while a new time is being offered for a booked call cancels that call.
    """

    def name(self) -> str:
        return "action_confirm_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        value, key, ticket = tracker.get_slot(TIME_SLOT), tracker.get_slot("callback_key"), tracker.get_slot("callback_ticket")
        record = await asyncio.to_thread(callbacks().store.get, key) if key and value not in (DECLINED, FAILED) else None
        message = tracker.latest_message or {}
        said_cancel = asked_change(message.get("text") or "", (message.get("intent") or {}).get("name")) == "cancel"
        booked = await callbacks().active(tracker.sender_id) if value == DECLINED and said_cancel else None
        if record is not None:
            _confirm(dispatcher, domain, tracker, record)
        elif booked is not None:
            _say_cancelled(dispatcher, await callbacks().cancel(booked, clock()))
        elif value != FAILED:
            dispatcher.utter_message(response="utter_callback_declined", ticket_number=ticket)
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet(slot, None) for slot in FORM_SLOTS if tracker.get_slot(slot) is not None]


class ActionManageCallback(Action):
    """A booked call changed outside the offer form: by its buttons, or in words.

    The confirmation's and reminder's buttons change the time (offer again) or cancel
    the call, and so do the customer's own words ("cancel my call", intent
    ``cancel_callback``; "can we move the call to Friday at 10", ``reschedule_callback``),
    if the words do ask for a change (:mod:`bot.callbacks.wording`).
    A new time named in the words is booked at once if it can be, else said why and
    offered the free times. A time button of an offer we pushed
    (:func:`bot.callbacks.service.pushed_offer`, e.g. near an SLA breach) books that time
    for the ticket it names, if the ticket is this conversation's.

    With no call booked, typed words that do not say cancel are a request for a call
    ("please call me tomorrow" shares its words with a change and is often classified
    ``reschedule_callback``): the time they name is booked for the conversation's ticket,
    or the free times are offered, as if the customer had chosen a call back. Telling
    them there is nothing to change would refuse what they asked for.
    """

    def name(self) -> str:
        return "action_manage_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        pushed = _entity(tracker, TIME_SLOT)
        button = _entity(tracker, ACTION_ENTITY)
        if pushed is not None and button is None:
            return await self._book_pushed(dispatcher, tracker, domain, pushed)
        message = tracker.latest_message or {}
        typed = None if button else message.get("text") or ""
        change = button or asked_change(typed or "", (message.get("intent") or {}).get("name"))
        service = callbacks()
        record = await service.active(tracker.sender_id)
        if record is None and typed is not None and change != "cancel":
            return await self._request(dispatcher, tracker, domain, typed)
        if change is None:  # a wish for a call read as a change of the booked one: answered as any unclear message
            dispatcher.utter_message(response="utter_clarify")
            return []
        if record is None:
            dispatcher.utter_message(response="utter_callback_none_to_change")
            return []
        if change == "reschedule":
            return await self._move(dispatcher, tracker, domain, record.ticket_number, typed)
        _say_cancelled(dispatcher, await service.cancel(record, clock()))
        return []

    @classmethod
    async def _request(
        cls, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, typed: str
    ) -> list[EventType]:
        """A call asked for in words with none booked: book it for the conversation's ticket, as
        :class:`ActionScheduleCallback` would (which first asks for the case when there is no ticket)."""
        ticket = tracker.get_slot("callback_ticket") or tracker.get_slot("ticket_number")
        if not ticket:
            dispatcher.utter_message(response="utter_callback_no_ticket")
            return []
        return await cls._move(dispatcher, tracker, domain, ticket, typed)

    @staticmethod
    async def _move(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, ticket_number: str, typed: str | None
    ) -> list[EventType]:
        """Book the time the customer's words name, if any and if it can be; otherwise offer the free times."""
        if typed and await _book_named(dispatcher, tracker, domain, typed, ticket_number, explain_unreadable=False):
            return []
        return [SlotSet("callback_ticket", ticket_number), FollowupAction("action_schedule_callback")]

    @staticmethod
    async def _book_pushed(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, answer: str
    ) -> list[EventType]:
        ticket = _entity(tracker, TICKET_ENTITY)
        owner = await asyncio.to_thread(runtime().store.get, ticket) if ticket else None
        if owner is None or owner.sender_id != tracker.sender_id:
            logger.warning("pushed call-back button for a ticket of another conversation refused")
            dispatcher.utter_message(response="utter_callback_no_ticket")
            return []
        if answer == DECLINED:
            dispatcher.utter_message(response="utter_callback_declined", ticket_number=owner.number)
            return []
        if await _book_named(dispatcher, tracker, domain, answer, owner.number):
            return []
        return [SlotSet("callback_ticket", owner.number), FollowupAction("action_schedule_callback")]


async def _book_named(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, answer: str, ticket_number: str,
    *, explain_unreadable: bool = True,
) -> bool:
    """Book the time ``answer`` names (a button's slot, or words) for the ticket and confirm it;
    else say why not (for an answer naming no time, only if ``explain_unreadable``). True if booked."""
    service = callbacks()
    booking = await service.answer(
        answer,
        offered=[],
        now=clock(),
        zone_=_zone(tracker),
        ticket_number=ticket_number,
        sender_id=tracker.sender_id,
        channel=conversation_channel(tracker.sender_id, tracker.get_latest_input_channel()),
    )
    if booking.record is not None:
        _confirm(dispatcher, domain, tracker, booking.record)
        return True
    if explain_unreadable or booking.choice.outcome != "unreadable":
        dispatcher.utter_message(
            response=OUTCOME_RESPONSES[booking.choice.outcome],
            opening_hours=hours_label(service.policy),
            horizon_days=service.policy.horizon_days,
        )
    return False


def after_filing(chosen_option: Any, ticket_number: str) -> list[EventType]:
    """Events that start booking a call once the ticket is filed, when the customer chose a call
    back as their remedy. (A person chosen as the remedy is a hand-off: bot/actions/handoff.py,
    which offers a call back itself when nobody is online.)"""
    if chosen_option in CALLBACK_OPTIONS:
        return [SlotSet("callback_ticket", ticket_number), FollowupAction("action_schedule_callback")]
    return []
