"""The SLA watcher and the status notices run by a real arq worker on the real Redis
(REDIS_HOST/REDIS_PORT, SLA_TEST_REDIS_DB) and the real SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis

from bot.outbound.delivery import Outbound
from bot.sla.jobs import CHECK_JOB, watch_ticket
from bot.sla.notices import StatusNotices
from bot.sla.watch import utcnow
from tests.outbound.support import RasaStandIn, RecordingTransport
from tests.sla.conftest import DrivenClock, RunWorker, SlaWorld, make_draft

QUEUE = "arq:queue"


def file_due_soon(world: SlaWorld, opened: datetime, sender_id: str = "web:soon") -> str:
    """A ticket whose stage deadlines fall within seconds of ``opened`` (escalation already due)."""
    draft = make_draft(
        opened, world.sla, sender_id=sender_id,
        sla_classify_by=opened + timedelta(seconds=1), sla_analyse_by=opened + timedelta(seconds=1.5),
        sla_resolve_by=opened + timedelta(seconds=2), sla_close_by=opened + timedelta(seconds=2.5),
    )
    return world.tickets.create(draft, opened).number


async def test_a_breach_is_detected_when_it_happens_by_the_job_deferred_to_its_deadline(
    world: SlaWorld, redis_client: aioredis.Redis, outbound: Outbound, rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    opened = utcnow()
    number = file_due_soon(world, opened)
    world.tickets.transition(number, "acknowledged", actor="agent:Priya", now=opened + timedelta(milliseconds=100))

    planned = await watch_ticket(world.watch, outbound.queue, number)
    queued = {member.decode(): score for member, score in await redis_client.zrange(QUEUE, 0, -1, withscores=True)}
    await run_worker(until=opened + timedelta(seconds=3))

    stages = [c for c in planned if c.check != "escalate"]
    assert {c.key: round(c.due_at.timestamp() * 1000) for c in stages} == {
        key: score for key, score in queued.items() if key.startswith("sla:") and not key.endswith(":escalate")
    }
    assert opened.timestamp() * 1000 <= queued[f"sla:{number}:escalate"] <= utcnow().timestamp() * 1000
    checks = {c.check: c for c in world.watch.checks(number)}
    assert {name: c.outcome for name, c in checks.items()} == {
        "classify": "met", "analyse": "breached", "resolve": "breached", "total": "breached", "escalate": "escalated",
    }
    for name in ("classify", "analyse", "resolve", "total"):
        late = (checks[name].done_at - checks[name].due_at).total_seconds()
        assert 0 <= late < 2, f"{name} judged {late:.2f} s after its deadline"
    stages = [e.detail["stage"] for e in world.tickets.events(number) if e.kind == "sla_breach"]
    assert sorted(stages) == ["analyse", "resolve", "total"]


async def test_checks_lost_with_the_queue_are_found_again_by_the_sweep(
    world: SlaWorld, redis_client: aioredis.Redis, outbound: Outbound, rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    opened = utcnow() - timedelta(seconds=5)
    numbers = [file_due_soon(world, opened, sender_id=f"web:lost-{i}") for i in range(3)]
    for number in numbers:
        await watch_ticket(world.watch, outbound.queue, number)
    assert await redis_client.zcard(QUEUE) == 15
    await redis_client.flushdb()

    await run_worker()

    for number in numbers:
        assert [(c.check, c.outcome) for c in world.watch.checks(number)] == [
            ("classify", "breached"), ("analyse", "breached"), ("resolve", "breached"), ("total", "breached"), ("escalate", "escalated"),
        ]
        assert len([e for e in world.tickets.events(number) if e.kind == "sla_breach"]) == 4
    assert world.watch.overdue(utcnow()) == []


async def test_a_check_whose_clock_says_not_yet_waits_and_the_upcoming_ones_are_queued(
    world: SlaWorld, redis_client: aioredis.Redis, outbound: Outbound, rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    """With a driven clock the sweep judges what is overdue at that time and queues the rest."""
    clock = DrivenClock(utcnow())
    number = world.file(opened=clock.now)
    clock.advance(hours=3)

    await run_worker(clock=clock)

    checks = {c.check: c for c in world.watch.checks(number)}
    assert (checks["classify"].outcome, checks["classify"].done_at) == ("breached", clock.now)
    assert [checks[n].done_at for n in ("analyse", "resolve", "total", "escalate")] == [None] * 4
    queued = {m.decode(): score for m, score in await redis_client.zrange(QUEUE, 0, -1, withscores=True)}
    assert {key: score for key, score in queued.items() if key.startswith("sla:")} == {
        f"sla:{number}:{n}": round(checks[n].due_at.timestamp() * 1000) for n in ("analyse", "resolve", "total", "escalate")
    }
    job = await redis_client.get(f"arq:job:sla:{number}:analyse")
    assert job is not None and CHECK_JOB in job.decode()


async def test_the_customer_is_told_once_when_their_ticket_is_being_worked_on_and_when_resolved(
    world: SlaWorld, outbound: Outbound, notices: StatusNotices, transports: dict[str, RecordingTransport],
    rasa: RasaStandIn, run_worker: RunWorker,
) -> None:
    now = datetime.now(timezone.utc)
    number = world.file(opened=now - timedelta(minutes=10), sender_id="web:session-notice")
    world.tickets.transition(number, "acknowledged", actor="agent:Priya", now=now - timedelta(minutes=9))
    world.tickets.transition(number, "in_progress", actor="agent:Priya", now=now - timedelta(minutes=8))

    await run_worker()
    await run_worker()
    world.tickets.transition(number, "resolved", actor="agent:Priya", now=utcnow(), note="refund issued")
    assert await notices.deliver_pending(outbound, utcnow(), ticket=number) == [f"status:{number}:{world.tickets.events(number)[-1].id}"]
    assert await notices.deliver_pending(outbound, utcnow(), ticket=number) == []
    await run_worker()

    sends = transports["webchat"].sends
    events = {e.detail["to"]: e.id for e in world.tickets.events(number) if e.kind == "status"}
    assert [(s.conversation.sender_id, s.key, s.message.text) for s in sends] == [
        ("web:session-notice", f"status:{number}:{events['in_progress']}",
         f"An update on ticket {number}: our team is now working on your complaint. I'll let you know here as soon as it is resolved."),
        ("web:session-notice", f"status:{number}:{events['resolved']}",
         f"Good news about ticket {number}: our team has resolved your complaint. If something is still not right, just tell me here."),
    ]
    assert [p["json"]["metadata"]["outbound_key"] for p in rasa.posts] == [s.key for s in sends]


async def test_overtaken_stale_and_unpushable_changes_are_not_announced(
    world: SlaWorld, outbound: Outbound, notices: StatusNotices, transports: dict[str, RecordingTransport],
    rasa: RasaStandIn, run_worker: RunWorker,
) -> None:
    now = utcnow()
    overtaken = world.file(opened=now - timedelta(minutes=10), sender_id="web:overtaken")
    stale = world.file(opened=now - timedelta(hours=5), sender_id="tg:4242")
    rest = world.file(opened=now - timedelta(minutes=10), sender_id="backend-7", channel="rest")
    for number, at in ((overtaken, now - timedelta(minutes=5)), (stale, now - timedelta(hours=2)), (rest, now - timedelta(minutes=5))):
        world.tickets.transition(number, "acknowledged", actor="agent:Priya", now=at)
        world.tickets.transition(number, "in_progress", actor="agent:Priya", now=at)
    world.tickets.transition(overtaken, "escalated", actor="agent:Priya", now=now - timedelta(minutes=4))

    assert [n.ticket_number for n in notices.pending(now)] == [rest]
    assert await notices.deliver_pending(outbound, now) == []
    await run_worker()

    assert transports["webchat"].sends == [] and transports["telegram"].sends == []
    refused = outbound.store.get(f"status:{rest}:{world.tickets.events(rest)[-1].id}")
    assert refused is not None and (refused.status, refused.last_error) == ("failed", "no_push")
    assert notices.pending(now) == []


RESOLVED_TEXT = "Good news about ticket {}: our team has resolved your complaint. If something is still not right, just tell me here."


@pytest.mark.parametrize(
    ("moves", "told"),
    [(["resolved"], "resolved"), (["withdrawn"], None), (["resolved", "closed"], None)],
    ids=["resolved", "withdrawn", "resolved-then-closed"],
)
async def test_a_notice_queued_while_the_worker_was_down_is_not_sent_once_the_ticket_has_moved_on(
    moves: list[str], told: str | None, world: SlaWorld, outbound: Outbound, notices: StatusNotices,
    transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker,
) -> None:
    """The "in progress" notice is recorded and queued, but no worker runs; the ticket moves on
    (each move announced as the API does); when the worker comes back only news that still
    holds reaches the customer."""
    now = utcnow()
    number = world.file(opened=now - timedelta(minutes=10), sender_id="web:session-late")
    world.tickets.transition(number, "acknowledged", actor="agent:Priya", now=now - timedelta(minutes=9))
    world.tickets.transition(number, "in_progress", actor="agent:Priya", now=now - timedelta(minutes=8))
    in_progress = f"status:{number}:{world.tickets.events(number)[-1].id}"
    assert await notices.deliver_pending(outbound, now, ticket=number) == [in_progress]
    for to in moves:
        world.tickets.transition(number, to, actor="agent:Priya", now=utcnow())
        await notices.deliver_pending(outbound, utcnow(), ticket=number)

    await run_worker()

    events = {e.detail["to"]: e.id for e in world.tickets.events(number) if e.kind == "status"}
    expected = [] if told is None else [(f"status:{number}:{events[told]}", RESOLVED_TEXT.format(number))]
    assert [(s.key, s.message.text) for s in transports["webchat"].sends] == expected
    assert [p["json"]["metadata"]["outbound_key"] for p in rasa.posts] == [key for key, _ in expected]
    withheld = outbound.store.get(in_progress)
    assert (withheld.status, withheld.last_error, withheld.sent_at) == ("failed", "overtaken", None)
    if moves == ["resolved", "closed"]:
        resolved = outbound.store.get(f"status:{number}:{events['resolved']}")
        assert (resolved.status, resolved.last_error) == ("failed", "overtaken")
    assert outbound.store.unfinished(10) == []


def test_only_notices_whose_ticket_has_moved_on_are_overtaken(world: SlaWorld, notices: StatusNotices) -> None:
    now = utcnow()
    current, moved = (world.file(opened=now - timedelta(minutes=10), sender_id=f"web:{name}") for name in ("current", "moved"))
    for number in (current, moved):
        world.tickets.transition(number, "acknowledged", actor="agent:Priya", now=now)
        world.tickets.transition(number, "in_progress", actor="agent:Priya", now=now)
    keys = {number: f"status:{number}:{world.tickets.events(number)[-1].id}" for number in (current, moved)}
    world.tickets.transition(moved, "escalated", actor="sla-watch", now=now)
    world.tickets.transition(moved, "in_progress", actor="agent:Priya", now=now)
    again = f"status:{moved}:{world.tickets.events(moved)[-1].id}"

    assert notices.overtaken([keys[current], keys[moved], again, "status:CX-GONE00:999999", "followup:CX-1:72h"]) == {
        keys[moved], "status:CX-GONE00:999999",
    }


async def test_four_workers_at_once_record_each_breach_and_escalation_once(
    world: SlaWorld, redis_client: aioredis.Redis, outbound: Outbound, rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    """Jobs, and every worker's start-up sweep, race for the same overdue checks."""
    opened = utcnow() - timedelta(seconds=5)
    numbers = [file_due_soon(world, opened, sender_id=f"web:crowd-{i}") for i in range(8)]
    for number in numbers[:4]:
        await watch_ticket(world.watch, outbound.queue, number)

    await asyncio.gather(*(run_worker() for _ in range(4)))

    for number in numbers:
        history = world.tickets.events(number)
        assert sorted(e.detail["stage"] for e in history if e.kind == "sla_breach") == ["analyse", "classify", "resolve", "total"]
        assert [e.detail["actor"] for e in history if e.kind == "status"] == ["sla-watch"]
        assert [c.outcome for c in world.watch.checks(number)] == ["breached"] * 4 + ["escalated"]
