"""The transcript append against a real Rasa server (the trained model, Redis tracker store):
after the worker sends a message, the customer's tracker holds it as a ``bot`` event with
its buttons and author, stamped with the time it was sent.

Ports, Redis databases and the model follow E2E_PORT_OFFSET / E2E_REDIS_DBS / E2E_MODEL, as
tests/e2e does, so parallel runs stay apart. The conversation id is random, so nothing is
flushed; the job queue shares the lock database and only its ``arq:`` keys are cleared.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from arq.worker import Worker

from bot.db import make_engine, migrate
from bot.outbound import Button, Conversation, OutboundMessage, registry
from bot.outbound.delivery import Outbound
from bot.outbound.settings import OutboundSettings
from scripts.stack import Stack
from tests.outbound.support import REDIS_HOST, REDIS_PORT, RecordingTransport
from tests.rasa_alone import LOCK_DB, rasa_alone
from worker.main import worker_settings

OFFSET = int(os.environ.get("E2E_PORT_OFFSET", "0"))


RASA_PORT = 15065 + OFFSET
"""Clear of tests/e2e's stack (15005/15006, 15055), which lives for the whole session."""


def _drop_queue() -> None:
    """Only the job queue's keys: the databases may hold tests/e2e's trackers in the same session."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=LOCK_DB)
    for key in client.scan_iter("arq:*"):
        client.delete(key)


@pytest.fixture(scope="module")
def rasa_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One Rasa server (no action server: appending events runs no action)."""
    _drop_queue()
    try:
        with rasa_alone(RASA_PORT, Path(tmp_path_factory.mktemp("logs"))) as stack:
            yield stack
    finally:
        _drop_queue()


def _tracker(stack: Stack, sender_id: str) -> dict:
    query = urllib.parse.urlencode({"token": stack.api_token})
    url = f"{stack.rasa_urls[0]}/conversations/{urllib.parse.quote(sender_id, safe=':')}/tracker?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


async def test_a_sent_message_lands_in_the_real_rasa_tracker(
    rasa_stack: Stack, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = RecordingTransport("webchat")
    monkeypatch.setattr(registry, "_transports", {"webchat": web})
    settings = OutboundSettings(
        redis_host=REDIS_HOST, redis_port=REDIS_PORT, redis_db=LOCK_DB, max_attempts=3, retry_base_s=0.05,
        retry_max_s=0.2, send_timeout_s=5.0, sweep_batch=10, rasa_urls=tuple(rasa_stack.rasa_urls),
    )
    engine = make_engine(sqlite_url)
    migrate(engine)
    engine.dispose()
    conversation = Conversation("webchat", secrets.token_urlsafe(24))
    message = OutboundMessage(
        "Your refund was approved.", (Button("Thanks", "/thank"),), author="agent", author_name="Priya"
    )
    outbound = await Outbound.open(settings, sqlite_url)
    try:
        await outbound.deliver(conversation, message, key="reply:CX-99:1")
        worker = Worker(
            **worker_settings(settings, database_url=sqlite_url, rasa_token=rasa_stack.api_token,
                              transport_modules=()),
            burst=True, poll_delay=0.01, handle_signals=False,
        )
        try:
            await worker.main()
        finally:
            await worker.close()
        record = outbound.store.get("reply:CX-99:1")
    finally:
        await outbound.close()

    assert (record.status, record.transcript_status) == ("sent", "appended")
    assert len(web.sends) == 1
    bot_events = [e for e in _tracker(rasa_stack, conversation.sender_id)["events"] if e["event"] == "bot"]
    assert len(bot_events) == 1
    event = bot_events[0]
    assert event["text"] == "Your refund was approved."
    assert event["data"]["buttons"] == [{"title": "Thanks", "payload": "/thank"}]
    ours = {name: event["metadata"][name] for name in ("outbound_key", "author", "author_name")}
    assert ours == {"outbound_key": "reply:CX-99:1", "author": "agent", "author_name": "Priya"}
    assert event["metadata"]["assistant_id"] == "complaints-front-door"  # Rasa adds its own keys
    assert event["timestamp"] == pytest.approx(record.sent_at.timestamp())
