"""The job queue the outbound path uses: arq on Redis, JSON-encoded, jobs named by string.

Callers enqueue by job name, so no process but the worker imports worker code. A job's
id is derived from the idempotency keys of the messages it carries, so arq refuses a
second copy while the first is queued or running; after that the SQL rows' status stops
a repeat.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool

from bot.outbound.settings import OutboundSettings

DELIVER_JOB = "deliver_outbound"
SWEEP_JOB = "sweep_outbound"


def deliver_job_id(keys: Sequence[str]) -> str:
    """The arq job id of the send of these messages: the key itself for one, a digest of the keys for a batch."""
    if len(keys) == 1:
        return keys[0]
    digest = hashlib.blake2b("\n".join(sorted(keys)).encode(), digest_size=12).hexdigest()
    return f"outbound-batch:{digest}"


def serialize(job: dict[str, Any]) -> bytes:
    """JSON, not arq's default pickle: a queue entry can then never run code when read."""
    return json.dumps(job, separators=(",", ":")).encode()


def deserialize(data: bytes) -> dict[str, Any]:
    """The inverse of :func:`serialize`."""
    return json.loads(data)


def redis_settings(settings: OutboundSettings) -> RedisSettings:
    """arq's connection settings for the queue's Redis database."""
    return RedisSettings(host=settings.redis_host, port=settings.redis_port, database=settings.redis_db)


async def create_queue(settings: OutboundSettings) -> ArqRedis:
    """A connection to the queue; close it with ``await queue.close()``."""
    return await create_pool(redis_settings(settings), job_serializer=serialize, job_deserializer=deserialize)
