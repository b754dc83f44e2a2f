"""Push from Redis to the WebSockets this process holds.

One pattern subscription per process (``webchat:push:*``): whichever process appended
an item (another web process, a Rasa or worker process through the outbound path), every
web process hears it and forwards it to its own open sockets of that session.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web

from bot.outbound.webchat import PUSH_PATTERN, session_of_channel

logger = logging.getLogger(__name__)
RECONNECT_DELAY_S = 1.0


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

    async def listen(self, client: aioredis.Redis, subscribed: asyncio.Event) -> None:
        """Forward pushes until cancelled; resubscribe after a Redis failure."""
        while True:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(PUSH_PATTERN)
                subscribed.set()
                async for message in pubsub.listen():
                    if message["type"] == "pmessage":
                        channel = message["channel"].decode()
                        await self.forward(session_of_channel(channel), message["data"].decode())
            except aioredis.RedisError:
                logger.exception("web chat push subscription lost; resubscribing")
                await asyncio.sleep(RECONNECT_DELAY_S)
            finally:
                await pubsub.close()


async def run_hub(app: web.Application, hub: PushHub, client: aioredis.Redis) -> AsyncIterator[None]:
    """cleanup_ctx body: the subscription lives as long as the app."""
    subscribed = asyncio.Event()
    task = asyncio.create_task(hub.listen(client, subscribed))
    await asyncio.wait_for(subscribed.wait(), timeout=10)
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
