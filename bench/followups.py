"""The follow-up queue under load: N follow-ups due within a window, through 1, 2 and 4 workers.

Usage: ``nice -n 10 .venv/bin/python bench/followups.py [--count 100000] [--window 60]
[--workers 1,2,4] [--lead 45] [--batch 250] [--window-width 0.5]``

The defaults are the issue's wording: "schedule 100,000 follow-ups due within one minute",
which is 1,667 due follow-ups a second. Its target, lateness p99 < 2 s, is stated at 1,000
due a second: ``--window 100`` spreads the 100,000 at that rate (as does ``--count 60000
--window 60``). The due rate each run achieved is printed, read back from the due times
written to SQL, and the verdict is judged at that rate.

For each worker count, on a fresh PostgreSQL schema (``TEST_POSTGRES_URL``, default the
local ``test`` database) and an emptied Redis database (``REDIS_HOST``/``REDIS_PORT``,
database 11):

1. ``--count`` follow-ups are written to ``followups`` as the product writes them, due
   evenly over ``--window`` seconds starting ``--lead`` seconds from the end of the insert;
2. the product's sweep (:meth:`bot.followup.runner.FollowupRunner.sweep`) queues one arq
   job per due window (``--window-width`` s, ``FOLLOWUP_WINDOW_S``), deferred to its end;
3. ``--workers`` worker processes (the product's ``worker.main.worker_settings``: the window's
   job claims ``--batch`` due follow-ups at a time (``FOLLOWUP_BATCH``), records their
   surveys with ``Outbound.deliver_many`` and queues one send job per batch, which sends them
   and appends them to the transcript) serve the queue. The transport is an in-process
   recorder and the Rasa transcript append returns at once: the bench measures the queue and
   SQL, not a channel. Workers poll every ``--poll-delay`` s and run up to ``--max-jobs``
   jobs at a time.

Printed per worker count: follow-ups per second (from the first due time to the last
send), lateness of each send against its due time (p50, p99, max), duplicates (sends of a
key already sent; must be 0), and the workers' CPU time per follow-up (user + system, the
figure that does not depend on what else the machine runs), each beside the target (issue
13): lateness p99 < 2 s at 1,000 due follow-ups/s or more, no duplicate. Exit status 1 when
a run sent less than everything or sent a duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from bot.followup.policy import followup_policy  # noqa: E402
from bot.followup.runner import BatchSettings, FollowupRunner  # noqa: E402
from bot.followup.store import FollowupRow, FollowupStore  # noqa: E402
from bot.outbound.delivery import Outbound  # noqa: E402
from bot.outbound.settings import OutboundSettings  # noqa: E402
from bot.outbound.store import OutboundMessageRow  # noqa: E402

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_DB = 11
INSERT_CHUNK = 5000
TARGET_P99_S = 2.0
TARGET_DUE_PER_S = 1000


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def outbound_settings() -> OutboundSettings:
    return OutboundSettings(
        redis_host=REDIS_HOST, redis_port=REDIS_PORT, redis_db=REDIS_DB, max_attempts=3, retry_base_s=0.5,
        retry_max_s=2.0, send_timeout_s=10.0, sweep_batch=1000, rasa_urls=("http://127.0.0.1:9",),
    )


class RecordingTransport:
    """The bench's web chat: writes (key, wall time) of every send as a line, nothing else."""

    channel = "webchat"

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    async def send(self, conversation: Any, message: Any, key: str) -> None:
        self._sink.write(f"{key} {time.time():.6f}\n")


async def meter_cpu(path: Path) -> None:
    """Keep ``path`` holding this worker's CPU seconds since it started serving."""
    start = cpu_seconds()
    while True:
        path.write_text(f"{cpu_seconds() - start:.3f}")
        await asyncio.sleep(0.5)


class InstantTranscript:
    """Stands in for Rasa's tracker append, so the bench does not measure Rasa."""

    async def append(self, record: Any) -> None:
        return None


