"""Per-conversation flood limit, shared by every process through Redis.

A fixed window per conversation (a counter created with its expiry, then INCR): cheap, one round
trip, and a flood from one customer never delays another's messages, because each
conversation has its own counter.
"""

from __future__ import annotations

from redis.asyncio import Redis

from bot.channel_policy import RateLimit

KEY_PREFIX = "ratelimit:"


class ConversationRateLimiter:
    """Counts a conversation's messages per window; says whether one more is allowed."""

    def __init__(self, redis: Redis, limit: RateLimit) -> None:
        self._redis = redis
        self._limit = limit

    async def allow(self, conversation: str) -> bool:
        """Count one message for ``conversation``; False when it exceeds the window's limit."""
        key = f"{KEY_PREFIX}{conversation}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=self._limit.per_seconds, nx=True)
            pipe.incr(key)
            _, count = await pipe.execute()
        return int(count) <= self._limit.messages
