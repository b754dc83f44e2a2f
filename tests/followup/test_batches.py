"""Follow-ups in batches, on real SQLite and PostgreSQL and the real Redis: a claim reserves its
rows until its lease ends, the sweep finds one window per second that holds due steps, and a
window busier than one batch is claimed in parts, each a job of its own, every survey sent once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from bot.followup.messages import step_message
from bot.followup.runner import BatchSettings, FollowupRunner, job_id
from bot.followup.store import window_end
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Conversation, OutboundMessage
from bot.outbound.queue import deliver_job_id
from tests.followup.support import POLICY, START, Case, file_ticket, resolve, run_worker
from tests.outbound.support import RecordingTransport

DUE = START + timedelta(hours=72)
LEASE = timedelta(seconds=60)


def _resolved(case: Case, offsets_s: list[float]) -> list[str]:
    """One ticket resolved at START + each offset, each in its own conversation; their follow-ups' keys."""
    keys = []
    for index, offset in enumerate(offsets_s):
        at = START + timedelta(seconds=offset)
        ticket = file_ticket(case.tickets, at, sender_id=f"web:batch-{index}")
        resolve(case.tickets, ticket.number, at)
        keys.append(f"followup:{ticket.number}:72h")
    return keys


def _all_sent(outbound: Outbound, keys: list[str]) -> bool:
    records = [outbound.store.get(f"{key}:survey") for key in keys]
    return all(record is not None and record.status == "sent" for record in records)


def test_a_claim_reserves_its_follow_ups_until_its_lease_ends(case: Case) -> None:
    keys = _resolved(case, [0.0] * 12)

    first = case.followups.claim_due(DUE, limit=5, lease=LEASE)
    second = case.followups.claim_due(DUE, limit=50, lease=LEASE)

    assert [f.key for f in first] == keys[:5]  # oldest due first, then in the order they were written
    assert [f.key for f in second] == keys[5:]
    assert {(f.step, f.attempts, f.due_at) for f in first + second} == {("survey", 1, DUE)}
    assert {case.followups.get(key).due_at for key in keys} == {DUE + LEASE}
    assert case.followups.claim_due(DUE + LEASE - timedelta(seconds=1), limit=50, lease=LEASE) == []
    again = case.followups.claim_due(DUE + LEASE, limit=50, lease=LEASE)  # their worker died: claimed again
    assert [(f.key, f.attempts) for f in again] == [(key, 2) for key in keys]


def test_advance_moves_only_the_follow_ups_still_at_the_claimed_step(case: Case) -> None:
    keys = _resolved(case, [0.0] * 3)
    case.followups.claim_due(DUE, limit=50, lease=LEASE)
    case.tickets.transition(keys[1].split(":")[1], "reopened", actor="customer", now=DUE)

    assert case.followups.advance(keys, "survey", DUE, DUE + timedelta(hours=24)) == 2

    states = [(f.state, f.sent_at, f.due_at) for f in map(case.followups.get, keys)]
    assert states == [
        ("sent", DUE, DUE + timedelta(hours=24)),
        ("cancelled", None, DUE + LEASE),
        ("sent", DUE, DUE + timedelta(hours=24)),
    ]


def test_the_sweep_finds_one_window_per_second_holding_steps_and_one_for_those_already_due(case: Case) -> None:
    _resolved(case, [0.0, 0.2, 1.0, 1.5, 7.25, 400.0])
    now = DUE + timedelta(seconds=0.5)

    ends = case.followups.due_windows(now, now + timedelta(seconds=180), timedelta(seconds=1))

    assert ends == [DUE + timedelta(seconds=s) for s in (0, 1, 2, 8)]
    assert window_end(DUE + timedelta(microseconds=1), timedelta(seconds=1)) == DUE + timedelta(seconds=1)
    assert window_end(DUE, timedelta(milliseconds=250)) == DUE


async def test_a_window_busier_than_one_batch_is_claimed_in_parts_each_a_job_of_its_own(
    case: Case, outbound: Outbound, transports: dict[str, RecordingTransport], redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FOLLOWUP_BATCH", "5")  # the worker's batches, as the runner's below
    keys = _resolved(case, [0.0] * 12)
    case.clock.advance(hours=72)
    runner = FollowupRunner(case.followups, outbound, POLICY, clock=case.clock, settings=BatchSettings(batch=5))

    assert await runner.run_due(DUE) == 5

    first_batch = [f"{key}:survey" for key in keys[:5]]
    assert sorted(await redis_client.zrange("arq:queue", 0, -1)) == sorted(
        [job_id(DUE, 1).encode(), deliver_job_id(first_batch).encode()]
    )
    await run_worker(case.url, case.clock, lambda: _all_sent(outbound, keys))

    assert sorted(send.key for send in transports["webchat"].sends) == sorted(f"{key}:survey" for key in keys)
    assert {(f.state, f.attempts) for f in map(case.followups.get, keys)} == {("sent", 1)}
    assert {outbound.store.get(f"{key}:survey").attempts for key in keys} == {1}
    assert await runner.run_due(case.clock.now) == 0


async def test_a_batch_holding_a_message_recorded_before_keeps_it_and_records_the_rest(
    case: Case, outbound: Outbound, redis_client: aioredis.Redis
) -> None:
    keys = _resolved(case, [0.0, 0.0])
    earlier = await outbound.deliver(Conversation("webchat", "batch-0"), OutboundMessage("Earlier."), key=f"{keys[0]}:survey")
    case.clock.advance(hours=72)
    runner = FollowupRunner(case.followups, outbound, POLICY, clock=case.clock)

    assert await runner.run_due(DUE) == 2

    assert outbound.store.get(f"{keys[0]}:survey") == earlier  # a rerun after a crash finds its message: no second one
    later = outbound.store.get(f"{keys[1]}:survey")
    assert (later.conversation, later.message, later.status) == (
        Conversation("webchat", "batch-1"), step_message("survey", keys[1].split(":")[1], "webchat"), "pending"
    )
    assert {case.followups.get(key).state for key in keys} == {"sent"}