def serve(url: str, out: str, poll_delay: float, max_jobs: int) -> None:
    """One worker process: the product's worker with the recorder, until SIGTERM."""
    os.nice(10)
    from arq.worker import Worker

    from bot.outbound.registry import register_transport
    from worker.main import startup, worker_settings

    sends = open(out, "w", buffering=1)  # a line per send, written at once: a killed worker loses none
    register_transport(RecordingTransport(sends))
    settings = worker_settings(outbound_settings(), database_url=url, rasa_token="bench", transport_modules=())

    async def bench_startup(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        ctx["transcript"] = InstantTranscript()
        ctx["cpu_meter"] = asyncio.create_task(meter_cpu(Path(f"{out}.cpu")))

    settings.update(on_startup=bench_startup)
    logging_off()
    Worker(**settings, poll_delay=poll_delay, max_jobs=max_jobs).run()


def cpu_seconds() -> float:
    """This process's CPU time so far, user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def logging_off() -> None:
    """Per-job log lines would cost more than the jobs."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("arq").setLevel(logging.WARNING)


@dataclass
class Result:
    workers: int
    count: int
    due_per_s: float
    """Achieved: the follow-ups written over the span of their due times, as read back from SQL."""
    sent: int
    schedule_s: float
    sweep_s: float
    sweep_late_s: float
    jobs_per_s: float
    p50_s: float
    p99_s: float
    max_s: float
    duplicates: int
    worker_cpu_ms: float
    load: tuple[float, float]
    """The machine's 1-minute load average when the first follow-up fell due and when the last was sent."""

    @property
    def verdict(self) -> str:
        """Against issue 13's target: p99 < 2 s at 1,000 due/s or more, every follow-up sent, none twice."""
        if self.sent < self.count or self.duplicates:
            return "MISSED (not all sent once)"
        if self.due_per_s < TARGET_DUE_PER_S * 0.995:  # due times are stored to the microsecond
            return f"n/a (only {self.due_per_s:.0f} due/s)"
        return "met" if self.p99_s < TARGET_P99_S else "MISSED"


def schema_url() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, future=True)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(schema: str) -> None:
    admin = create_engine(POSTGRES_URL, future=True)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def schedule(url: str, count: int, window: float, lead: float) -> tuple[datetime, float]:
    """Write ``count`` follow-ups; they fall due evenly over ``window`` s from ``lead`` s after the insert."""
    engine = make_engine(url)
    started = time.monotonic()
    placeholder = datetime(2100, 1, 1, tzinfo=timezone.utc)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        for start in range(0, count, INSERT_CHUNK):
            rows = [
                {
                    "key": f"followup:CX-{i:06d}:72h", "ticket_number": f"CX-{i:06d}", "channel": "webchat",
                    "address": f"bench-{i}", "sender_id": f"web:bench-{i}", "time_zone": "UTC", "state": "scheduled",
                    "resolved_at": now, "survey_due_at": placeholder, "due_at": placeholder, "attempts": 0,
                    "created_at": now, "updated_at": now,
                }
                for i in range(start, min(start + INSERT_CHUNK, count))
            ]
            connection.execute(insert(FollowupRow.__table__), rows)
    first_due = datetime.now(timezone.utc) + timedelta(seconds=lead)
    step_us = window * 1_000_000 / count
    with engine.begin() as connection:
        first_id = connection.scalar(select(func.min(FollowupRow.id)))
        connection.execute(
            text(
                "UPDATE followups SET due_at = :first + (id - :first_id) * :step * interval '1 microsecond', "
                "survey_due_at = :first + (id - :first_id) * :step * interval '1 microsecond'"
            ),
            {"first": first_due, "first_id": first_id, "step": step_us},
        )
    engine.dispose()
    return first_due, time.monotonic() - started


async def sweep(url: str, horizon: timedelta) -> float:
    """The product's sweep queues a job per due window; seconds it took."""
    engine = make_engine(url)
    outbound = await Outbound.open(outbound_settings(), url)
    runner = FollowupRunner(
        FollowupStore(make_sessionmaker(engine)), outbound, followup_policy(), settings=BatchSettings.from_env()
    )
    started = time.monotonic()
    queued = await runner.sweep(horizon)
    took = time.monotonic() - started
    await outbound.close()
    engine.dispose()
    print(f"  sweep queued {queued} window jobs in {took:.2f} s", flush=True)
    return took


def sent_count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(OutboundMessageRow).where(OutboundMessageRow.status == "sent"))
    engine.dispose()
    return count or 0


def due_times(url: str) -> dict[str, float]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(FollowupRow.key, FollowupRow.survey_due_at)).all()
    engine.dispose()
    return {f"{key}:survey": due.timestamp() for key, due in rows}


def due_rate(due: dict[str, float]) -> float:
    """Follow-ups falling due per second: the count over the span from the first due time to the last."""
    span = max(due.values()) - min(due.values()) if due else 0.0
    return (len(due) - 1) / span if span > 0 else float("inf")


