"""A per-session message budget in Redis, shared by every web process.

A fixed window: each session may send ``limit`` messages per ``window_s``; one flooding
session hits its own budget and nobody else's.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis


async def within_budget(client: aioredis.Redis, session_id: str, limit: int, window_s: int) -> bool:
    """Count this message; False when the session has already used its budget for the window."""
    window = int(time.time() // window_s)
    key = f"webchat:rate:{session_id}:{window}"
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_s + 1)
    count, _ = await pipe.execute()
    return int(count) <= limit
