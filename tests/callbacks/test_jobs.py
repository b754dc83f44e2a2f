"""The callback jobs run by a real arq worker (burst mode) against the real Redis named by
REDIS_HOST/REDIS_PORT, the real SQLite and PostgreSQL stores, a recording transport and a
loopback stand-in for Rasa's tracker-events endpoint. The worker's clock is driven by the test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq.worker import Worker

from bot.callbacks.jobs import REMINDER_JOB, domain_texts, queue_jobs, reminder_job_id
from bot.callbacks.policy import CallbackPolicy
from bot.callbacks.service import PUSHED_OFFER_RESPONSES, Callbacks, push_offer, pushed_payload
from bot.callbacks.slots import Slot
from bot.callbacks.store import CallbackStore
from bot.db import make_engine, make_sessionmaker
from bot.outbound import Button, Conversation, OutboundMessage
from bot.outbound.delivery import Outbound
from bot.outbound.queue import create_queue
from bot.outbound.settings import OutboundSettings
from bot.tickets import TicketDraft, TicketStore
from bot.sla import jobs as sla
from tests.callbacks.conftest import Clock
from tests.outbound.support import RasaStandIn, rasa, run_burst, settings, transports
from worker.main import worker_settings

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SLOT = Slot(datetime(2026, 12, 1, 15, 0, tzinfo=UTC), datetime(2026, 12, 1, 15, 30, tzinfo=UTC))
LATER = Slot(datetime(2026, 12, 2, 9, 0, tzinfo=UTC), datetime(2026, 12, 2, 9, 30, tzinfo=UTC))
RASA_TOKEN = "test-rasa-token-0123456789"
REMINDER_TEXT = (
    "A reminder: we'll call you about ticket {ticket} on Tue 1 Dec, 15:00 GMT, as you booked. "
    "If that no longer suits you, change or cancel it here."
)
__all__ = ["rasa", "settings", "transports"]
MANAGE_BUTTONS = (
    Button("Change the time", '/choose_option{"callback_action":"reschedule"}'),
    Button("Cancel the call", '/choose_option{"callback_action":"cancel"}'),
)


@pytest.fixture
async def outbound(settings: OutboundSettings, engine_url: str, redis_client: aioredis.Redis) -> AsyncIterator[Outbound]:
    opened = await Outbound.open(settings, engine_url)
    yield opened
    await opened.close()


RunWorker = Callable[[datetime], Awaitable[Worker]]


def without_sla_watch(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The worker's settings without the SLA watcher's jobs: these tickets' deadlines are
    deliberately past, and the watcher (tested in tests/sla) would escalate them first."""
    sla_jobs = {sla.CHECK_JOB, sla.SWEEP_JOB, sla.NOTICE_SWEEP_JOB}
    return {
        **kwargs,
        "functions": [f for f in kwargs["functions"] if f.name not in sla_jobs],
        "cron_jobs": [c for c in kwargs["cron_jobs"] if c.name not in sla_jobs],
    }


@pytest.fixture
def run_worker(settings: OutboundSettings, engine_url: str, rasa: RasaStandIn, transports) -> RunWorker:  # noqa: ANN001
    """Run the real worker, with the clock at ``now``, until its queue is empty."""

    async def run(now: datetime) -> Worker:
        kwargs: dict[str, Any] = without_sla_watch(
            worker_settings(settings, database_url=engine_url, rasa_token=RASA_TOKEN, transport_modules=())
        )
        kwargs["ctx"]["clock"] = Clock(now)
        return await run_burst(kwargs)

    return run


def file_ticket(tickets: TicketStore) -> str:
    draft = TicketDraft(
        channel="webchat", sender_id="web:s1", narrative="the kettle broke", category="product", severity="low",
        priority="P4", sla_classify_by=NOW, sla_analyse_by=NOW, sla_resolve_by=NOW, sla_close_by=NOW,
        contact="+44 7700 900123",
    )
    return tickets.create(draft, NOW).number


def book(store: CallbackStore, ticket: str, slot: Slot = SLOT, sender: str = "web:s1"):
    return store.book(
        ticket_number=ticket, channel="webchat", sender_id=sender, slot=slot, customer_timezone="Europe/London", now=NOW
    )


