"""Hand the conversation to people: file (or escalate) the ticket, queue the conversation, tell the
customer honestly what happens next, and pause the assistant while a person is on the way.

While the conversation is paused Rasa still stores every customer message but runs no action;
``connectors/paused_conversations.py`` adds those messages to the ticket's transcript and passes
them to the console. When nobody takes live chats now, nothing is paused: the customer is told
so, once, with the time by which someone will reply, and is offered a call back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from bot.actions import handoff_checks
from bot.actions.handoff_checks import REASONS_SLOT, handoffs, message_facts, open_deadlines
from bot.actions.runtime import Runtime, runtime
from bot.actions.slots import reset_intake
from bot.actions.tickets import FINAL_STATUSES, customer_time, file_from_tracker
from bot.callbacks.slots import hours_label
from bot.channels import conversation_channel
from bot.domain_config import PRIORITIES
from bot.errors import InvalidTransition, TicketStoreUnavailable
from bot.handoff.desk import delivered_by_desk
from bot.handoff.hours import reply_by
from bot.handoff.policy import HandoffPolicy, Trigger, most_urgent
from bot.handoff.service import HandoffOutcome
from bot.handoff.signals import HANDOFF_ACTION
from bot.handoff.store import HandoffRequest
from bot.tickets import TicketRecord
from bot.transcript import intake_messages, transcript

logger = logging.getLogger(__name__)

DEFAULT_INTRO = "utter_handoff_intro"
CALLBACK_ACTION = "action_schedule_callback"


def _intro(triggers: list[Trigger]) -> str:
    """What is said first: the ``say`` of the most urgent rule that has one (the file's order breaks
    ties), else the plain introduction."""
    speaking = [trigger for trigger in triggers if trigger.say]
    if not speaking:
        return DEFAULT_INTRO
    rank = {priority: index for index, priority in enumerate(PRIORITIES)}
    return min(speaking, key=lambda trigger: rank.get(trigger.priority or "", len(PRIORITIES))).say or DEFAULT_INTRO


def _reasons(policy: HandoffPolicy, tracker: Tracker, found: list[Trigger]) -> list[Trigger]:
    """The rules found now and those a check found earlier in this turn (the slot), once each, in the file's order."""
    carried = [
        trigger for item in tracker.get_slot(REASONS_SLOT) or []
        if isinstance(item, dict) and (trigger := policy.trigger_for(str(item.get("rule")), item.get("evidence")))
    ]
    by_rule = {trigger.rule: trigger for trigger in carried + found}
    order = [rule.id for rule in policy.rules]
    return sorted(by_rule.values(), key=lambda trigger: order.index(trigger.rule))


def _reply_deadline(record: TicketRecord, now: datetime, rt: Runtime) -> datetime:
    """The SLA's first response from now, or the ticket's own deadline when that is still ahead and sooner."""
    contact = now + timedelta(hours=rt.config.sla.first_response_within_h)
    return min(contact, record.sla_close_by) if record.sla_close_by > now else contact