def run(workers: int, args: argparse.Namespace, tmp: Path) -> Result:
    url, schema = schema_url()
    queue = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    queue.flushdb()
    processes: list[multiprocessing.Process] = []
    try:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        context = multiprocessing.get_context("spawn")
        outs = [str(tmp / f"sends-{workers}-{index}.json") for index in range(workers)]
        for out in outs:
            process = context.Process(target=serve, args=(url, out, args.poll_delay, args.max_jobs))
            process.start()
            processes.append(process)
        first_due, schedule_s = schedule(url, args.count, args.window, args.lead)
        print(f"  {args.count} follow-ups written in {schedule_s:.1f} s; first due in {args.lead:.0f} s", flush=True)
        sweep_s = asyncio.run(sweep(url, timedelta(seconds=args.lead + args.window + 60)))
        sweep_late_s = max(0.0, time.time() - first_due.timestamp())
        time.sleep(max(0.0, first_due.timestamp() - time.time()))
        load_at_first_due = os.getloadavg()[0]
        deadline = first_due.timestamp() + args.window + args.timeout
        while time.time() < deadline and sent_count(url) < args.count:
            time.sleep(2)
        load_at_end = os.getloadavg()[0]
    finally:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(timeout=20)
            if process.is_alive():  # arq's shutdown can hang on a cancelled job: a straggler must not
                process.kill()      # serve the next run's queue against a dropped schema
                process.join()
        queue.flushdb()
    sends: list[tuple[str, float]] = []
    cpu_s = 0.0
    for out in outs:
        for line in Path(out).read_text().splitlines():
            key, at = line.split()
            sends.append((key, float(at)))
        cpu_path = Path(f"{out}.cpu")
        if cpu_path.exists():
            cpu_s += float(cpu_path.read_text() or 0)
    due = due_times(url)
    drop_schema(schema)
    counts = Counter(key for key, _ in sends)
    first: dict[str, float] = {}
    for key, at in sorted(sends, key=lambda item: item[1]):
        first.setdefault(key, at)
    lateness = [at - due[key] for key, at in first.items()]
    span = max(first.values()) - min(due.values()) if first else float("nan")
    return Result(
        workers=workers, count=args.count, due_per_s=due_rate(due), sent=len(first), schedule_s=schedule_s, sweep_s=sweep_s,
        sweep_late_s=sweep_late_s, jobs_per_s=len(first) / span if first else 0.0,
        p50_s=statistics.median(lateness) if lateness else float("nan"),
        p99_s=percentile(lateness, 0.99) if lateness else float("nan"),
        max_s=max(lateness) if lateness else float("nan"),
        duplicates=sum(n - 1 for n in counts.values()),
        worker_cpu_ms=cpu_s * 1000 / len(first) if first else float("nan"),
        load=(load_at_first_due, load_at_end),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds over which the follow-ups fall due: 60 is the issue's 'within one minute' "
                             "(1,667/s for 100,000); 100 gives its target rate, 1,000/s")
    parser.add_argument("--lead", type=float, default=45.0, help="seconds from the insert to the first due time (covers the sweep)")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--poll-delay", type=float, default=0.05)
    parser.add_argument("--max-jobs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds after the last due time before giving up")
    parser.add_argument("--batch", type=int, default=BatchSettings.batch, help="follow-ups per claim (FOLLOWUP_BATCH)")
    parser.add_argument("--window-width", type=float, default=BatchSettings.window_s,
                        help="seconds per due window (FOLLOWUP_WINDOW_S)")
    args = parser.parse_args(argv)
    os.environ["FOLLOWUP_BATCH"] = str(args.batch)  # read by the sweep here and by the workers, which inherit it
    os.environ["FOLLOWUP_WINDOW_S"] = str(args.window_width)
    os.nice(10)
    tmp = ROOT / "var" / "bench-followups"
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"{args.count} follow-ups due over {args.window:g} s ({args.count / args.window:,.0f} due/s requested; "
          f"the target's {TARGET_DUE_PER_S:,} due/s would be --window {args.count / TARGET_DUE_PER_S:g}); "
          f"windows of {args.window_width:g} s, batches of {args.batch}; "
          f"poll {args.poll_delay} s, {args.max_jobs} jobs per worker", flush=True)
    print(f"target (issue 13): lateness p99 < {TARGET_P99_S:g} s at {TARGET_DUE_PER_S:,} due/s or more, duplicates 0",
          flush=True)
    results = []
    for workers in [int(n) for n in args.workers.split(",")]:
        print(f"{workers} worker(s):", flush=True)
        result = run(workers, args, tmp)
        results.append(result)
        print(
            f"  due rate achieved {result.due_per_s:,.0f}/s; "
            f"sent {result.sent}/{result.count}, {result.jobs_per_s:.0f} follow-ups/s, lateness p50 "
            f"{result.p50_s:.3f} s p99 {result.p99_s:.3f} s max {result.max_s:.3f} s, duplicates {result.duplicates}"
            f", worker CPU {result.worker_cpu_ms:.2f} ms per follow-up (sweep {result.sweep_s:.1f} s, {'finished before' if not result.sweep_late_s else f'{result.sweep_late_s:.1f} s after'} the first due time)"
            f"; load average {result.load[0]:.1f} → {result.load[1]:.1f}; target: {result.verdict}",
            flush=True,
        )
    print("\n| workers | due/s achieved | sent | follow-ups/s | lateness p50 | p99 | max | duplicates | worker CPU per follow-up "
          f"| load average | target: p99 < {TARGET_P99_S:g} s at ≥ {TARGET_DUE_PER_S:,} due/s, 0 duplicates |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.workers} | {r.due_per_s:,.0f} | {r.sent:,}/{r.count:,} | {r.jobs_per_s:,.0f} | {r.p50_s:.3f} s "
              f"| {r.p99_s:.3f} s | {r.max_s:.3f} s | {r.duplicates} | {r.worker_cpu_ms:.2f} ms "
              f"| {r.load[0]:.1f} → {r.load[1]:.1f} | {r.verdict} |")
    return 0 if all(r.duplicates == 0 and r.sent == r.count for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
