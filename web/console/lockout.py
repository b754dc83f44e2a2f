"""Sign-in lockout: repeated wrong passwords pause sign-in for an account and for an address.

Counted in Redis, so every web process sees the same counts. Times come from the app's
clock and are stored as numbers, so a lock ends when the clock says so (tests move the
clock instead of waiting); Redis expiry only cleans up afterwards. Keys hold a hash of
the name or address, never the text typed, which may be a password in the wrong field.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime

import redis.asyncio as aioredis
from aiohttp import web

from web.settings import LockoutRule, Lockouts

KEY_PREFIX = "console:lockout"
CLEANUP_SLACK_S = 60


def client_address(request: web.Request, header: str) -> str:
    """Who is signing in: the last entry of ``header`` when the app sits behind a proxy that
    sets it (the entry the proxy itself added), else the peer address."""
    if header:
        forwarded = request.headers.get(header, "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


class Lockout:
    """Failure counts and locks per account name and per client address."""

    def __init__(self, client: aioredis.Redis, rules: Lockouts, clock: Callable[[], datetime]) -> None:
        self._redis = client
        self._rules = rules
        self._clock = clock

    async def locked(self, name: str, address: str) -> bool:
        """Whether sign-in is paused for this name or this address."""
        now = self._clock().timestamp()
        until = await self._redis.mget([_key("account", name, "until"), _key("address", address, "until")])
        return any(value is not None and float(value) > now for value in until)

    async def failed(self, name: str, address: str) -> None:
        """Count a wrong password against both; reaching a rule's count locks its subject."""
        await self._count("account", name, self._rules.account)
        await self._count("address", address, self._rules.address)

    async def succeeded(self, name: str) -> None:
        """A right password clears the account's count (the address keeps its own)."""
        await self._redis.delete(_key("account", name, "failures"))

    async def _count(self, kind: str, subject: str, rule: LockoutRule) -> None:
        now = self._clock().timestamp()
        failures = _key(kind, subject, "failures")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(failures, {secrets.token_hex(8): now})
            pipe.zremrangebyscore(failures, "-inf", now - rule.window_s)
            pipe.zcard(failures)
            pipe.expire(failures, rule.window_s + CLEANUP_SLACK_S)
            _, _, count, _ = await pipe.execute()
        if count >= rule.failures:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(_key(kind, subject, "until"), now + rule.lock_s, ex=rule.lock_s + CLEANUP_SLACK_S)
                pipe.delete(failures)
                await pipe.execute()


def _key(kind: str, subject: str, part: str) -> str:
    digest = hashlib.sha256(subject.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{KEY_PREFIX}:{kind}:{digest}:{part}"