class ActionHandoff(Action):
    """See the module docstring."""

    def name(self) -> str:
        return HANDOFF_ACTION

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        rt = runtime()
        service = handoffs()
        now = handoff_checks.clock()
        channel = conversation_channel(tracker.sender_id, tracker.get_latest_input_channel())
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        facts = message_facts(tracker, intent=intent)
        record, spooled_number = await self._ticket(tracker, rt, channel, now)
        closing = [ActiveLoop(None), SlotSet("requested_slot", None)] + reset_intake(tracker) + [SlotSet(REASONS_SLOT, None)]
        if record is None:
            dispatcher.utter_message(response=_intro(_reasons(service.policy, tracker, service.policy.evaluate(facts))))
            dispatcher.utter_message(response="utter_handoff_spooled", ticket_number=spooled_number)
            return closing + [SlotSet("ticket_number", spooled_number)]
        facts = dataclasses.replace(
            facts,
            chosen_option=tracker.get_slot("chosen_option") or record.chosen_option,
            customer_type=record.customer_type,
            resolve_deadlines=await open_deadlines(channel, tracker.sender_id),
        )
        triggers = _reasons(service.policy, tracker, service.policy.evaluate(facts))
        if not triggers:
            logger.warning("hand-off without a rule that fired", extra={"ticket_number": record.number})
        request = HandoffRequest(
            ticket_number=record.number, channel=channel, sender_id=tracker.sender_id,
            reasons=[trigger.as_record() for trigger in triggers],
            priority=most_urgent([record.priority, *(trigger.priority for trigger in triggers)]),
        )
        closing.append(SlotSet("ticket_number", record.number))
        dispatcher.utter_message(response=_intro(triggers))
        try:
            outcome = await service.hand_over(request, now)
        except SQLAlchemyError:
            logger.exception("hand-off not queued: the store did not answer", extra={"ticket_number": record.number})
            outcome = None
        return closing + self._what_next(dispatcher, outcome, record, now, rt)

    def _what_next(
        self, dispatcher: CollectingDispatcher, outcome: HandoffOutcome | None, record: TicketRecord, now: datetime, rt: Runtime
    ) -> list[EventType]:
        """A person will join (the wait, then the pause); or nobody can now (when someone will reply,
        and the call-back offer), told once."""
        if outcome is not None and outcome.live:
            self._say_wait(dispatcher, outcome)
            return [ConversationPaused()]
        service = handoffs()
        deadline = customer_time(reply_by(_reply_deadline(record, now, rt), service.hours), rt)
        if outcome is not None and service.policy.agents.live_chat:
            dispatcher.utter_message(
                response="utter_handoff_offline", ticket_number=record.number, reply_by=deadline,
                opening_hours=hours_label(service.hours),
            )
        else:
            dispatcher.utter_message(response="utter_handoff_no_live_chat", ticket_number=record.number, reply_by=deadline)
        return [SlotSet("callback_ticket", record.number), FollowupAction(CALLBACK_ACTION)]

    @staticmethod
    def _say_wait(dispatcher: CollectingDispatcher, outcome: HandoffOutcome) -> None:
        number = outcome.record.ticket_number
        if outcome.estimate.minutes is None:
            dispatcher.utter_message(response="utter_handoff_waiting_unknown", ticket_number=number)
        else:
            dispatcher.utter_message(response="utter_handoff_waiting", ticket_number=number, wait_minutes=outcome.estimate.minutes)

    @staticmethod
    async def _ticket(tracker: Tracker, rt: Runtime, channel: str, now: datetime) -> tuple[TicketRecord | None, str]:
        """The ticket the person will work on: the conversation's open ticket, escalated, when no new
        complaint is under way; else one filed now from what the customer said. (None, reference)
        when it could only be spooled."""
        number = tracker.get_slot("ticket_number")
        current = None
        if number and not intake_messages(tracker.events):
            try:
                current = await asyncio.to_thread(rt.store.get, number)
            except TicketStoreUnavailable:
                logger.warning("ticket store unavailable; filing the conversation instead")
        if current is not None and current.sender_id == tracker.sender_id and current.status not in FINAL_STATUSES:
            lines = transcript(event for event in tracker.events if not delivered_by_desk(event))
            return await asyncio.to_thread(_escalate, rt, current, lines, now), current.number
        filing = await file_from_tracker(tracker, "escalated")
        if filing.spooled:
            return None, filing.number
        return await asyncio.to_thread(rt.store.get, filing.number), filing.number


def _escalate(rt: Runtime, record: TicketRecord, lines: list[dict], now: datetime) -> TicketRecord:
    """Put an open ticket in front of people (``escalated``) and add what was said since it was filed."""
    rt.store.append_transcript(
        record.number, [line for line in lines if datetime.fromisoformat(line["timestamp"]) >= record.created_at]
    )
    if record.status == "escalated":
        return record
    try:
        return rt.store.transition(record.number, "escalated", actor="bot", now=now, note="handed to a person in the chat")
    except InvalidTransition:
        logger.info("ticket moved while being handed over", extra={"ticket_number": record.number})
        return rt.store.get(record.number) or record
