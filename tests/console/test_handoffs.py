"""The console's work on hand-offs over real HTTP on loopback: claim (and its race), the first reply
claiming, messages both ways, notes, hand-back, resolve, the access rule, inert customer text,
CSRF on every new write, and live notices on /console/ws. SQLite and PostgreSQL, the real Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.followup.store import FollowupRow
from bot.handoff.desk import NOTE_EVENT, TRANSFER_EVENT
from bot.handoff.notices import HandoffNotices
from bot.handoff.service import Handoffs
from bot.outbound.messages import Conversation, OutboundMessage
from tests.console.conftest import ORIGIN, REDIS_HOST, REDIS_PORT, START, Browser, Clock
from tests.console.conftest import REASON, RASA_TOKEN, RESUMED_TEXT, RasaCalls, World
from tests.console.conftest import get_json, post
from tests.console.routes import console_routes
from web.console.accounts import AccountStore

pytestmark = pytest.mark.usefixtures("agent", "supervisor")


async def test_the_queue_lists_waiting_hand_offs_with_reasons_category_emotion_and_sla(alex: Browser, world: World) -> None:
    ticket, handoff = world.hand_over()
    status, body = await get_json(alex, "/console/api/handoffs")
    assert status == 200
    assert body == {"handoffs": [{
        "id": handoff.id, "ticket_number": ticket.number, "channel": "webchat", "state": "waiting", "priority": "P2",
        "agent": None, "created_at": START.isoformat(), "claimed_at": None,
        "reasons": [REASON],
        "category": "delivery", "emotion": 0.0, "emotion_trend": "steady", "queue": "agents",
        "sla_left_min": int((ticket.sla_resolve_by - START).total_seconds() // 60),
    }], "mine": []}
    status, _, page = await alex.page("/console/")
    assert status == 200 and f'href="/console/handoffs/{handoff.id}"' in page and ticket.number in page


async def test_of_two_agents_claiming_at_once_exactly_one_wins_and_the_other_is_told_who(
    alex: Browser, bea: Browser, world: World,
) -> None:
    for trial in range(12):
        _, handoff = world.hand_over(sender=f"web:race-{trial}")
        results = await asyncio.gather(post(alex, f"/console/api/handoffs/{handoff.id}/claim"),
                                       post(bea, f"/console/api/handoffs/{handoff.id}/claim"))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409], trial
        won = next(body for status, body in results if status == 200)
        lost = next(body for status, body in results if status == 409)
        winner = won["handoff"]["agent"]
        assert winner in ("agent:alex", "agent:bea")
        assert lost == {"error": "taken", "state": "claimed",
                        "agent": "Alex Agent" if winner == "agent:alex" else "Bea Agent"}
        stored = world.handoffs.get(handoff.id)
        assert (stored.state, stored.agent, stored.claimed_at) == ("claimed", winner, START)


async def test_an_agents_first_reply_claims_and_goes_out_as_a_person_and_into_the_transcript(
    alex: Browser, bea: Browser, world: World, redis_client: redis.Redis,
) -> None:
    ticket, handoff = world.hand_over()
    status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/messages", {"text": "Hello, I'm Alex. I'll sort this."})
    assert status == 201 and body["handoff"]["state"] == "claimed" and body["handoff"]["agent"] == "agent:alex"
    stored = world.handoffs.get(handoff.id)
    assert (stored.state, stored.agent, stored.claimed_at) == ("claimed", "agent:alex", START)
    line = world.tickets.get(ticket.number).transcript[-1]
    key = line["outbound_key"]
    assert key.startswith(f"handoff:{handoff.id}:agent:") and len(key) == len(f"handoff:{handoff.id}:agent:") + 16
    assert line == {"sender": "agent", "agent": "agent:alex", "agent_name": "Alex Agent", "outbound_key": key,
                    "text": "Hello, I'm Alex. I'll sort this.", "timestamp": START.isoformat(), "handoff_id": handoff.id}
    delivery = world.outbound.get(key)
    assert delivery is not None
    assert delivery.conversation == Conversation("webchat", "customer-1")
    assert delivery.message == OutboundMessage(text="Hello, I'm Alex. I'll sort this.", author="agent", author_name="Alex Agent")
    assert delivery.status == "pending"
    assert [k.decode() for k in redis_client.scan_iter("arq:job:*") if key in k.decode()] != [], "the send job is queued"
    status, body = await post(bea, f"/console/api/handoffs/{handoff.id}/messages", {"text": "me too"})
    assert (status, body) == (404, {"error": "not_found"})
    assert world.tickets.get(ticket.number).transcript[-1]["text"] == "Hello, I'm Alex. I'll sort this."


async def test_a_note_is_kept_in_the_history_and_never_sent(alex: Browser, world: World, clock: Clock) -> None:
    ticket, handoff = world.hand_over()
    await post(alex, f"/console/api/handoffs/{handoff.id}/claim")
    status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/notes", {"text": "Called the depot, parcel found."})
    assert status == 201
    assert body == {"note": {"text": "Called the depot, parcel found.", "actor": "agent:alex", "handoff_id": handoff.id}}
    notes = [e for e in world.tickets.events(ticket.number) if e.kind == NOTE_EVENT]
    assert [(n.at, n.detail) for n in notes] == [(START, body["note"])]
    assert world.tickets.get(ticket.number).transcript == ticket.transcript
    status, view = await get_json(alex, f"/console/api/handoffs/{handoff.id}")
    assert status == 200 and view["notes"] == [{**body["note"], "at": START.isoformat()}]


async def test_hand_back_resumes_the_assistant_and_delivers_what_it_says(
    alex: Browser, world: World, rasa: RasaCalls, clock: Clock,
) -> None:
    ticket, handoff = world.hand_over()
    await post(alex, f"/console/api/handoffs/{handoff.id}/claim")
    clock.advance(300)
    status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/hand-back")
    assert status == 200 and body["handoff"]["state"] == "returned"
    stored = world.handoffs.get(handoff.id)
    assert (stored.state, stored.ended_at, stored.agent) == ("returned", START + timedelta(seconds=300), "agent:alex")
    assert world.handoffs.live_for_sender("web:customer-1") is None
    assert rasa.calls == [
        ("/conversations/web:customer-1/tracker/events", RASA_TOKEN, [{"event": "resume"}]),
        ("/conversations/web:customer-1/execute", RASA_TOKEN, {"name": "utter_anything_else"}),
        ("/conversations/web:customer-1/tracker/events", RASA_TOKEN, [{"event": "action", "name": "action_listen"}]),
    ]
    delivery = world.outbound.get(f"handoff:{handoff.id}:resume:0")
    assert delivery is not None and delivery.message == OutboundMessage(text=RESUMED_TEXT)
    assert delivery.conversation == Conversation("webchat", "customer-1")
    status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/hand-back")
    assert (status, body) == (404, {"error": "not_found"})


async def test_resolve_resolves_the_ticket_schedules_the_follow_up_and_hands_back(
    alex: Browser, world: World, rasa: RasaCalls, clock: Clock, accounts: AccountStore,
) -> None:
    ticket, handoff = world.hand_over()
    await post(alex, f"/console/api/handoffs/{handoff.id}/claim")
    status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/resolve", {"note": "Refund issued."})
    assert status == 200 and body["handoff"]["state"] == "returned"
    resolved = world.tickets.get(ticket.number)
    assert (resolved.status, resolved.resolved_at) == ("resolved", START)
    last = world.tickets.events(ticket.number)[-1]
    assert (last.kind, last.detail) == ("status", {"from": "escalated", "to": "resolved", "actor": "agent:alex", "note": "Refund issued."})
    with accounts._sessions() as session:
        followups = session.scalars(select(FollowupRow).where(FollowupRow.ticket_number == ticket.number)).all()
    assert len(followups) == 1
    assert world.handoffs.get(handoff.id).state == "returned"
    assert [path for path, _, _ in rasa.calls] == ["/conversations/web:customer-1/tracker/events",
                                                    "/conversations/web:customer-1/execute",
                                                    "/conversations/web:customer-1/tracker/events"]


async def test_the_access_rule_over_http(alex: Browser, bea: Browser, sam: Browser, world: World) -> None:
    _, handoff = world.hand_over()
    path = f"/console/api/handoffs/{handoff.id}"
    assert (await get_json(bea, path))[0] == 200, "anyone may read a waiting hand-off"
    await post(alex, f"{path}/claim")
    assert (await get_json(alex, path))[0] == 200
    assert await get_json(bea, path) == (404, {"error": "not_found"})
    assert (await bea.page(f"/console/handoffs/{handoff.id}"))[0] == 404
    assert (await get_json(sam, path))[0] == 200, "a supervisor reads every hand-off"
    assert await get_json(alex, "/console/api/handoffs/999999") == (404, {"error": "not_found"})


async def test_customer_text_is_inert_on_the_conversation_page(alex: Browser, world: World) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>' + "W" * 300
    ticket, handoff = world.hand_over()
    world.tickets.append_transcript(ticket.number, [{"sender": "customer", "text": hostile, "timestamp": START.isoformat()}])
    status, _, page = await alex.page(f"/console/handoffs/{handoff.id}")
    assert status == 200
    assert '<script>alert' not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("<script") == 1 and '<script src="/console/console.js"></script>' in page


async def test_every_new_write_needs_the_csrf_token(console: TestServer, alex: Browser, sam: Browser, world: World) -> None:
    _, handoff = world.hand_over()
    writes = [r for r in console_routes(console.app) if r.method == "POST" and "/handoffs/" in r.path]
    assert {r.path.rsplit("/", 1)[-1] for r in writes} == {
        "claim", "messages", "notes", "hand-back", "resolve", "transfer", "status", "callback", "assign"}
    for route in writes:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            path = route.path.replace("{handoff_id}", str(handoff.id))
            writer = sam if route.role == "supervisor" else alex
            async with writer.request("POST", path, json={"text": "hi", "to": "bea", "slot": START.isoformat()},
                                      headers=headers) as response:
                assert (response.status, await response.json()) == (403, {"error": "bad_csrf_token"}), route
    stored = world.handoffs.get(handoff.id)
    assert (stored.state, stored.agent) == ("waiting", None)


async def _receive(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 1.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {kind} notice within {within} s"
        message = json.loads((await ws.receive(timeout=left)).data)
        if message["type"] == kind:
            return message


async def test_queue_notices_and_customer_messages_reach_the_socket_within_a_second(
    alex: Browser, bea: Browser, world: World, app_env: str, clock: Clock,
) -> None:
    ticket, handoff = world.hand_over()
    async with alex.http.ws_connect(alex.base + "/console/ws", origin=ORIGIN) as watcher, \
            bea.http.ws_connect(bea.base + "/console/ws", origin=ORIGIN) as other:
        await _receive(watcher, "hello")
        await _receive(other, "hello")
        await watcher.send_json({"type": "watch", "handoff_id": handoff.id})
        assert await _receive(watcher, "watching") == {"type": "watching", "handoff_id": handoff.id}
        await post(alex, f"/console/api/handoffs/{handoff.id}/claim")
        for ws in (watcher, other):
            notice = (await _receive(ws, "queue"))["notice"]
            assert {k: notice[k] for k in ("event", "handoff_id", "state", "agent")} == {
                "event": "claimed", "handoff_id": handoff.id, "state": "claimed", "agent": "agent:alex"}
        await other.send_json({"type": "watch", "handoff_id": handoff.id})
        assert await _receive(other, "not_found") == {"type": "not_found", "handoff_id": handoff.id}

        service = Handoffs(world.handoffs, world.tickets, None, None,  # type: ignore[arg-type]
                           HandoffNotices(lambda: aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)), lambda text: 0.4)
        await service.keep_customer_message("web:customer-1", "Is anyone there?", START + timedelta(seconds=5))
        notice = (await _receive(watcher, "chat"))["notice"]
        assert (notice["event"], notice["sender"], notice["text"], notice["handoff_id"]) == (
            "customer_message", "customer", "Is anyone there?", handoff.id)
        clock.advance(10)  # the agent answers after the customer wrote (the transcript is in time order)
        await post(alex, f"/console/api/handoffs/{handoff.id}/messages", {"text": "Yes, Alex here."})
        notice = (await _receive(watcher, "chat"))["notice"]
        assert (notice["event"], notice["sender"], notice["agent_name"], notice["text"]) == (
            "agent_message", "agent", "Alex Agent", "Yes, Alex here.")
        with pytest.raises(asyncio.TimeoutError):
            await other.receive(timeout=0.3)
    assert [line["text"] for line in world.tickets.get(ticket.number).transcript[-2:]] == ["Is anyone there?", "Yes, Alex here."]


async def test_an_agent_transfers_their_conversation_and_a_supervisor_reassigns_it(
    alex: Browser, bea: Browser, sam: Browser, world: World,
) -> None:
    ticket, handoff = world.hand_over()
    path = f"/console/api/handoffs/{handoff.id}"
    assert await post(alex, f"{path}/transfer", {"to": "bea"}) == (409, {"error": "taken", "state": "waiting", "agent": None})
    await post(alex, f"{path}/claim")
    assert (await post(alex, f"{path}/transfer", {"to": "nobody"}))[0] == 400
    status, body = await post(alex, f"{path}/transfer", {"to": "bea"})
    assert status == 200 and (body["handoff"]["state"], body["handoff"]["agent"]) == ("claimed", "agent:bea")
    stored = world.handoffs.get(handoff.id)
    assert (stored.state, stored.agent, stored.claimed_at) == ("claimed", "agent:bea", START)
    assert await get_json(alex, path) == (404, {"error": "not_found"})
    assert (await get_json(bea, path))[0] == 200
    assert await post(alex, f"{path}/transfer", {"to": "alex"}) == (404, {"error": "not_found"})
    status, body = await post(sam, f"{path}/transfer", {"to": "alex"})
    assert status == 200 and body["handoff"]["agent"] == "agent:alex"
    moves = [e.detail for e in world.tickets.events(ticket.number) if e.kind == TRANSFER_EVENT]
    assert moves == [{"actor": "agent:alex", "to": "agent:bea", "handoff_id": handoff.id},
                     {"actor": "agent:sam", "to": "agent:alex", "handoff_id": handoff.id}]
