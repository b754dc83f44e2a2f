"""Handing a conversation to people, and keeping what the customer writes while they wait.

:class:`Handoffs` joins the policy, the SQL queue, the ticket store and the live notices. The
action server calls :meth:`Handoffs.hand_over` (``bot/actions/handoff.py``); the Rasa servers
call :meth:`Handoffs.keep_customer_message` for every message of a paused conversation
(``connectors/paused_conversations.py``), because Rasa stores such a message in the tracker
but runs no action for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy.engine import Engine

from bot.callbacks.policy import CallbackPolicy, callback_policy
from bot.db import make_sessionmaker
from bot.domain_config import TriageConfig
from bot.handoff.estimate import WaitEstimate, estimate_wait
from bot.handoff.hours import agents_online
from bot.handoff.notices import HandoffNotices
from bot.handoff.policy import HandoffPolicy, handoff_policy
from bot.handoff.store import LIVE_STATES, HandoffRecord, HandoffRequest, HandoffStore
from bot.settings import redis_location
from bot.tickets import TicketStore
from bot.triage import score_emotion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandoffOutcome:
    """What the customer is to be told: whether a person will join the chat, and the wait."""

    record: HandoffRecord
    live: bool
    estimate: WaitEstimate


class Handoffs:
    """See the module docstring. ``score`` rates a message's emotion for the transcript."""

    def __init__(
        self,
        store: HandoffStore,
        tickets: TicketStore,
        policy: HandoffPolicy,
        hours: CallbackPolicy,
        notices: HandoffNotices,
        score: Callable[[str], float],
    ) -> None:
        self.store = store
        self.policy = policy
        self.hours = hours
        self._tickets = tickets
        self._notices = notices
        self._score = score

    async def hand_over(self, request: HandoffRequest, now: datetime) -> HandoffOutcome:
        """Queue the conversation for a person if one is online now, else record it deferred.

        A conversation already waiting for (or talking to) a person keeps that hand-off.
        """
        online = agents_online(self.policy.agents, self.hours, now)
        estimate = await asyncio.to_thread(self._estimate, request.priority, now) if online else WaitEstimate(None)
        record = await asyncio.to_thread(
            self.store.open, request, state="waiting" if online else "deferred", now=now, wait_estimate_s=estimate.seconds
        )
        if record.created_at == now:
            await self._notices.queued(record, now)
        return HandoffOutcome(record, record.state in LIVE_STATES, estimate if record.created_at == now else WaitEstimate(None))

    def _estimate(self, priority: str, now: datetime) -> WaitEstimate:
        waits = self.store.recent_waits(now - self.policy.wait_estimate.window)
        return estimate_wait(self.store.ahead_of(priority, now), waits, self.policy.wait_estimate)

    async def keep_customer_message(self, sender_id: str, text: str, at: datetime) -> HandoffRecord | None:
        """Add a message written while the assistant is paused to the ticket's transcript and pass it
        to the console; the hand-off it belongs to, or None when the conversation has none live."""
        record = await asyncio.to_thread(self.store.live_for_sender, sender_id)
        if record is None:
            logger.warning("message in a paused conversation without a live hand-off")
            return None
        line = {"sender": "customer", "text": text, "timestamp": at.isoformat(), "emotion": self._score(text),
                "handoff_id": record.id}
        await asyncio.to_thread(self._tickets.append_transcript, record.ticket_number, [line])
        await self._notices.customer_message(record, line)
        return record


def build_handoffs(engine: Engine, tickets: TicketStore, triage: TriageConfig) -> Handoffs:
    """The hand-off service of one process, on its engine, from settings/handoff.yml and the environment's Redis."""
    policy = handoff_policy()
    redis = redis_location()
    return Handoffs(
        HandoffStore(make_sessionmaker(engine)),
        tickets,
        policy,
        policy.agents.opening_hours(callback_policy()),
        HandoffNotices(lambda: Redis(host=redis.host, port=redis.port, socket_connect_timeout=2, socket_timeout=2)),
        lambda text: score_emotion(text, triage),
    )
