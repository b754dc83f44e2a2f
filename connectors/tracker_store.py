"""Rasa's Redis tracker store, without blocking the server's event loop on Redis.

Rasa 3.6's ``RedisTrackerStore`` talks to Redis through the synchronous client: every
message reads the conversation once to load it and twice more to save it (a read to
merge with, then the write), and while a reply of tens of kilobytes travels, the Rasa
server does nothing else. Under load, with several messages in progress per server, that
wait was 13 % of a Rasa server's time. This store issues the same commands with
``redis.asyncio``, so the other messages in progress run meanwhile. Keys, values,
expiry, the merge and the session split are Rasa's own; only the waiting changes.

Configured in ``endpoints.yml`` as ``type: connectors.tracker_store.AsyncRedisTrackerStore``
with the same settings as Rasa's ``type: redis``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import rasa.shared.core.trackers
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from redis import asyncio as redis_asyncio


class AsyncRedisTrackerStore(RedisTrackerStore):
    """``RedisTrackerStore`` whose reads and writes are awaited (see the module docstring)."""

    def __init__(
        self,
        domain: Domain,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        event_broker: EventBroker | None = None,
        record_exp: float | None = None,
        key_prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Rasa's store (its synchronous client still serves ``keys()``), plus the settings of an
        asynchronous client made for each event loop that uses the store."""
        super().__init__(
            domain, host=host, port=int(port), db=int(db), username=username, password=password,
            event_broker=event_broker, record_exp=record_exp, key_prefix=key_prefix, **kwargs,
        )
        self._connection = {
            "host": host, "port": int(port), "db": int(db), "username": username, "password": password,
            "decode_responses": True,
        }
        self._clients: dict[asyncio.AbstractEventLoop, redis_asyncio.Redis] = {}

    def _client(self) -> redis_asyncio.Redis:
        """The asynchronous client of the running event loop (a client cannot cross loops)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for closed in [other for other in self._clients if other.is_closed()]:
                del self._clients[closed]
            client = self._clients[loop] = redis_asyncio.Redis(**self._connection)
        return client

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        """Rasa's save: merge with what is stored, then write, with both commands awaited."""
        await self.stream_events(tracker)
        if not timeout and self.record_exp:
            timeout = self.record_exp
        key = self.key_prefix + tracker.sender_id
        client = self._client()
        stored = await client.get(key)
        if stored is not None:
            prior_tracker = self.deserialise_tracker(tracker.sender_id, stored)
            tracker = self._merge_trackers(prior_tracker, tracker)
        await client.set(key, self.serialise_tracker(tracker), ex=timeout)

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        """Rasa's read: the whole conversation, or only its latest session."""
        stored = await self._client().get(self.key_prefix + sender_id)
        if stored is None:
            return None
        tracker = self.deserialise_tracker(sender_id, stored)
        if fetch_all_sessions:
            return tracker
        sessions = rasa.shared.core.trackers.get_trackers_for_conversation_sessions(tracker)
        return tracker if len(sessions) <= 1 else sessions[-1]
