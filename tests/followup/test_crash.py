"""Crashes and parallel workers, with real worker processes, the real web chat mailbox in
Redis (what the customer's page shows) and SQLite/PostgreSQL.

A worker is killed with SIGKILL at each step of the send protocol (bot/followup's
docstring), then restarted: the customer's mailbox holds the survey exactly once. Two and
four workers on PostgreSQL serving the same due follow-ups, in batches of ten, send each
survey once and share the batches.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from bot.db import make_engine, make_sessionmaker
from bot.followup.policy import FollowupPolicy, QuietHours
from bot.followup.runner import FollowupRunner
from bot.followup.store import FollowupStore
from bot.outbound.delivery import Outbound
from bot.outbound.store import OutboundStore, utcnow
from bot.outbound.webchat import history_key, alive_key
from bot.tickets import TicketStore
from tests.followup.crash_worker import STEPS
from tests.followup.support import (
    CLOSED_PORT, RASA_TOKEN, REDIS_HOST, REDIS_PORT, file_ticket, outbound_settings, resolve,
)

ROOT = Path(__file__).resolve().parents[2]
QUEUE_DB = 9
MAILBOX_DB = 10
JOB_TIMEOUT_S = 1  # a killed job is picked up again after 1 + 10 s
LEASES = {  # a claim whose worker was killed is free again after a few seconds, not minutes
    "FOLLOWUP_CLAIM_LEASE_S": "2",
    "OUTBOUND_SEND_TIMEOUT_S": "2",
    "OUTBOUND_CLAIM_LEASE_S": "3",
}
BATCH = 10
ALWAYS = FollowupPolicy(  # quiet hours of one minute at 03:00 UTC: the survey is due when the test says
    after=timedelta(hours=72), default_time_zone="UTC", quiet_hours=QuietHours(start="03:00", end="03:01"),
    reminder_after=timedelta(hours=24), unanswered_after=timedelta(hours=24),
)


@pytest.fixture
def queue_and_mailbox() -> Iterator[tuple[redis.Redis, redis.Redis]]:
    """The real Redis: the job queue's database and the web chat mailbox's, empty before and after."""
    queue = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=QUEUE_DB)
    mailbox = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=MAILBOX_DB)
    queue.flushdb()
    mailbox.flushdb()
    yield queue, mailbox
    queue.flushdb()
    mailbox.flushdb()


class Workers:
    """Worker processes of this test (each logging to ``worker-<n>.log``), stopped (and reaped) at the end."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []

    def start(self, crash_at: str = "") -> subprocess.Popen:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.url,
            "REDIS_HOST": REDIS_HOST,
            "REDIS_PORT": str(REDIS_PORT),
            "WORKER_REDIS_DB": str(QUEUE_DB),
            "WEBCHAT_REDIS_DB": str(MAILBOX_DB),
            "RASA_PORT": str(CLOSED_PORT),
            "RASA_PROCESSES": "1",
            "RASA_AUTH_TOKEN": RASA_TOKEN,
            "OUTBOUND_MAX_ATTEMPTS": "2",
            "OUTBOUND_RETRY_BASE_S": "0.05",
            "OUTBOUND_RETRY_MAX_S": "0.1",
            "TELEGRAM_TOKEN": "",
            "CRASH_AT": crash_at,
            "CRASH_MARKER": str(self.tmp_path / "crashed"),
            "WORKER_JOB_TIMEOUT_S": str(JOB_TIMEOUT_S),
            "FOLLOWUP_BATCH": str(BATCH),
            **LEASES,
        }
        log = self.log(len(self.processes)).open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.followup.crash_worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def log(self, index: int) -> Path:
        return self.tmp_path / f"worker-{index}.log"

    def ready(self) -> bool:
        """Every worker has opened its transports (its start-up is done)."""
        return all(
            self.log(index).exists() and "transports registered" in self.log(index).read_text()
            for index in range(len(self.processes))
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(migrated_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(migrated_url, tmp_path)
    yield started
    started.stop()


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.1)


def _due_surveys(url: str, mailbox: redis.Redis, count: int) -> list[str]:
    """``count`` tickets resolved 72 h and a minute ago, each in its own open web chat session."""
    store = TicketStore(make_sessionmaker(make_engine(url)), attempts=3, delay_s=0.05, followups=ALWAYS)
    resolved_at = utcnow() - timedelta(hours=72, minutes=1)
    numbers = []
    for index in range(count):
        ticket = file_ticket(store, resolved_at, sender_id=f"web:crash-{index}")
        resolve(store, ticket.number, resolved_at)
        mailbox.set(alive_key(f"crash-{index}"), "1", ex=3600)
        numbers.append(ticket.number)
    return numbers


def _mailbox(mailbox: redis.Redis, index: int) -> list[bytes]:
    return mailbox.lrange(history_key(f"crash-{index}"), 0, -1)


@pytest.mark.parametrize("step", list(STEPS))
def test_a_worker_killed_at_any_step_of_the_send_protocol_sends_the_survey_once(
    step: str, migrated_url: str, workers: Workers, queue_and_mailbox: tuple[redis.Redis, redis.Redis]
) -> None:
    _, mailbox = queue_and_mailbox
    [number] = _due_surveys(migrated_url, mailbox, 1)
    key = f"followup:{number}:72h"
    followups = FollowupStore(make_sessionmaker(make_engine(migrated_url)))
    outbound = OutboundStore(make_sessionmaker(make_engine(migrated_url)))

    crashing = workers.start(crash_at=step)
    assert crashing.wait(timeout=60) == -signal.SIGKILL
    workers.start()

    def done() -> bool:
        record = outbound.get(f"{key}:survey")
        return (
            followups.get(key).state == "sent"
            and record is not None and record.status == "sent" and record.transcript_status == "failed"
        )

    _wait(done, 60, f"the survey after a kill {step.replace('_', ' ')}")
    items = _mailbox(mailbox, 0)
    assert len(items) == 1
    assert f'"id": "{key}:survey"'.encode() in items[0]
    assert f"your complaint {number}".encode() in items[0]
    record = outbound.get(f"{key}:survey")
    expected_attempts = 2 if step == "after_send" else 1  # the send that the kill interrupted counts
    assert (record.status, record.attempts) == ("sent", expected_attempts)
    assert followups.get(key).attempts == (2 if step in ("after_claim", "after_record") else 1)


async def _sweep(url: str) -> int:
    """The product's follow-up sweep, run once from this process against the workers' queue (the
    workers' own sweep runs at start-up and then once a minute)."""
    outbound = await Outbound.open(outbound_settings(redis_db=QUEUE_DB), url)
    try:
        return await FollowupRunner(FollowupStore(make_sessionmaker(outbound.engine)), outbound, ALWAYS).sweep()
    finally:
        await outbound.close()


@pytest.mark.parametrize("count", [2, 4])
def test_several_workers_on_postgresql_send_each_survey_once(
    count: int, postgres_url: str, tmp_path: Path, queue_and_mailbox: tuple[redis.Redis, redis.Redis]
) -> None:
    from bot.db import migrate

    engine = make_engine(postgres_url)
    migrate(engine)
    _, mailbox = queue_and_mailbox
    outbound = OutboundStore(make_sessionmaker(engine))
    started = Workers(postgres_url, tmp_path)
    try:
        for _ in range(count):
            started.start()
        _wait(started.ready, 60, f"the start-up of {count} workers")
        numbers = _due_surveys(postgres_url, mailbox, 120)
        asyncio.run(_sweep(postgres_url))  # one window (they are all due), unless a worker's start-up sweep queued it

        def all_sent() -> bool:
            records = [outbound.get(f"followup:{n}:72h:survey") for n in numbers]
            return all(r is not None and r.status == "sent" for r in records)

        _wait(all_sent, 120, f"{len(numbers)} surveys through {count} workers")
    finally:
        started.stop()
    assert [len(_mailbox(mailbox, index)) for index in range(len(numbers))] == [1] * len(numbers)
    attempts = {outbound.get(f"followup:{n}:72h:survey").attempts for n in numbers}
    assert attempts == {1}  # no survey was even handed to the transport twice
    logs = [started.log(index).read_text() for index in range(count)]
    parts = [log.count(":run_due_followups(") for log in logs]
    batches = [log.count(":deliver_outbound(") for log in logs]
    assert sum(parts) > len(numbers) // BATCH  # twelve full parts, then one that found nothing left
    assert sum(batches) >= len(numbers) // BATCH
    assert sum(1 for jobs in zip(parts, batches) if any(jobs)) >= 2  # the work was shared, not done by one worker alone
    engine.dispose()
