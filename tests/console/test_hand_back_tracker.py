"""Handing a conversation back leaves the assistant's greeting in the real Rasa tracker once.

The bug: the console's hand-back runs the greeting with Rasa's ``POST /conversations/{id}/execute``,
which records what the action said in the tracker, and then delivered the same messages through
the outbound path, whose worker appends every sent message to the tracker as a ``bot`` event: the
greeting ("Is there anything else I can help you with?") was in the tracker twice. Now it is
delivered ``in_transcript`` and the worker sends it without appending it.

A real Rasa server (the trained model, the Redis tracker store, no action server: the greeting is
a response), the console over HTTP, and the real arq worker with a recording web-chat transport.
Ports follow E2E_PORT_OFFSET (15000 + offset + 140 and + 141), Redis databases E2E_REDIS_DBS.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestServer

from bot.outbound import registry
from bot.settings import PROJECT_ROOT
from scripts.stack import Stack
from tests.console.conftest import Clock, World, console_settings, post, run_worker, serve, signed_in_browser
from tests.outbound.support import RecordingTransport
from tests.rasa_alone import rasa_alone

pytestmark = pytest.mark.usefixtures("agent", "supervisor")

OFFSET = int(os.environ.get("E2E_PORT_OFFSET", "0"))
RASA_PORT = 15000 + OFFSET + 140
GREETING = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]["utter_anything_else"][0]["text"]


@pytest.fixture(scope="module")
def rasa_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One Rasa server; the conversation ids are random, so nothing needs flushing."""
    with rasa_alone(RASA_PORT, Path(tmp_path_factory.mktemp("logs"))) as stack:
        yield stack


def _rasa(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    url = f"{stack.rasa_urls[0]}{path}?{urllib.parse.urlencode({'token': stack.api_token})}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture
async def console_on_rasa(app_env: str, redis_client: Any, accounts: Any, clock: Clock, rasa_stack: Stack,
                          monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    """The web app with the console, its hand-back calling the real Rasa."""
    for name, value in {"RASA_HOST": "127.0.0.1", "RASA_PORT": str(RASA_PORT), "RASA_PROCESSES": "1",
                        "RASA_AUTH_TOKEN": rasa_stack.api_token}.items():
        monkeypatch.setenv(name, value)
    running = await serve(console_settings(), clock)
    yield running
    await running.close()


async def test_a_hand_back_leaves_the_greeting_in_the_tracker_once_and_sends_it_once(
    console_on_rasa: TestServer, rasa_stack: Stack, world: World, app_env: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = f"web:{secrets.token_urlsafe(16)}"
    conversation = f"/conversations/{urllib.parse.quote(sender, safe=':')}"
    _rasa(rasa_stack, "POST", f"{conversation}/tracker/events", [{"event": "pause"}])  # as action_handoff leaves it
    _, handoff = world.hand_over(sender=sender)
    web = RecordingTransport("webchat")
    monkeypatch.setattr(registry, "_transports", {"webchat": web})

    alex = await signed_in_browser(console_on_rasa, "alex")
    try:
        assert (await post(alex, f"/console/api/handoffs/{handoff.id}/claim"))[0] == 200
        status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/hand-back")
        assert (status, body["handoff"]["state"]) == (200, "returned")
    finally:
        await alex.close()
    await run_worker(app_env, rasa_urls=tuple(rasa_stack.rasa_urls), rasa_token=rasa_stack.api_token)

    key = f"handoff:{handoff.id}:resume:0"
    assert [(s.conversation.sender_id, s.key, s.message.text) for s in web.sends] == [(sender, key, GREETING)]
    sent = world.outbound.get(key)
    assert (sent.status, sent.transcript_status) == ("sent", "appended")
    events = _rasa(rasa_stack, "GET", f"{conversation}/tracker")["events"]
    assert [e["text"] for e in events if e["event"] == "bot"] == [GREETING], "the greeting is in the tracker once"
    resumed = [index for index, e in enumerate(events) if e["event"] == "resume"]
    assert len(resumed) == 1
    after = [(e["event"], e.get("name") or e.get("text")) for e in events[resumed[0]:]]
    assert after == [("resume", None), ("action", "utter_anything_else"), ("bot", GREETING), ("action", "action_listen")]
    tracker = _rasa(rasa_stack, "GET", f"{conversation}/tracker")
    assert tracker["paused"] is False and tracker["latest_action_name"] == "action_listen"
