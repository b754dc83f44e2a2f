"""Push from Redis to the WebSockets this process holds.

One pattern subscription per process (``webchat:push:*``): whichever process appended
an item (another web process, a Rasa or worker process through the outbound path), every
web process hears it and forwards it to its own open sockets of that session.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web

from bot.outbound.webchat import PUSH_PATTERN, session_of_channel
from web.subscription import subscribed_while_running

logger = logging.getLogger(__name__)


class PushHub:
    """The open sockets of this process, by session id."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)

    def add(self, session_id: str, socket: web.WebSocketResponse) -> None:
        self._sockets[session_id].add(socket)

    def remove(self, session_id: str, socket: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(session_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[session_id]

    def count(self) -> int:
        return sum(len(sockets) for sockets in self._sockets.values())

    async def close_all(self) -> None:
        """Close every socket at shutdown so pages reconnect to a live process."""
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                await socket.close(code=1001, message=b"server shutdown")

    async def forward(self, session_id: str, payload: str) -> None:
        """Send one pushed item to every open socket of the session (a closed one is skipped)."""
        for socket in list(self._sockets.get(session_id, ())):
            if socket.closed:
                continue
            try:
                await socket.send_str(json.dumps({"type": "item", "item": json.loads(payload)}))
            except (ConnectionError, RuntimeError):
                logger.info("a web chat socket went away during a push")

    async def forward_pushed(self, channel: str, payload: str) -> None:
        """Forward an item published on a session's push channel."""
        await self.forward(session_of_channel(channel), payload)


async def run_hub(app: web.Application, hub: PushHub, client: aioredis.Redis) -> AsyncIterator[None]:
    """cleanup_ctx body: the subscription lives as long as the app."""
    async for _ in subscribed_while_running(client, PUSH_PATTERN, hub.forward_pushed):
        yield
