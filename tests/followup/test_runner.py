"""Follow-ups run by the real arq worker on real Redis, SQLite and PostgreSQL, with the clock
driven by the test: the survey at its due time, one reminder, then unanswered; a lost queue
recovered by the sweep; a cancelled follow-up sends nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from bot.followup.messages import payload, step_message
from bot.followup.report import followup_rate, render
from bot.followup.runner import FollowupRunner, NotYetDue
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Conversation, PermanentDeliveryError
from bot.tickets import TicketRecord
from tests.followup.support import POLICY, START, Case, file_ticket, resolve, run_worker, time_passes
from tests.outbound.support import RecordingTransport

WEB = Conversation("webchat", "session-a")


def _runner(case: Case, outbound: Outbound) -> FollowupRunner:
    return FollowupRunner(case.followups, outbound, POLICY, clock=case.clock)


def _resolved(case: Case, outbound: Outbound) -> tuple[TicketRecord, str, FollowupRunner]:
    """A ticket resolved at START, its follow-up's key, and a runner on the test's clock."""
    ticket = file_ticket(case.tickets, START)
    resolve(case.tickets, ticket.number, START)
    return ticket, f"followup:{ticket.number}:72h", _runner(case, outbound)


def _delivered(outbound: Outbound, key: str) -> bool:
    record = outbound.store.get(key)
    return record is not None and record.status == "sent" and record.transcript_status != "pending"


async def test_the_survey_goes_out_at_its_due_time_once_with_rating_buttons(
    case: Case, outbound: Outbound, transports: dict[str, RecordingTransport], redis_client: aioredis.Redis
) -> None:
    ticket, key, runner = _resolved(case, outbound)
    due = START + timedelta(hours=72)

    case.clock.advance(hours=71, minutes=59, seconds=58)
    with pytest.raises(NotYetDue) as early:
        await runner.run_due(due)  # its window ends at the due time, not yet: nothing happens
    assert early.value.seconds == 2
    case.clock.tick()  # the job will be deferred 2 real seconds; let the clock follow real time
    assert await runner.sweep() == 1  # its window is due within the look-ahead: queued for its end
    assert await redis_client.zrange("arq:queue", 0, -1) == [f"followups-due:{int(due.timestamp() * 1000)}:0".encode()]
    assert await runner.sweep() == 0  # already queued
    await run_worker(case.url, case.clock, lambda: _delivered(outbound, f"{key}:survey"))

    sends = transports["webchat"].sends
    assert [(s.conversation, s.key) for s in sends] == [(WEB, f"{key}:survey")]
    followup = case.followups.get(key)
    assert START + timedelta(hours=72) <= followup.sent_at < START + timedelta(hours=72, seconds=2)
    assert sends[0].message == step_message("survey", ticket.number, "webchat")
    assert sends[0].message.buttons[4].payload == payload(ticket.number, "rating", "5")
    assert f"complaint {ticket.number}" in sends[0].message.text
    assert (followup.state, followup.attempts) == ("sent", 1)
    assert followup.due_at == followup.sent_at + timedelta(hours=24)
    assert await runner.run_due(case.clock.now) == 0  # the survey step is done; the reminder is not due


async def test_no_answer_means_one_reminder_after_24_hours_then_unanswered(
    case: Case, outbound: Outbound, transports: dict[str, RecordingTransport], redis_client: aioredis.Redis
) -> None:
    ticket, key, runner = _resolved(case, outbound)

    case.clock.advance(hours=72)
    assert await runner.run_due(case.clock.now) == 1  # the survey
    assert case.followups.get(key).state == "sent"
    await time_passes(case.clock, redis_client, hours=23)
    assert await runner.run_due(case.clock.now) == 0  # the reminder is not due
    await time_passes(case.clock, redis_client, hours=1)
    assert await runner.sweep() == 1  # the reminder's window
    await run_worker(case.url, case.clock, lambda: _delivered(outbound, f"{key}:reminder"))
    assert case.followups.get(key).state == "reminded"
    await time_passes(case.clock, redis_client, hours=24)
    assert await runner.sweep() == 1  # the expiry's window
    await run_worker(case.url, case.clock, lambda: case.followups.get(key).state == "unanswered")

    assert [s.key for s in transports["webchat"].sends] == [f"{key}:survey", f"{key}:reminder"]
    reminder = transports["webchat"].sends[1].message
    assert reminder == step_message("reminder", ticket.number, "webchat")
    assert reminder.text.startswith("A short reminder about your complaint")
    followup = case.followups.get(key)
    assert (followup.state, followup.finished_at, followup.step) == ("unanswered", case.clock.now, None)
    assert (followup.attempts, followup.sent_at, followup.reminded_at) == (
        3, START + timedelta(hours=72), START + timedelta(hours=96)
    )
    assert await runner.run_due(case.clock.now) == 0


async def test_an_answered_survey_gets_no_reminder(case: Case, outbound: Outbound, transports: dict[str, RecordingTransport]) -> None:
    ticket, key, runner = _resolved(case, outbound)
    case.clock.advance(hours=72)
    assert await runner.run_due(case.clock.now) == 1
    case.followups.record_answer(key, case.clock.advance(hours=2), rating=4)
    case.clock.advance(hours=48)
    assert await runner.sweep() == 0
    assert await runner.run_due(case.clock.now) == 0
    assert case.followups.get(key).state == "answered"
    assert outbound.store.get(f"{key}:reminder") is None


async def test_a_follow_up_cancelled_before_its_job_runs_sends_nothing(
    case: Case, outbound: Outbound, transports: dict[str, RecordingTransport], redis_client: aioredis.Redis
) -> None:
    ticket, key, runner = _resolved(case, outbound)
    case.clock.advance(hours=71, minutes=59)
    assert await runner.sweep() == 1
    case.tickets.transition(ticket.number, "reopened", actor="customer", now=case.clock.now)
    await time_passes(case.clock, redis_client, minutes=1)
    await run_worker(case.url, case.clock, lambda: True)
    assert await redis_client.zcard("arq:queue") == 0  # the job ran, and did nothing
    assert transports["webchat"].sends == []
    assert outbound.store.get(f"{key}:survey") is None
    assert (case.followups.get(key).state, case.followups.get(key).cancel_reason) == ("cancelled", "reopened")


async def test_after_the_queue_is_flushed_the_sweep_recovers_every_due_job(
    case: Case, outbound: Outbound, transports: dict[str, RecordingTransport], redis_client: aioredis.Redis
) -> None:
    numbers = []
    for index in range(12):
        ticket = file_ticket(case.tickets, START, sender_id=f"web:session-{index}")
        resolve(case.tickets, ticket.number, START)
        numbers.append(ticket.number)
    runner = _runner(case, outbound)
    case.clock.advance(hours=72)
    assert await runner.sweep() == 1  # all twelve are due in the one window
    assert await redis_client.zcard("arq:queue") == 1
    await redis_client.flushdb()  # Redis lost the queue
    assert await runner.sweep() == 1
    await run_worker(
        case.url, case.clock, lambda: all(_delivered(outbound, f"followup:{n}:72h:survey") for n in numbers)
    )
    keys = sorted(s.key for s in transports["webchat"].sends)
    assert keys == sorted(f"followup:{n}:72h:survey" for n in numbers)
    assert {case.followups.get(f"followup:{n}:72h").state for n in numbers} == {"sent"}


async def test_the_follow_up_rate_counts_delivered_surveys_over_resolutions_due(
    case: Case, outbound: Outbound, transports: dict[str, RecordingTransport]
) -> None:
    senders = ["web:rate-0", "web:rate-1", "tg:4711", "web:rate-3"]
    numbers = []
    for sender in senders:
        ticket = file_ticket(case.tickets, START, sender_id=sender)
        resolve(case.tickets, ticket.number, START)
        numbers.append(ticket.number)
    withdrawn = file_ticket(case.tickets, START, sender_id="web:rate-w")
    case.tickets.transition(withdrawn.number, "withdrawn", actor="customer", now=START)
    case.tickets.transition(numbers[3], "reopened", actor="customer", now=START + timedelta(hours=1))  # no survey owed
    transports["telegram"].outcomes = [PermanentDeliveryError("blocked")]  # this customer blocked the bot
    case.clock.advance(hours=72)
    await run_worker(
        case.url, case.clock,
        lambda: all(outbound.store.get(f"followup:{n}:72h:survey") is not None for n in numbers[:3])
        and all(outbound.store.get(f"followup:{n}:72h:survey").status != "pending" for n in numbers[:3]),
    )

    rate = followup_rate(case.followups.sessions, case.clock.now)
    assert (rate.due, rate.delivered, rate.rate) == (3, 2, 2 / 3)
    assert rate.by_state == {"sent": 3, "cancelled": 1}
    assert render(rate, 0.9).splitlines() == [
        "follow-up rate at 2026-06-04T10:00:00+00:00: 66.7% (target 90%): BELOW TARGET",
        "resolutions whose survey was due: 3",
        "surveys delivered: 2",
        "follow-ups by state: cancelled 1, sent 3",
    ]
    assert followup_rate(case.followups.sessions, START).rate is None  # nothing due yet
