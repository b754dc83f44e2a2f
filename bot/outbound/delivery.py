"""Durable, at-least-once delivery: record in SQL, queue a job, send, append to the transcript.

:meth:`Outbound.deliver` (one message) and :meth:`Outbound.deliver_many` (a batch, as
the follow-up jobs hand them over) are what every process calls. They write the
messages' rows first (a repeated key returns the row it already has), then queue one
send job for the batch, named after its keys. The worker's job calls
:meth:`Outbound.attempt`, which sends every message of the batch that is due, marks
them sent, appends them to their Rasa conversations, and returns how long to wait
before the next piece of the batch is due (or None when all are done); the worker
turns that into its queue's own retry. Each of those steps is one SQL statement for
the whole batch. Transient failures back off, bounded by ``OUTBOUND_MAX_ATTEMPTS``; a
permanent one is recorded at once. :meth:`Outbound.sweep` re-queues whatever SQL says
is owed and due, so losing the queue loses no message.

Some messages are news that can go stale while they wait (a status notice queued while
the worker was down, overtaken by the next move). Their senders register a check with
:meth:`Outbound.withhold`; the job asks it about the messages it has just claimed,
right before sending, and records those it names ``failed`` (reason ``overtaken``)
without sending them. The check works on claimed rows, so it adds no step to the
protocol: a job that dies before or after it leaves the rows to the next one as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import TypeVar

import async_timeout
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from bot.db import make_engine, make_sessionmaker
from bot.outbound.messages import (
    Conversation,
    OutboundMessage,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from bot.outbound.queue import DELIVER_JOB, create_queue, deliver_job_id
from bot.outbound.registry import transport_for
from bot.outbound.settings import OutboundSettings, load_outbound_settings
from bot.outbound.store import DeliveryRecord, OutboundStore, utcnow
from bot.outbound.transcript import RasaTranscript, TranscriptUnavailable
from bot.settings import load_settings

logger = logging.getLogger(__name__)

NO_PUSH = {"rest": "no_push"}
"""Channels that cannot reach a customer unasked, and the reason a delivery to them is refused."""

CONCURRENCY = 32
"""Sends (or transcript appends) of one batch in flight at once."""
OVERTAKEN = "overtaken"
"""The reason recorded for a message withheld because its news no longer holds (:meth:`Outbound.withhold`)."""

OvertakenCheck = Callable[[Sequence[str]], Collection[str]]
"""Given message keys, the ones no longer worth sending (synchronous: it is run in a thread)."""

T = TypeVar("T")


async def _each(work: Callable[[DeliveryRecord], Awaitable[T]], records: Sequence[DeliveryRecord]) -> list[T]:
    """``work`` on every record, results in the records' order, by :data:`CONCURRENCY` tasks that share them.

    A fixed set of tasks rather than one per record: a task costs more than an instant
    send, and a batch holds hundreds.
    """
    pending = iter(enumerate(records))
    done: dict[int, T] = {}

    async def worker() -> None:
        for index, record in pending:
            done[index] = await work(record)

    await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(records)))))
    return [done[index] for index in range(len(records))]


@dataclass
class Outbound:
    """The outbound path of one process: the SQL record and the job queue."""

    store: OutboundStore
    queue: ArqRedis
    settings: OutboundSettings
    engine: Engine | None = None
    overtaken_checks: dict[str, OvertakenCheck] = field(default_factory=dict)

    @classmethod
    async def open(cls, settings: OutboundSettings, database_url: str) -> Outbound:
        """Connect to the store and the queue (the schema is migrated by set-up and the worker)."""
        engine = make_engine(database_url)
        queue = await create_queue(settings)
        return cls(OutboundStore(make_sessionmaker(engine)), queue, settings, engine)

    async def close(self) -> None:
        """Release the queue connection and the engine this object opened."""
        await self.queue.close(close_connection_pool=True)
        if self.engine is not None:
            self.engine.dispose()

    def withhold(self, prefix: str, overtaken: OvertakenCheck) -> None:
        """Ask ``overtaken`` about the messages whose keys start with ``prefix`` right before they are sent;
        those it names are recorded ``failed`` (reason :data:`OVERTAKEN`) and never sent."""
        self.overtaken_checks[prefix] = overtaken

    async def deliver(self, conversation: Conversation, message: OutboundMessage, *, key: str) -> DeliveryRecord:
        """Record the message under ``key`` and queue its send; a known key sends nothing new.

        Raises :class:`PermanentDeliveryError` (reason ``no_push``) for a channel that
        cannot push, after recording the refusal. If the queue is unreachable the row
        stays pending and the sweep queues it later, so the caller still gets its record.
        """
        [record] = await self.deliver_many([Outgoing(conversation, message, key)])
        if record.conversation.channel in NO_PUSH:
            raise PermanentDeliveryError(record.last_error or NO_PUSH[record.conversation.channel])
        return record

    async def deliver_many(self, items: Sequence[Outgoing]) -> list[DeliveryRecord]:
        """Record every item under its key and queue one send job for those still owed; their records, in order.

        A record for a channel that cannot push comes back ``failed`` with reason
        ``no_push`` and is never sent. Known keys send nothing new.
        """
        if not items:
            return []
        records = await asyncio.to_thread(self.store.record_many, items, refusals=NO_PUSH)
        for record in records:
            if record.conversation.channel in NO_PUSH:
                logger.warning("outbound message refused: the channel cannot push", extra={"key": record.key})
        queued = await self.enqueue(records)
        logger.info("outbound messages recorded", extra={"messages": len(records), "queued": queued})
        return records

    async def enqueue(self, records: Sequence[DeliveryRecord]) -> int:
        """Queue one job for the records still owed a send or a transcript entry; how many it covers (0 if none was queued).

        The job's id is derived from its keys and arq refuses an id that is queued or
        running, so queuing the same records twice is harmless.
        """
        owed = [record for record in records if record.status == "pending" or record.transcript_status == "pending"]
        if not owed:
            return 0
        keys = [record.key for record in owed]
        try:
            job = await self.queue.enqueue_job(
                DELIVER_JOB,
                *keys,
                _job_id=deliver_job_id(keys),
                _defer_until=max(min(record.next_attempt_at for record in owed), utcnow()),
            )
        except (RedisError, OSError) as error:
            logger.warning(
                "job queue unreachable; the sweep will queue the messages",
                extra={"messages": len(keys), "error": type(error).__name__},
            )
            return 0
        return len(keys) if job is not None else 0

    async def attempt(self, transcript: RasaTranscript, keys: Sequence[str]) -> float | None:
        """Do what the keys' messages still need and is due: the send, then the transcript entry.

        Returns the seconds until the next of them is due (a retry, or a message another
        job holds), or None when every one is finished (sent and in its transcript, or
        failed for good).
        """
        lease = timedelta(seconds=self.settings.claim_lease_s)
        owed = await self._send_due(keys, lease)
        if len(owed) < len(keys):  # entries owed from before: Rasa was away, or a worker died after the send
            sent = {record.key for record in owed}
            rest = [key for key in keys if key not in sent]
            owed += await asyncio.to_thread(self.store.claim_transcripts, rest, utcnow(), lease)
        appended = [key for key in await _each(partial(self._append, transcript), owed) if key]
        if appended:
            await asyncio.to_thread(self.store.mark_transcripts, appended, "appended")
        if len(appended) == len(keys):
            return None
        next_due = await asyncio.to_thread(self.store.next_due, keys)
        return None if next_due is None else max((next_due - utcnow()).total_seconds(), 0.0)

    async def _send_due(self, keys: Sequence[str], lease: timedelta) -> list[DeliveryRecord]:
        """Send the keys' messages that are pending and due; the records of those sent, whose
        transcript entries this job now holds (:meth:`OutboundStore.mark_sent`)."""
        claimed = await asyncio.to_thread(self.store.claim_sends, keys, utcnow(), lease)
        claimed = await self._drop_overtaken(claimed)
        sent = [record for record in await _each(self._send, claimed) if record]
        if not sent:
            return []
        sent_at = utcnow()
        await asyncio.to_thread(self.store.mark_sent, [record.key for record in sent], sent_at, lease)
        logger.info("outbound messages sent", extra={"messages": len(sent)})
        return [
            replace(record, status="sent", sent_at=sent_at, last_error=None, transcript_status="pending",
                    transcript_attempts=record.transcript_attempts + 1)
            for record in sent
        ]

    async def _drop_overtaken(self, claimed: list[DeliveryRecord]) -> list[DeliveryRecord]:
        """The claimed records still worth sending; the others are recorded failed, :data:`OVERTAKEN`."""
        overtaken: set[str] = set()
        for prefix, check in self.overtaken_checks.items():
            keys = [record.key for record in claimed if record.key.startswith(prefix)]
            if keys:
                overtaken.update(await asyncio.to_thread(check, keys))
        if not overtaken:
            return claimed
        await asyncio.to_thread(self.store.mark_failed_many, sorted(overtaken), OVERTAKEN)
        logger.info("outbound messages withheld: their news was overtaken", extra={"messages": len(overtaken)})
        return [record for record in claimed if record.key not in overtaken]

    async def _send(self, record: DeliveryRecord) -> DeliveryRecord | None:
        """One send of a claimed message; its record once the customer has it, None after a failure (recorded)."""
        log = {"key": record.key, "channel": record.conversation.channel, "attempt": record.attempts}
        transport = transport_for(record.conversation.channel)
        try:
            if transport is None:
                raise TransientDeliveryError("no_transport")
            async with async_timeout.timeout(self.settings.send_timeout_s):
                await transport.send(record.conversation, record.message, record.key)
        except PermanentDeliveryError as error:
            await asyncio.to_thread(self.store.mark_failed, record.key, error.reason)
            logger.warning("outbound message failed for good", extra={**log, "reason": error.reason})
            return None
        except TransientDeliveryError as error:
            await self._retry_later(record, error.reason, error.retry_after)
            return None
        except asyncio.TimeoutError:
            await self._retry_later(record, "timeout", None)
            return None
        except Exception as error:  # a transport bug: retried within the same bound, and logged
            logger.exception("transport raised an unexpected error", extra=log)
            await self._retry_later(record, type(error).__name__, None)
            return None
        return record

    async def _retry_later(self, record: DeliveryRecord, reason: str, retry_after: float | None) -> None:
        """Schedule the next try (the channel's ``retry_after`` wins), or give up after the last attempt."""
        log = {"key": record.key, "channel": record.conversation.channel, "attempt": record.attempts, "reason": reason}
        if record.attempts >= self.settings.max_attempts:
            await asyncio.to_thread(self.store.mark_failed, record.key, reason)
            logger.warning("outbound message failed after its last attempt", extra=log)
            return
        delay = retry_after if retry_after is not None else self.settings.backoff_s(record.attempts)
        await asyncio.to_thread(self.store.mark_retry, record.key, reason, utcnow() + timedelta(seconds=delay))
        logger.info("outbound message will be retried", extra={**log, "delay_s": round(delay, 3)})

    async def _append(self, transcript: RasaTranscript, record: DeliveryRecord) -> str | None:
        """Append a sent message to its Rasa conversation; its key once appended, None when it must wait or was given up."""
        try:
            await transcript.append(record)
        except TranscriptUnavailable:
            if record.transcript_attempts >= self.settings.max_attempts:
                await asyncio.to_thread(self.store.mark_transcripts, [record.key], "failed")
                logger.warning("transcript entry given up", extra={"key": record.key})
            else:
                delay = self.settings.backoff_s(record.transcript_attempts)
                await asyncio.to_thread(self.store.retry_transcript, record.key, utcnow() + timedelta(seconds=delay))
            return None
        return record.key

    async def sweep(self) -> int:
        """Queue again the rows owed work that is due now; how many messages the queued job covers.

        SQL is the record: after Redis lost its queue, or a worker died mid-job, this is
        what finds the message again. A row not yet due is waiting for its retry, or is
        held by a job at work on it; it is the sweep's once that time has passed. A job
        already queued for the same rows makes arq refuse this one.
        """
        records = await asyncio.to_thread(self.store.unfinished, self.settings.sweep_batch, due_by=utcnow())
        queued = await self.enqueue(records)
        if queued:
            logger.info("sweep queued unfinished outbound messages", extra={"queued": queued})
        return queued


_process: Outbound | None = None
_process_loop: asyncio.AbstractEventLoop | None = None


def use(outbound: Outbound | None) -> None:
    """Make ``outbound`` the one :func:`deliver` uses in this process (an app that opened its own)."""
    global _process, _process_loop
    _process = outbound
    _process_loop = asyncio.get_running_loop() if outbound is not None else None


async def deliver(conversation: Conversation, message: OutboundMessage, *, key: str) -> DeliveryRecord:
    """Reach the customer in the conversation they used, at least once, exactly once per ``key``.

    Opens the process's outbound path from the environment on first use (the queue
    connection belongs to an event loop, so another loop gets its own).
    """
    global _process, _process_loop
    loop = asyncio.get_running_loop()
    if _process is None or _process_loop is not loop:
        _process = await Outbound.open(load_outbound_settings(), load_settings().database_url)
        _process_loop = loop
    return await _process.deliver(conversation, message, key=key)
