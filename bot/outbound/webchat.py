"""The web chat's mailbox in Redis and the outbound Transport that writes to it.

A web chat customer may have a page open on any web process, on several tabs, or on
none. So a message for them is never sent to a socket directly: it is appended to the
conversation's history (a Redis list the page reads when it comes back) and published
on the conversation's channel (every web process subscribes and forwards it to the
sockets it holds). Both happen in one Lua script, so a published item is always in the
history, and the item's id makes a second append of the same message a no-op: an
outbound retry never shows the customer a message twice.

Keys (see COMMON.md, "Web chat mailbox in Redis"):
  ``webchat:history:<session_id>``  list of JSON items, the last 500
  ``webchat:ids:<session_id>``      set of the item ids in the history (the dedupe)
  ``webchat:alive:<session_id>``    present while the web chat session lives
  ``webchat:push:<session_id>``     pub/sub channel, payload = one JSON item
All expire with the session (``WEBCHAT_SESSION_TTL_S``); the web app renews them on every
page load and customer message, and each append renews them too.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.outbound import Conversation, OutboundMessage, PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 500
SESSION_TTL_S = 7 * 24 * 3600
AUTHORS = ("customer", "bot", "agent", "system")
PUSH_PATTERN = "webchat:push:*"

_APPEND = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
"""


def history_key(session_id: str) -> str:
    return f"webchat:history:{session_id}"


def ids_key(session_id: str) -> str:
    return f"webchat:ids:{session_id}"


def alive_key(session_id: str) -> str:
    return f"webchat:alive:{session_id}"


def push_channel(session_id: str) -> str:
    return f"webchat:push:{session_id}"


def session_of_channel(channel: str) -> str:
    """The session id a ``webchat:push:<session_id>`` channel name carries."""
    return channel.removeprefix("webchat:push:")


@dataclass(frozen=True)
class MailboxSettings:
    """Where the mailbox lives and how long it is kept.

    | variable | default | meaning |
    |---|---|---|
    | REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis the stack shares |
    | WEBCHAT_REDIS_DB | 2 | database of web chat sessions, histories, rate limits (0 and 1 are Rasa's) |
    | WEBCHAT_SESSION_TTL_S | 604800 | a web chat session and its history live this long after the last activity |

    The default week outlives the satisfaction follow-up: a conversation last renewed by the
    resolution notice must still be there when the survey comes 72 h later (plus quiet hours)
    and when its reminder comes a day after that, or the survey finds the session gone and is
    cancelled (tests/web/test_followup_path.py).
    """

    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 2
    session_ttl_s: int = SESSION_TTL_S

    @classmethod
    def from_env(cls) -> "MailboxSettings":
        return cls(
            redis_host=os.environ.get("REDIS_HOST", "127.0.0.1"),
            redis_port=_whole("REDIS_PORT", 6379),
            redis_db=_whole("WEBCHAT_REDIS_DB", 2),
            session_ttl_s=_whole("WEBCHAT_SESSION_TTL_S", SESSION_TTL_S),
        )

    def redis(self) -> aioredis.Redis:
        """A client for this database; connects on first use, not here."""
        return aioredis.Redis(host=self.redis_host, port=self.redis_port, db=self.redis_db)


def _whole(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def make_item(
    author: str, text: str, *, buttons: list[dict[str, str]] | None = None,
    author_name: str | None = None, item_id: str | None = None, ts: float | None = None,
) -> dict[str, Any]:
    """One history item in the contract's shape; a fresh id unless the caller has one (an idempotency key)."""
    if author not in AUTHORS:
        raise ValueError(f"author must be one of {AUTHORS}, got {author!r}")
    return {
        "id": item_id or secrets.token_urlsafe(12),
        "from": author,
        "text": text,
        "buttons": [{"title": b["title"], "payload": b["payload"]} for b in buttons or []],
        "author_name": author_name,
        "ts": time.time() if ts is None else ts,
    }


class WebChatMailbox:
    """A conversation's history and push channel; safe to use from any process."""

    def __init__(self, client: aioredis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self._append = client.register_script(_APPEND)

    async def open(self, session_id: str) -> None:
        """Mark the session alive (the web app calls this when it issues or uses a session)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(alive_key(session_id), "1", ex=self.ttl_s)
        pipe.expire(history_key(session_id), self.ttl_s)
        pipe.expire(ids_key(session_id), self.ttl_s)
        await pipe.execute()

    async def is_open(self, session_id: str) -> bool:
        return bool(await self._redis.exists(alive_key(session_id)))

    async def append(self, session_id: str, item: dict[str, Any]) -> bool:
        """Add the item to the history and publish it; False (and nothing sent) when its id is already there."""
        added = await self._append(
            keys=[history_key(session_id), ids_key(session_id), alive_key(session_id)],
            args=[item["id"], json.dumps(item), push_channel(session_id), HISTORY_LIMIT, self.ttl_s],
        )
        return bool(added)

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in await self._redis.lrange(history_key(session_id), 0, -1)]


class WebChatTransport:
    """The outbound path's web chat transport: history + publish, deduplicated by ``key``.

    A conversation whose web chat session has expired cannot be reached (nobody will
    ever read that mailbox again): that is a permanent failure, not retried. Redis being
    unreachable is transient.
    """

    channel = "webchat"

    def __init__(self, mailbox: WebChatMailbox) -> None:
        self._mailbox = mailbox

    async def send(self, conversation: Conversation, message: OutboundMessage, key: str) -> None:
        if conversation.channel != self.channel:
            raise PermanentDeliveryError("wrong_channel")
        session_id = conversation.address
        item = make_item(
            message.author, message.text,
            buttons=[{"title": b.title, "payload": b.payload} for b in message.buttons],
            author_name=message.author_name, item_id=key,
        )
        try:
            if not await self._mailbox.is_open(session_id):
                raise PermanentDeliveryError("session_expired")
            added = await self._mailbox.append(session_id, item)
        except RedisError as error:
            raise TransientDeliveryError(f"web chat mailbox unreachable: {type(error).__name__}") from error
        logger.info("web chat message delivered", extra={"key": key, "duplicate": not added})


def create_transport() -> WebChatTransport:
    """The web chat transport the worker registers, on the mailbox the environment names."""
    settings = MailboxSettings.from_env()
    return WebChatTransport(WebChatMailbox(settings.redis(), settings.session_ttl_s))
