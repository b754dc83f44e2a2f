"""``python -m worker`` as the stack runs it: settings from the environment, its own Redis
database (5 here), the schema migrated at start, jobs served, a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bot.db import make_engine, migrate
from bot.outbound import Conversation, OutboundMessage
from bot.outbound.delivery import Outbound
from bot.outbound.settings import load_outbound_settings
from bot.outbound.store import DeliveryRecord
from tests.outbound.support import RASA_PORT, RASA_TOKEN, REDIS_HOST, REDIS_PORT

ROOT = Path(__file__).resolve().parents[2]
WORKER_DB = 5


async def _until_finished(outbound: Outbound, key: str, timeout_s: float = 30.0) -> DeliveryRecord:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = outbound.store.get(key)
        if record is not None and record.status != "pending":
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"{key} still pending after {timeout_s} s")


async def test_the_worker_process_serves_the_queue_and_stops_on_sigterm(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": sqlite_url,
        "WORKER_REDIS_DB": str(WORKER_DB),
        "RASA_PORT": str(RASA_PORT),
        "RASA_PROCESSES": "1",
        "RASA_AUTH_TOKEN": RASA_TOKEN,
        "OUTBOUND_MAX_ATTEMPTS": "1",
        "TELEGRAM_BOT_TOKEN": "",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=WORKER_DB).flushdb()
    engine = make_engine(sqlite_url)
    migrate(engine)
    engine.dispose()
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        outbound = await Outbound.open(load_outbound_settings(), sqlite_url)
        try:
            await outbound.deliver(
                Conversation("telegram", "555"), OutboundMessage("Secret words 4711"), key="status:CX-77:resolved"
            )
            record = await _until_finished(outbound, "status:CX-77:resolved")
        finally:
            await outbound.close()
        assert (record.status, record.attempts, record.last_error) == ("failed", 1, "no_transport")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=WORKER_DB).flushdb()
    output = log_path.read_text()
    assert "transports registered" in output
    assert "key=status:CX-77:resolved" in output
    assert "Secret words" not in output
