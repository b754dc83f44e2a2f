"""The console's live channel: hand-off notices from Redis to this process's console sockets.

One pattern subscription per web process (``handoff:*``), like the web chat's push
(``web/push.py``): whichever process published a notice (the action server queueing a
hand-off, a Rasa server keeping a customer's message, another web process's agent), every
web process hears it and forwards it to its own sockets. ``handoff:queue`` notices (ids,
states, rule ids: no customer words) go to every socket; a conversation's
``handoff:chat:<id>`` notices only to the sockets that asked to watch it, which the access
rule (:mod:`bot.handoff.access`) allowed when they asked.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web

from bot.handoff.notices import CHAT_CHANNEL_PREFIX, QUEUE_CHANNEL
from web.subscription import subscribed_while_running

logger = logging.getLogger(__name__)

PATTERN = "handoff:*"


class ConsoleHub:
    """The open console sockets of this process, and which conversations each watches."""

    def __init__(self) -> None:
        self._sockets: set[web.WebSocketResponse] = set()
        self._watchers: dict[int, set[web.WebSocketResponse]] = defaultdict(set)

    def add(self, socket: web.WebSocketResponse) -> None:
        self._sockets.add(socket)

    def remove(self, socket: web.WebSocketResponse) -> None:
        self._sockets.discard(socket)
        for handoff_id in [h for h, watching in self._watchers.items() if socket in watching]:
            self._watchers[handoff_id].discard(socket)
            if not self._watchers[handoff_id]:
                del self._watchers[handoff_id]

    def watch(self, socket: web.WebSocketResponse, handoff_id: int) -> None:
        """Forward this conversation's messages to ``socket`` (the caller checked the access rule)."""
        self._watchers[handoff_id].add(socket)

    async def close_all(self) -> None:
        for socket in list(self._sockets):
            await socket.close(code=1001, message=b"server shutdown")

    async def forward(self, channel: str, payload: str) -> None:
        """Send one notice to the sockets it is for."""
        if channel == QUEUE_CHANNEL:
            targets, kind = set(self._sockets), "queue"
        elif channel.startswith(CHAT_CHANNEL_PREFIX) and channel[len(CHAT_CHANNEL_PREFIX):].isdigit():
            targets, kind = set(self._watchers.get(int(channel[len(CHAT_CHANNEL_PREFIX):]), ())), "chat"
        else:
            return
        text = json.dumps({"type": kind, "notice": json.loads(payload)})
        for socket in targets:
            if socket.closed:
                continue
            try:
                await socket.send_str(text)
            except (ConnectionError, RuntimeError):
                logger.info("a console socket went away during a notice")


async def run_console_hub(hub: ConsoleHub, client: aioredis.Redis) -> AsyncIterator[None]:
    """cleanup_ctx body: the subscription lives as long as the app."""
    async for _ in subscribed_while_running(client, PATTERN, hub.forward):
        yield
