"""deliver() on the caller's side: the SQL record, the queued job, REST refused, the sweep.

Real Redis (DB 4) and the real SQLite and PostgreSQL stores; the worker's side is in
tests/worker.
"""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

import bot.outbound
from bot.outbound import delivery
from bot.outbound import Button, Conversation, OutboundMessage, PermanentDeliveryError
from bot.outbound.delivery import Outbound
from bot.outbound.queue import DELIVER_JOB, deliver_job_id
from tests.outbound.support import REDIS_HOST, REDIS_PORT

QUEUE = "arq:queue"
WEB = Conversation("webchat", "session-a")
REMINDER = OutboundMessage(
    "Your call back is at 15:00.", (Button("Keep it", "/affirm"), Button("Move it", "/deny")), "system"
)


async def test_deliver_records_the_message_and_queues_one_job_named_by_its_key(
    outbound: Outbound, redis_client: aioredis.Redis
) -> None:
    record = await outbound.deliver(WEB, REMINDER, key="callback:CX-1:reminder")

    assert (record.key, record.conversation, record.message) == ("callback:CX-1:reminder", WEB, REMINDER)
    assert (record.status, record.attempts, record.last_error, record.sent_at) == ("pending", 0, None, None)
    assert record.transcript_status is None
    assert record.next_attempt_at == record.created_at
    assert record.created_at.tzinfo is not None
    assert await redis_client.zrange(QUEUE, 0, -1) == [b"callback:CX-1:reminder"]
    job = json.loads(await redis_client.get("arq:job:callback:CX-1:reminder"))
    assert (job["f"], job["a"]) == (DELIVER_JOB, ["callback:CX-1:reminder"])


async def test_a_repeated_key_returns_the_first_record_and_queues_nothing_more(
    outbound: Outbound, redis_client: aioredis.Redis
) -> None:
    first = await outbound.deliver(WEB, REMINDER, key="followup:CX-2:72h")
    again = await outbound.deliver(
        Conversation("telegram", "999"), OutboundMessage("something else", author="agent"), key="followup:CX-2:72h"
    )

    assert again == first
    assert await redis_client.zcard(QUEUE) == 1


async def test_rest_has_no_push_so_delivery_is_refused_and_recorded(
    outbound: Outbound, redis_client: aioredis.Redis
) -> None:
    rest = Conversation("rest", "crm-42")
    for _ in range(2):
        with pytest.raises(PermanentDeliveryError) as refused:
            await outbound.deliver(rest, OutboundMessage("Ticket updated."), key="status:CX-3:resolved")
        assert refused.value.reason == "no_push"

    record = outbound.store.get("status:CX-3:resolved")
    assert record is not None
    assert (record.conversation, record.status, record.last_error, record.attempts) == (rest, "failed", "no_push", 0)
    assert await redis_client.zcard(QUEUE) == 0


async def test_the_sweep_queues_again_what_redis_lost_and_leaves_queued_jobs_alone(
    outbound: Outbound, redis_client: aioredis.Redis
) -> None:
    await outbound.deliver(WEB, REMINDER, key="k-lost-1")
    await outbound.deliver(Conversation("telegram", "77"), REMINDER, key="k-lost-2")
    with pytest.raises(PermanentDeliveryError):
        await outbound.deliver(Conversation("rest", "x"), REMINDER, key="k-refused")
    await redis_client.flushdb()

    assert await outbound.sweep() == 2  # both messages, in one job
    batch = deliver_job_id(["k-lost-1", "k-lost-2"])
    assert batch.startswith("outbound-batch:")
    assert await redis_client.zrange(QUEUE, 0, -1) == [batch.encode()]
    job = json.loads(await redis_client.get(f"arq:job:{batch}"))
    assert (job["f"], job["a"]) == (DELIVER_JOB, ["k-lost-1", "k-lost-2"])
    assert await outbound.sweep() == 0
    assert await redis_client.zcard(QUEUE) == 1


async def test_a_queue_that_is_down_loses_nothing(outbound: Outbound, redis_client: aioredis.Redis) -> None:
    await outbound.queue.close(close_connection_pool=True)
    outbound.queue.connection_pool.connection_kwargs["port"] = 16103  # nothing listens there

    record = await outbound.deliver(WEB, REMINDER, key="k-while-redis-down")

    assert record.status == "pending"
    assert outbound.store.get("k-while-redis-down") == record
    assert outbound.store.unfinished(10) == [record]


async def test_keys_are_bounded(outbound: Outbound) -> None:
    with pytest.raises(ValueError, match="1 to 200 characters"):
        await outbound.deliver(WEB, REMINDER, key="")
    with pytest.raises(ValueError, match="1 to 200 characters"):
        await outbound.deliver(WEB, REMINDER, key="k" * 201)


async def test_the_module_level_deliver_opens_the_process_path_from_the_environment(
    migrated_url: str, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("WORKER_REDIS_DB", "4")
    monkeypatch.setenv("REDIS_HOST", REDIS_HOST)
    monkeypatch.setenv("REDIS_PORT", str(REDIS_PORT))
    try:
        record = await bot.outbound.deliver(WEB, REMINDER, key="survey:CX-5:72h")
        assert record.status == "pending"
        assert await redis_client.zrange(QUEUE, 0, -1) == [b"survey:CX-5:72h"]
        assert delivery._process is not None
        assert delivery._process.store.get("survey:CX-5:72h") == record
    finally:
        if delivery._process is not None:
            await delivery._process.close()
        bot.outbound.use(None)


async def test_an_app_can_hand_its_own_outbound_path_to_deliver(
    outbound: Outbound, redis_client: aioredis.Redis
) -> None:
    bot.outbound.use(outbound)
    try:
        record = await bot.outbound.deliver(WEB, REMINDER, key="handoff:CX-6:agent-joined")
    finally:
        bot.outbound.use(None)
    assert outbound.store.get("handoff:CX-6:agent-joined") == record
