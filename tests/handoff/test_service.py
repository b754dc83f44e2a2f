"""Handing over and keeping the customer's words, with the live notices on the real Redis."""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy.engine import Engine

from bot.callbacks.policy import CallbackPolicy
from bot.db import make_sessionmaker
from bot.domain_config import SlaConfig
from bot.handoff.notices import HandoffNotices
from bot.handoff.service import Handoffs
from bot.handoff.store import HandoffRequest, HandoffStore
from bot.tickets import TicketStore
from tests.handoff.conftest import MONDAY_NOON, SUNDAY_NOON, Listener, file_ticket, make_policy, redis_client

REASONS = [{"rule": "asked_for_person", "evidence": "ask_human"}]


def service(engine: Engine, hours: CallbackPolicy, redis=redis_client, **policy) -> Handoffs:  # noqa: ANN001
    sessions = make_sessionmaker(engine)
    return Handoffs(
        HandoffStore(sessions), TicketStore(sessions, attempts=2, delay_s=0.01), make_policy(**policy), hours,
        HandoffNotices(redis), lambda text: 0.5 if "!" in text else 0.1,
    )


def handoff_request(ticket: str, sender: str = "web:alice", priority: str = "P3") -> HandoffRequest:
    return HandoffRequest(ticket_number=ticket, channel="webchat", sender_id=sender, reasons=REASONS, priority=priority)


async def test_in_hours_the_conversation_is_queued_and_every_console_hears_of_it(
    engine: Engine, hours: CallbackPolicy, tickets: TicketStore, sla: SlaConfig, listener: Listener
) -> None:
    ticket = file_ticket(tickets, sla, MONDAY_NOON)
    outcome = await service(engine, hours).hand_over(handoff_request(ticket.number), MONDAY_NOON)
    assert outcome.live and outcome.record.state == "waiting"
    assert outcome.estimate.minutes is None  # no claims yet: we cannot say
    assert await listener.next() == ("handoff:queue", {
        "event": "waiting", "handoff_id": outcome.record.id, "ticket_number": ticket.number, "channel": "webchat",
        "state": "waiting", "priority": "P3", "rules": ["asked_for_person"], "at": MONDAY_NOON.isoformat(),
    })
    again = await service(engine, hours).hand_over(handoff_request(ticket.number), MONDAY_NOON + timedelta(minutes=1))
    assert again.record == outcome.record and again.live
    assert await listener.nothing_more()


async def test_the_wait_told_comes_from_the_queue_and_recent_claims(
    engine: Engine, hours: CallbackPolicy, handoff_store: HandoffStore
) -> None:
    for n in range(12):  # twelve conversations claimed in the last two hours, each after 3 minutes
        opened = MONDAY_NOON - timedelta(minutes=110 - 9 * n)
        record = handoff_store.open(handoff_request(f"CX-{n:06d}", sender=f"web:past-{n}"), state="waiting", now=opened)
        handoff_store.claim(record.id, agent="agent:Priya", now=opened + timedelta(minutes=3))
    for n in range(2):  # two waiting now
        handoff_store.open(handoff_request(f"CX-W{n:05d}", sender=f"web:wait-{n}"), state="waiting", now=MONDAY_NOON - timedelta(minutes=1))
    outcome = await service(engine, hours).hand_over(handoff_request("CX-NEW001"), MONDAY_NOON)
    assert outcome.estimate.minutes == 30  # (2 ahead + 1) at one claim per 10 minutes
    assert handoff_store.get(outcome.record.id).wait_estimate_s == 1800


async def test_out_of_hours_or_without_live_chat_it_is_deferred_and_nothing_is_held(
    engine: Engine, hours: CallbackPolicy, handoff_store: HandoffStore, listener: Listener
) -> None:
    closed = await service(engine, hours).hand_over(handoff_request("CX-AAAAAA"), SUNDAY_NOON)
    assert (closed.live, closed.record.state, closed.estimate.minutes) == (False, "deferred", None)
    channel, notice = await listener.next()
    assert (channel, notice["event"], notice["state"], notice["ticket_number"]) == ("handoff:queue", "deferred", "deferred", "CX-AAAAAA")
    off = await service(engine, hours, agents={"live_chat": False, "hours": "callbacks"}).hand_over(
        handoff_request("CX-BBBBBB", sender="web:bob"), MONDAY_NOON
    )
    assert (off.live, off.record.state) == (False, "deferred")
    assert handoff_store.live_for_sender("web:alice") is None and handoff_store.live_for_sender("web:bob") is None


async def test_a_message_written_while_waiting_reaches_the_transcript_and_the_console(
    engine: Engine, hours: CallbackPolicy, tickets: TicketStore, sla: SlaConfig, listener: Listener
) -> None:
    ticket = file_ticket(tickets, sla, MONDAY_NOON, sender_id="web:alice")
    handoffs = service(engine, hours)
    outcome = await handoffs.hand_over(handoff_request(ticket.number), MONDAY_NOON)
    await listener.next()
    at = MONDAY_NOON + timedelta(minutes=2)
    kept = await handoffs.keep_customer_message("web:alice", "Hello? Is anyone there!", at)
    assert kept == outcome.record
    line = {"sender": "customer", "text": "Hello? Is anyone there!", "timestamp": at.isoformat(), "emotion": 0.5,
            "handoff_id": outcome.record.id}
    assert tickets.get(ticket.number).transcript[-1] == line
    assert await listener.next() == (f"handoff:chat:{outcome.record.id}", {
        "event": "customer_message", "ticket_number": ticket.number, **line,
    })
    assert await handoffs.keep_customer_message("web:nobody", "hi", at) is None
    assert await listener.nothing_more()


async def test_a_redis_that_does_not_answer_loses_no_hand_off(engine: Engine, hours: CallbackPolicy, handoff_store: HandoffStore) -> None:
    def unreachable() -> aioredis.Redis:
        return aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)

    outcome = await service(engine, hours, redis=unreachable).hand_over(handoff_request("CX-AAAAAA"), MONDAY_NOON)
    assert handoff_store.queue() == [outcome.record]
