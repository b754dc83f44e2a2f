"""Durable, at-least-once delivery: record in SQL, queue a job, send, append to the transcript.

:meth:`Outbound.deliver` is what every process calls. It writes the message's row
first (a repeated key returns the row it already has), then queues a send job named
after the key. The worker's jobs call :meth:`Outbound.attempt_delivery` and
:meth:`Outbound.attempt_transcript`, which return how long to wait before the next try
(or None when done); the worker turns that into its queue's own retry. Transient
failures back off, bounded by ``OUTBOUND_MAX_ATTEMPTS``; a permanent one is recorded at
once. :meth:`Outbound.sweep` re-queues whatever SQL says is unfinished, so losing the
queue loses no message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from bot.db import make_engine, make_sessionmaker
from bot.outbound.messages import (
    Conversation,
    OutboundMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from bot.outbound.queue import DELIVER_JOB, TRANSCRIPT_JOB, create_queue, deliver_job_id, transcript_job_id
from bot.outbound.registry import transport_for
from bot.outbound.settings import OutboundSettings, load_outbound_settings
from bot.outbound.store import DeliveryRecord, OutboundStore, check_key, utcnow
from bot.outbound.transcript import RasaTranscript, TranscriptUnavailable
from bot.settings import load_settings

logger = logging.getLogger(__name__)

NO_PUSH = {"rest": "no_push"}
"""Channels that cannot reach a customer unasked, and the reason a delivery to them is refused."""


@dataclass
class Outbound:
    """The outbound path of one process: the SQL record and the job queue."""

    store: OutboundStore
    queue: ArqRedis
    settings: OutboundSettings
    engine: Engine | None = None

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

    async def deliver(self, conversation: Conversation, message: OutboundMessage, *, key: str) -> DeliveryRecord:
        """Record the message under ``key`` and queue its send; a known key sends nothing new.

        Raises :class:`PermanentDeliveryError` (reason ``no_push``) for a channel that
        cannot push, after recording the refusal. If the queue is unreachable the row
        stays pending and the sweep queues it later, so the caller still gets its record.
        """
        check_key(key)
        refusal = NO_PUSH.get(conversation.channel)
        record, created = await asyncio.to_thread(self.store.record, conversation, message, key, refusal=refusal)
        log = {"key": key, "channel": record.conversation.channel, "status": record.status}
        if record.conversation.channel in NO_PUSH:
            logger.warning("outbound message refused: the channel cannot push", extra=log)
            raise PermanentDeliveryError(record.last_error or NO_PUSH[record.conversation.channel])
        logger.info("outbound message recorded" if created else "outbound message already known", extra=log)
        await self.enqueue(record)
        return record

    async def enqueue(self, record: DeliveryRecord) -> bool:
        """Queue the job the row still needs (send or transcript); False if none was queued.

        arq refuses a job id that is already queued or running, so calling this twice
        for a row is harmless.
        """
        try:
            if record.status == "pending":
                job = await self.queue.enqueue_job(
                    DELIVER_JOB,
                    record.key,
                    _job_id=deliver_job_id(record.key),
                    _defer_until=max(record.next_attempt_at, utcnow()),
                )
            elif record.transcript_status == "pending":
                job = await self.queue.enqueue_job(
                    TRANSCRIPT_JOB, record.key, _job_id=transcript_job_id(record.key)
                )
            else:
                return False
        except (RedisError, OSError) as error:
            logger.warning(
                "job queue unreachable; the sweep will queue the message",
                extra={"key": record.key, "error": type(error).__name__},
            )
            return False
        return job is not None

    async def attempt_delivery(self, key: str) -> float | None:
        """One send of the message ``key`` if it is pending and due; seconds until the next try, or None."""
        now = utcnow()
        record, claimed = await asyncio.to_thread(self.store.claim_attempt, key, now)
        if record is None or record.status != "pending":
            return None
        if not claimed:
            return (record.next_attempt_at - now).total_seconds()
        log = {"key": key, "channel": record.conversation.channel, "attempt": record.attempts}
        transport = transport_for(record.conversation.channel)
        try:
            if transport is None:
                raise TransientDeliveryError("no_transport")
            await asyncio.wait_for(
                transport.send(record.conversation, record.message, key), self.settings.send_timeout_s
            )
        except PermanentDeliveryError as error:
            await asyncio.to_thread(self.store.mark_failed, key, error.reason)
            logger.warning("outbound message failed for good", extra={**log, "reason": error.reason})
            return None
        except TransientDeliveryError as error:
            return await self._retry_later(record, error.reason, error.retry_after)
        except asyncio.TimeoutError:
            return await self._retry_later(record, "timeout", None)
        except Exception as error:  # a transport bug: retried within the same bound, and logged
            logger.exception("transport raised an unexpected error", extra=log)
            return await self._retry_later(record, type(error).__name__, None)
        sent = await asyncio.to_thread(self.store.mark_sent, key, utcnow())
        logger.info("outbound message sent", extra=log)
        await self.enqueue(sent)
        return None

    async def _retry_later(self, record: DeliveryRecord, reason: str, retry_after: float | None) -> float | None:
        """Schedule the next try (the channel's ``retry_after`` wins), or give up after the last attempt."""
        log = {"key": record.key, "channel": record.conversation.channel, "attempt": record.attempts, "reason": reason}
        if record.attempts >= self.settings.max_attempts:
            await asyncio.to_thread(self.store.mark_failed, record.key, reason)
            logger.warning("outbound message failed after its last attempt", extra=log)
            return None
        delay = retry_after if retry_after is not None else self.settings.backoff_s(record.attempts)
        await asyncio.to_thread(self.store.mark_retry, record.key, reason, utcnow() + timedelta(seconds=delay))
        logger.info("outbound message will be retried", extra={**log, "delay_s": round(delay, 3)})
        return delay

    async def attempt_transcript(self, transcript: RasaTranscript, key: str) -> float | None:
        """Append a sent message to its Rasa conversation; seconds until the next try, or None."""
        record = await asyncio.to_thread(self.store.claim_transcript, key)
        if record is None:
            return None
        try:
            await transcript.append(record)
        except TranscriptUnavailable:
            if record.transcript_attempts >= self.settings.max_attempts:
                await asyncio.to_thread(self.store.mark_transcript, key, "failed")
                logger.warning("transcript entry given up", extra={"key": key})
                return None
            return self.settings.backoff_s(record.transcript_attempts)
        await asyncio.to_thread(self.store.mark_transcript, key, "appended")
        return None

    async def sweep(self) -> int:
        """Queue again every unfinished row whose job is gone; how many jobs were queued.

        SQL is the record: after Redis lost its queue, or a worker died mid-job, this is
        what finds the message again. Rows whose job is still queued are left alone.
        """
        records = await asyncio.to_thread(self.store.unfinished, self.settings.sweep_batch)
        queued = 0
        for record in records:
            queued += await self.enqueue(record)
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
