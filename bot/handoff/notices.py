"""Live notices for the agent console, on Redis pub/sub.

SQL is the record (``handoffs``, the ticket's transcript); these notices only tell a console
that is open right now to update without polling, whichever process it runs in:

- ``handoff:queue``: a hand-off was queued, deferred, claimed or ended. No customer words,
  only ids, states, priority and rule ids, so any console may subscribe.
- ``handoff:chat:<hand-off id>``: a message the customer wrote while the assistant was paused,
  an agent's reply, or what the assistant said (the confirmation of a call back an agent
  booked), for the consoles that have that conversation open.

A notice that cannot be published (Redis down) is logged and dropped: the console reads the
same facts from SQL when it loads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.handoff.store import HandoffRecord

logger = logging.getLogger(__name__)

QUEUE_CHANNEL = "handoff:queue"
CHAT_CHANNEL_PREFIX = "handoff:chat:"

RedisFactory = Callable[[], Redis]


def chat_channel(handoff_id: int) -> str:
    """The channel of one handed-over conversation's customer messages."""
    return f"{CHAT_CHANNEL_PREFIX}{handoff_id}"


def queue_notice(record: HandoffRecord, event: str, at: datetime) -> dict[str, Any]:
    """What ``handoff:queue`` carries about a hand-off."""
    return {
        "event": event,
        "handoff_id": record.id,
        "ticket_number": record.ticket_number,
        "channel": record.channel,
        "state": record.state,
        "priority": record.priority,
        "rules": record.rule_ids,
        "at": at.isoformat(),
    }


class HandoffNotices:
    """Publishes the notices; ``redis`` builds a client per notice, as hand-offs are rare and a
    client bound to one event loop must not outlive it."""

    def __init__(self, redis: RedisFactory) -> None:
        self._redis = redis

    async def queued(self, record: HandoffRecord, at: datetime) -> bool:
        """Announce a new hand-off (``waiting`` or ``deferred``) to every console."""
        return await self._publish(QUEUE_CHANNEL, queue_notice(record, record.state, at))

    async def changed(self, record: HandoffRecord, event: str, at: datetime) -> bool:
        """Announce a claim, a transfer or an end to every console (``event`` names it)."""
        return await self._publish(QUEUE_CHANNEL, {**queue_notice(record, event, at), "agent": record.agent})

    async def agent_message(self, record: HandoffRecord, line: dict[str, Any]) -> bool:
        """Pass an agent's message to every console that has the conversation open."""
        notice = {"event": "agent_message", "handoff_id": record.id, "ticket_number": record.ticket_number, **line}
        return await self._publish(chat_channel(record.id), notice)

    async def assistant_message(self, record: HandoffRecord, line: dict[str, Any]) -> bool:
        """Pass what the assistant said in the conversation (a call back booked by the agent, confirmed
        to the customer) to the consoles that have it open."""
        notice = {"event": "assistant_message", "handoff_id": record.id, "ticket_number": record.ticket_number, **line}
        return await self._publish(chat_channel(record.id), notice)

    async def customer_message(self, record: HandoffRecord, line: dict[str, Any]) -> bool:
        """Pass a customer's message to the console that has the conversation open."""
        notice = {"event": "customer_message", "handoff_id": record.id, "ticket_number": record.ticket_number, **line}
        return await self._publish(chat_channel(record.id), notice)

    async def _publish(self, channel: str, notice: dict[str, Any]) -> bool:
        client = self._redis()
        try:
            await client.publish(channel, json.dumps(notice, ensure_ascii=False))
            return True
        except (RedisError, OSError) as error:
            logger.warning("hand-off notice not published", extra={"channel": channel.split(":")[1], "error": type(error).__name__})
            return False
        finally:
            await client.close(close_connection_pool=True)
