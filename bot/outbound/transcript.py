"""Append a delivered message to the customer's Rasa conversation, so the transcript is whole.

The message was already delivered by our transport, so the ``bot`` event is appended
without ``execute_side_effects``: Rasa records it and sends nothing. Any Rasa server
will do (they share the tracker store), so each is tried in turn.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import aiohttp

from bot.outbound.store import DeliveryRecord

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0


class TranscriptUnavailable(Exception):
    """No Rasa server took the event now; the append is retried later."""


def bot_event(record: DeliveryRecord) -> dict[str, object]:
    """The Rasa ``bot`` event for a delivered message, stamped with when it was sent.

    The idempotency key and author go into the metadata, so the transcript says who
    wrote the message and a retried append can be recognised.
    """
    message = record.message
    return {
        "event": "bot",
        "text": message.text,
        "timestamp": record.sent_at.timestamp() if record.sent_at else None,
        "data": {"buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons]},
        "metadata": {"outbound_key": record.key, "author": message.author, "author_name": message.author_name},
    }


def transcript_events(record: DeliveryRecord) -> dict[str, object] | list[dict[str, object]]:
    """What is appended for a delivered message: its ``bot`` event, followed by a ``slot``
    event for each slot the message sets (a list then; Rasa's endpoint takes either)."""
    said = bot_event(record)
    if not record.message.slots:
        return said
    return [said] + [
        {"event": "slot", "name": name, "value": value, "timestamp": said["timestamp"]}
        for name, value in record.message.slots
    ]


class RasaTranscript:
    """Rasa's ``POST /conversations/{id}/tracker/events`` for outbound messages."""

    def __init__(self, session: aiohttp.ClientSession, rasa_urls: tuple[str, ...], token: str) -> None:
        self._session = session
        self._urls = rasa_urls
        self._token = token

    async def append(self, record: DeliveryRecord) -> None:
        """Append the message's events; raise :class:`TranscriptUnavailable` if no server took it."""
        path = f"/conversations/{quote(record.conversation.sender_id, safe=':')}/tracker/events"
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        for base in self._urls:
            try:
                async with self._session.post(
                    base + path, params={"token": self._token}, json=transcript_events(record), timeout=timeout
                ) as response:
                    if response.status == 200:
                        return
                    logger.warning("rasa refused a transcript entry", extra={"key": record.key, "status": response.status})
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                logger.warning("rasa did not answer", extra={"key": record.key, "error": type(error).__name__})
        raise TranscriptUnavailable(record.key)
