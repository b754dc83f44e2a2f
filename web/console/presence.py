"""Who is at the console now, for the supervisors' view: derived from sign-ins and open sockets.

One Redis sorted set (:data:`KEY`) on the web app's Redis, shared by every web process. Each
member is one reason an account is present, scored with the moment (by the app's clock) it
stops counting:

- ``<account id>:session:<presence id>``: a signed-in session. Written at sign-in and at every
  request of the session, until the session's idle (or total) lifetime would end; removed at
  sign-out. The presence id is a random value kept in the session, never its key.
- ``<account id>:socket:<random>``: an open ``/console/ws`` (a console page open in a
  browser). Written when it opens, renewed every :data:`SOCKET_RENEW_S` while it is open, removed
  when it closes; a web process that dies leaves it to lapse after :data:`SOCKET_TTL_S`.

An account is **online** while it has a live session or an open socket. No name, key or token is
stored: account ids and random values only.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY = "console_presence"
SOCKET_TTL_S = 90
SOCKET_RENEW_S = 30


@dataclass(frozen=True)
class AccountPresence:
    """One account's live sessions and open console sockets."""

    sessions: int = 0
    sockets: int = 0

    @property
    def online(self) -> bool:
        return self.sessions > 0 or self.sockets > 0


def new_presence_id() -> str:
    return secrets.token_hex(8)


class Presence:
    """Writes and reads :data:`KEY`; see the module docstring. Redis errors are logged, never raised:
    presence is a view for supervisors, and a console keeps working without it."""

    def __init__(self, client: aioredis.Redis, clock: Callable[[], datetime]) -> None:
        self._redis = client
        self._clock = clock

    async def session_seen(self, account_id: int, presence_id: str, until: datetime) -> None:
        """The account's session is live until ``until``."""
        await self._add(f"{account_id}:session:{presence_id}", until)

    async def session_ended(self, account_id: int, presence_id: str) -> None:
        await self._remove(f"{account_id}:session:{presence_id}")

    async def socket_opened(self, account_id: int) -> str:
        """Count an open console socket; the member to renew and remove."""
        member = f"{account_id}:socket:{secrets.token_hex(8)}"
        await self.socket_alive(member)
        return member

    async def socket_alive(self, member: str) -> None:
        await self._add(member, self._clock() + timedelta(seconds=SOCKET_TTL_S))

    async def socket_closed(self, member: str) -> None:
        await self._remove(member)

    async def keep_socket(self, member: str) -> None:
        """Renew an open socket's presence until cancelled (when the socket closes)."""
        while True:
            await asyncio.sleep(SOCKET_RENEW_S)
            await self.socket_alive(member)

    async def accounts(self) -> dict[int, AccountPresence]:
        """Every present account, by id (absent accounts are offline); lapsed members are dropped."""
        now = self._clock().timestamp()
        try:
            await self._redis.zremrangebyscore(KEY, "-inf", f"({now}")
            members = await self._redis.zrangebyscore(KEY, now, "+inf")
        except (RedisError, OSError) as error:
            logger.warning("console presence unreadable", extra={"error": type(error).__name__})
            return {}
        counts: dict[int, dict[str, int]] = {}
        for raw in members:
            account, kind, _ = (raw.decode() if isinstance(raw, bytes) else raw).split(":", 2)
            counts.setdefault(int(account), {"session": 0, "socket": 0})[kind] += 1
        return {account: AccountPresence(c["session"], c["socket"]) for account, c in counts.items()}

    async def _add(self, member: str, until: datetime) -> None:
        try:
            await self._redis.zadd(KEY, {member: until.timestamp()})
        except (RedisError, OSError) as error:
            logger.warning("console presence not written", extra={"error": type(error).__name__})

    async def _remove(self, member: str) -> None:
        try:
            await self._redis.zrem(KEY, member)
        except (RedisError, OSError) as error:
            logger.warning("console presence not removed", extra={"error": type(error).__name__})