async def test_the_reminder_reaches_the_customer_once_before_the_call_even_after_redis_lost_it(
    stores, outbound: Outbound, redis_client: aioredis.Redis, run_worker: RunWorker, transports, rasa, policy: CallbackPolicy
) -> None:
    store, tickets = stores
    number = file_ticket(tickets)
    record = book(store, number)
    assert await queue_jobs(outbound.queue, record, policy, NOW) == 2  # reminder and missed check, deferred
    await redis_client.flushdb()  # the queue is lost; SQL still says the reminder is owed

    await run_worker(SLOT.start - timedelta(minutes=10))
    await run_worker(SLOT.start - timedelta(minutes=5))

    sends = transports["webchat"].sends
    expected = OutboundMessage(REMINDER_TEXT.format(ticket=number), MANAGE_BUTTONS)
    assert [(s.conversation, s.message, s.key) for s in sends] == [
        (Conversation("webchat", "s1"), expected, f"callback:{number}:1:reminder")
    ]
    assert store.get(record.key).reminder == "sent"
    assert [post["conversation_id"] for post in rasa.posts] == ["web:s1"]


async def test_a_reminder_too_early_is_not_sent_and_the_sweep_leaves_it_for_later(
    stores, outbound: Outbound, run_worker: RunWorker, transports
) -> None:
    store, tickets = stores
    record = book(store, file_ticket(tickets))
    await run_worker(SLOT.start - timedelta(minutes=30))
    assert transports["webchat"].sends == []
    assert store.get(record.key).reminder == "pending"


async def test_a_worker_dying_between_handing_over_and_recording_the_reminder_sends_it_once(
    stores, outbound: Outbound, run_worker: RunWorker, transports
) -> None:
    store, tickets = stores
    number = file_ticket(tickets)
    record = book(store, number)
    # What a worker killed right after deliver() leaves: the message recorded, the booking still "pending".
    await outbound.deliver(
        Conversation("webchat", "s1"), OutboundMessage(REMINDER_TEXT.format(ticket=number), MANAGE_BUTTONS),
        key=record.reminder_key,
    )
    await run_worker(SLOT.start - timedelta(minutes=10))
    assert [s.key for s in transports["webchat"].sends] == [record.reminder_key]
    assert store.get(record.key).reminder == "sent"


async def test_a_rescheduled_calls_queued_reminder_sends_nothing(
    stores, outbound: Outbound, run_worker: RunWorker, transports
) -> None:
    store, tickets = stores
    number = file_ticket(tickets)
    first = book(store, number)
    due_now = SLOT.start - timedelta(minutes=10)
    assert await outbound.queue.enqueue_job(REMINDER_JOB, first.key, _job_id=reminder_job_id(first.key)) is not None
    second = book(store, number, LATER)
    await run_worker(due_now)
    assert transports["webchat"].sends == []
    assert (store.get(first.key).state, store.get(first.key).reminder) == ("rescheduled", "pending")
    assert store.get(second.key).reminder == "pending"


async def test_a_call_not_marked_done_in_its_window_escalates_the_ticket(
    stores, outbound: Outbound, run_worker: RunWorker, transports
) -> None:
    store, tickets = stores
    number = file_ticket(tickets)
    record = book(store, number)
    late = SLOT.end + timedelta(minutes=31)
    await run_worker(late)
    assert tickets.get(number).status == "escalated"
    [change] = [e for e in tickets.events(number) if e.kind == "status"]
    assert change.detail == {
        "from": "new", "to": "escalated", "actor": "system",
        "note": f"Callback {record.key} booked for 2026-12-01T15:00:00+00:00 was not marked done within 30 minutes of its slot.",
    }
    assert (store.get(record.key).state, store.get(record.key).reminder) == ("missed", "too_late")
    assert transports["webchat"].sends == []
    await run_worker(late + timedelta(minutes=5))
    assert len([e for e in tickets.events(number) if e.kind == "status"]) == 1


async def test_a_call_marked_done_is_never_escalated(stores, outbound: Outbound, run_worker: RunWorker) -> None:
    store, tickets = stores
    number = file_ticket(tickets)
    record = book(store, number)
    store.mark_done(record.key, actor="agent:priya", now=SLOT.start + timedelta(minutes=5))
    await run_worker(SLOT.end + timedelta(hours=2))
    assert tickets.get(number).status == "new"
    assert store.get(record.key).state == "done"


