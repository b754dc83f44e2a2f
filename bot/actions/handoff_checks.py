"""The hand-off rules, asked where the dialogue already is: each customer message (the opening
acknowledgement, the intake form, the fallback) and each ticket the customer hears about
(filed, or its status). A rule that fires makes ``action_handoff`` run next, with the rules
that fired in the ``handoff_reasons`` slot, so the action does not have to work them out again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet

from bot.actions.runtime import runtime
from bot.errors import TicketStoreUnavailable
from bot.handoff.policy import Facts, Trigger, handoff_policy
from bot.handoff.service import Handoffs, build_handoffs
from bot.handoff.signals import HANDOFF_ACTION, conversation_facts
from bot.lifecycle import OPEN_STATES
from bot.triage import score_emotion

logger = logging.getLogger(__name__)

REASONS_SLOT = "handoff_reasons"


def utcnow() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


clock: Callable[[], datetime] = utcnow
"""The hand-off checks' clock; tests replace it to drive time."""


@functools.lru_cache(maxsize=1)
def handoffs() -> Handoffs:
    """This process's hand-off service, on the runtime's database; built on first use."""
    rt = runtime()
    rt.ensure_schema()
    return build_handoffs(rt.engine, rt.store, rt.config.triage)


def message_facts(tracker: Tracker, *, misunderstood: bool = False, intent: str | None = None) -> Facts:
    """The facts of the customer's latest message and the conversation since the last hand-off."""
    triage = runtime().config.triage
    return conversation_facts(
        tracker.events,
        now=clock(),
        score=lambda text: score_emotion(text, triage),
        emotion_window=handoff_policy().emotion_window,
        misunderstood=misunderstood,
        intent=intent,
    )


def message_triggers(tracker: Tracker, *, misunderstood: bool = False) -> list[Trigger]:
    """The rules the latest message meets, its intent aside: an intent that asks for a person has
    its own route in data/rules.yml, and inside the form it may be an answer ("a manager")."""
    return handoff_policy().evaluate(message_facts(tracker, misunderstood=misunderstood))


async def open_deadlines(channel: str, sender_id: str) -> tuple[datetime, ...]:
    """The resolve deadlines of the customer's open tickets on this channel (none known when the
    store does not answer: the other rules still apply)."""
    try:
        tickets = await asyncio.to_thread(runtime().store.find_by_sender, channel, sender_id)
    except TicketStoreUnavailable:
        logger.warning("open tickets unknown: the ticket store did not answer")
        return ()
    return tuple(ticket.sla_resolve_by for ticket in tickets if ticket.status in OPEN_STATES)


def ticket_triggers(
    *, chosen_option: str | None = None, customer_type: str | None = None, deadlines: tuple[datetime, ...] = ()
) -> list[Trigger]:
    """The rules a ticket meets: the remedy chosen, the customer, the deadlines of open tickets."""
    facts = Facts(now=clock(), chosen_option=chosen_option, customer_type=customer_type, resolve_deadlines=deadlines)
    return handoff_policy().evaluate(facts)


def hand_off(triggers: list[Trigger]) -> list[EventType]:
    """Events that make ``action_handoff`` run next, remembering which rules fired and on what."""
    return [SlotSet(REASONS_SLOT, [trigger.as_record() for trigger in triggers]), FollowupAction(HANDOFF_ACTION)]
