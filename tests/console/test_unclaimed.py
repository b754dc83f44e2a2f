"""An unclaimed conversation goes to the supervisors after ``supervisors.unclaimed_to_supervisors_after_s``
(settings/handoff.yml), moved by the real arq worker's sweep on the real Redis, SQLite and PostgreSQL,
with the worker's clock driven by the test; then seen over HTTP by agents (gone) and supervisors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.handoff.policy import handoff_policy
from bot.handoff.store import TO_SUPERVISORS_EVENT
from tests.console.conftest import REDIS_HOST, REDIS_PORT, START, Browser, World, get_json, post, run_worker
from tests.sla.conftest import DrivenClock

pytestmark = pytest.mark.usefixtures("agent", "supervisor")

WAIT = handoff_policy().supervisors.unclaimed_wait
"""The shipped wait (600 s); the test moves the worker's clock instead of waiting."""


@pytest.fixture
async def queue_notices() -> AsyncIterator[list[dict[str, Any]]]:
    """Every notice published on ``handoff:queue`` while the test runs."""
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    pubsub = client.pubsub()
    await pubsub.subscribe("handoff:queue")
    await pubsub.get_message(timeout=1.0)
    heard: list[dict[str, Any]] = []

    async def listen() -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                heard.append(json.loads(message["data"]))

    listening = asyncio.create_task(listen())
    yield heard
    listening.cancel()
    await asyncio.wait({listening}, timeout=2)
    await pubsub.close()
    await client.close(close_connection_pool=True)


def at(offset: timedelta) -> datetime:
    return START + offset


async def test_an_unclaimed_conversation_goes_to_the_supervisors_once_after_the_configured_wait(
    alex: Browser, sam: Browser, world: World, app_env: str, queue_notices: list[dict[str, Any]],
) -> None:
    old_ticket, old = world.hand_over(sender="web:old", at=at(-WAIT - timedelta(seconds=1)))
    _, fresh = world.hand_over(sender="web:fresh", at=at(-WAIT + timedelta(seconds=60)))
    _, taken = world.hand_over(sender="web:taken", at=at(-2 * WAIT))
    assert (await post(alex, f"/console/api/handoffs/{taken.id}/claim"))[0] == 200
    clock = DrivenClock(START)

    await run_worker(app_env, clock)
    await run_worker(app_env, clock)  # a second sweep at the same time changes nothing

    moved = world.handoffs.get(old.id)
    assert (moved.state, moved.queue, moved.to_supervisors_at, moved.agent) == ("waiting", "supervisors", START, None)
    assert (world.handoffs.get(fresh.id).queue, world.handoffs.get(taken.id).state) == ("agents", "claimed")
    history = [(e.at, e.detail) for e in world.tickets.events(old_ticket.number) if e.kind == TO_SUPERVISORS_EVENT]
    assert history == [(START, {"handoff_id": old.id, "waited_s": int(WAIT.total_seconds()) + 1, "actor": "system"})]
    await asyncio.sleep(0.2)
    assert [(n["event"], n["handoff_id"], n["state"]) for n in queue_notices if n["event"] == "to_supervisors"] == [
        ("to_supervisors", old.id, "waiting")]

    _, queue = await get_json(alex, "/console/api/handoffs")
    assert [h["id"] for h in queue["handoffs"]] == [fresh.id], "an agent no longer sees it"
    assert await get_json(alex, f"/console/api/handoffs/{old.id}") == (404, {"error": "not_found"})
    assert await post(alex, f"/console/api/handoffs/{old.id}/claim") == (404, {"error": "not_found"})
    assert (await post(alex, f"/console/api/handoffs/{old.id}/messages", {"text": "hi"}))[0] == 404
    _, queue = await get_json(sam, "/console/api/handoffs")
    assert [(h["id"], h["queue"]) for h in queue["handoffs"]] == [(old.id, "supervisors"), (fresh.id, "agents")]
    _, view = await get_json(sam, "/console/api/supervisors")
    assert [(h["id"], h["queue"]) for h in view["waiting"]] == [(old.id, "supervisors"), (fresh.id, "agents")]
    status, _, page = await sam.page("/console/")
    assert status == 200 and f'<tr data-handoff="{old.id}" class="for-supervisors">' in page

    clock.advance(seconds=60)
    await run_worker(app_env, clock)
    assert (world.handoffs.get(fresh.id).queue, world.handoffs.get(fresh.id).to_supervisors_at) == (
        "supervisors", START + timedelta(seconds=60))

    status, body = await post(sam, f"/console/api/handoffs/{old.id}/claim")
    assert status == 200 and (body["handoff"]["state"], body["handoff"]["agent"]) == ("claimed", "agent:sam")
    status, body = await post(sam, f"/console/api/handoffs/{fresh.id}/assign", {"to": "alex"})
    assert status == 200 and body["handoff"]["agent"] == "agent:alex"
    assert (await get_json(alex, f"/console/api/handoffs/{fresh.id}"))[0] == 200