async def test_a_missed_call_on_an_already_escalated_ticket_is_flagged_without_a_second_move(
    stores, outbound: Outbound, run_worker: RunWorker
) -> None:
    store, tickets = stores
    number = file_ticket(tickets)
    record = book(store, number)
    tickets.transition(number, "escalated", actor="bot", now=NOW, note="asked for a person")
    await run_worker(SLOT.end + timedelta(minutes=31))
    assert store.get(record.key).state == "missed"
    assert [e.detail["note"] for e in tickets.events(number) if e.kind == "status"] == ["asked for a person"]


async def test_a_rest_conversation_cannot_be_reminded_and_that_is_recorded(
    stores, outbound: Outbound, run_worker: RunWorker, transports
) -> None:
    store, tickets = stores
    record = book(store, file_ticket(tickets), sender="backend-42")
    await run_worker(SLOT.start - timedelta(minutes=10))
    assert store.get(record.key).reminder == "no_push"
    assert transports["webchat"].sends == [] and transports["telegram"].sends == []


async def test_booking_queues_both_jobs_deferred_to_their_due_times(
    stores, outbound: Outbound, redis_client: aioredis.Redis, policy: CallbackPolicy
) -> None:
    store, tickets = stores
    record = book(store, file_ticket(tickets))
    before = time.time()
    assert await queue_jobs(outbound.queue, record, policy, NOW) == 2
    assert await queue_jobs(outbound.queue, record, policy, NOW) == 0  # the same job ids are refused
    reminder_at = await redis_client.zscore("arq:queue", reminder_job_id(record.key))
    missed_at = await redis_client.zscore("arq:queue", f"{record.key}:missed")
    assert reminder_at / 1000 - before == pytest.approx((SLOT.start - timedelta(minutes=15) - NOW).total_seconds(), abs=5)
    assert missed_at / 1000 - before == pytest.approx((SLOT.end + timedelta(minutes=30) - NOW).total_seconds(), abs=5)


async def test_an_offer_pushed_near_a_breach_reaches_the_customer_once(
    stores, outbound: Outbound, run_worker: RunWorker, transports, policy: CallbackPolicy, settings: OutboundSettings
) -> None:
    store, tickets = stores
    number = file_ticket(tickets)
    service = Callbacks(store, policy, lambda: create_queue(settings))
    texts = domain_texts(PUSHED_OFFER_RESPONSES)
    first = await push_offer(service, outbound, texts, ticket_number=number, sender_id="web:s1", now=NOW)
    again = await push_offer(service, outbound, texts, ticket_number=number, sender_id="web:s1", now=NOW)
    await run_worker(NOW)
    assert first.key == again.key == f"callback:{number}:offer:breach"
    [send] = transports["webchat"].sends
    assert send.message.text.startswith(f"I'm sorry your case {number} is taking longer than it should.")
    assert "\n1. Mon 30 Nov, 13:00 GMT\n2. Mon 30 Nov, 13:30 GMT\n3. Mon 30 Nov, 14:00 GMT\n4. Mon 30 Nov, 14:30 GMT\n" in send.message.text
    assert [b.payload for b in send.message.buttons] == [
        pushed_payload(iso, number)
        for iso in ("2026-11-30T13:00:00+00:00", "2026-11-30T13:30:00+00:00", "2026-11-30T14:00:00+00:00",
                    "2026-11-30T14:30:00+00:00", "none")
    ]


async def test_two_workers_at_once_send_each_reminder_once(
    stores, engine_url: str, outbound: Outbound, run_worker: RunWorker, transports
) -> None:
    _, tickets = stores
    engine = make_engine(engine_url)
    store = CallbackStore(make_sessionmaker(engine), capacity=5)
    records = [book(store, file_ticket(tickets), sender=f"web:s{index}") for index in range(5)]
    await asyncio.gather(run_worker(SLOT.start - timedelta(minutes=10)), run_worker(SLOT.start - timedelta(minutes=10)))
    keys = [s.key for s in transports["webchat"].sends]
    assert sorted(keys) == sorted(record.reminder_key for record in records)
    assert {store.get(record.key).reminder for record in records} == {"sent"}
    engine.dispose()
