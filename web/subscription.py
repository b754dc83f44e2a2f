"""One Redis pattern subscription per web process, forwarding each message to a hub's sockets.

The web chat's push (``web/push.py``) and the agent console's notices (``web/console/live.py``)
both work this way: whichever process publishes, every web process hears it and passes it to
the sockets it holds. A lost subscription is made again after a pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

RECONNECT_DELAY_S = 1.0
Forward = Callable[[str, str], Awaitable[None]]
"""Called with each message's channel and data, both decoded."""


async def listen(client: aioredis.Redis, pattern: str, forward: Forward, subscribed: asyncio.Event) -> None:
    """Forward the messages of ``pattern`` until cancelled; resubscribe after a Redis failure."""
    while True:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(pattern)
            subscribed.set()
            async for message in pubsub.listen():
                if message["type"] == "pmessage":
                    await forward(message["channel"].decode(), message["data"].decode())
        except aioredis.RedisError:
            logger.exception("pub/sub subscription lost; resubscribing", extra={"pattern": pattern})
            await asyncio.sleep(RECONNECT_DELAY_S)
        finally:
            await pubsub.close()


async def subscribed_while_running(client: aioredis.Redis, pattern: str, forward: Forward) -> AsyncIterator[None]:
    """cleanup_ctx body: the subscription is up before the app serves, and lives as long as the app."""
    subscribed = asyncio.Event()
    task = asyncio.create_task(listen(client, pattern, forward, subscribed))
    await asyncio.wait_for(subscribed.wait(), timeout=10)
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
