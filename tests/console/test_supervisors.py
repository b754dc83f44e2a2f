"""The supervisors' view over real HTTP on loopback: every agent's load and presence (sessions and
console sockets in the real Redis), the tickets breaching or about to breach (the SLA's own
deadlines and ``supervisor_escalation_within_h``), reassigning a conversation with the single UPDATE
of claim and transfer, and agents refused (403). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer

from bot.handoff.store import ASSIGN_EVENT
from tests.console.conftest import IDLE_S, ORIGIN, PASSWORD, START, Browser, Clock, World, get_json, post
from tests.console.routes import console_routes
from web.console.accounts import Account, AccountStore

pytestmark = pytest.mark.usefixtures("agent", "supervisor")

P2_RESOLVE = timedelta(hours=12)
"""settings/sla.yml: a P2 ticket's resolve deadline, 12 hours after filing."""


def _agent_rows(body: dict) -> dict[str, tuple]:
    return {a["name"]: (a["role"], a["online"], a["sessions"], a["sockets"], a["open"], [h["id"] for h in a["handoffs"]])
            for a in body["agents"]}


async def test_the_load_is_each_agents_open_conversations_and_presence_follows_sessions_and_sockets(
    console: TestServer, alex: Browser, sam: Browser, second_agent: Account, world: World, clock: Clock,
) -> None:
    _, first = world.hand_over(sender="web:load-1")
    _, second = world.hand_over(sender="web:load-2", priority="P1")
    _, third = world.hand_over(sender="web:load-3")
    for handoff in (first, second):
        assert (await post(alex, f"/console/api/handoffs/{handoff.id}/claim"))[0] == 200

    status, body = await get_json(sam, "/console/api/supervisors")
    assert status == 200
    assert _agent_rows(body) == {
        "alex": ("agent", True, 1, 0, 2, [second.id, first.id]),  # the P1 first
        "sam": ("supervisor", True, 1, 0, 0, []),
        "bea": ("agent", False, 0, 0, 0, []),
    }
    assert [a["name"] for a in body["agents"]] == ["alex", "sam", "bea"], "online first, then the busiest"
    assert [h["id"] for h in body["waiting"]] == [third.id]
    assert body["waiting"][0]["waited_min"] == 0 and body["waiting"][0]["queue"] == "agents"

    async with alex.http.ws_connect(alex.base + "/console/ws", origin=ORIGIN) as socket:
        assert (await socket.receive_json(timeout=2))["type"] == "hello"
        _, body = await get_json(sam, "/console/api/supervisors")
        assert _agent_rows(body)["alex"][1:4] == (True, 1, 1)
    await asyncio.sleep(0.2)  # the socket's handler runs its clean-up after the close
    _, body = await get_json(sam, "/console/api/supervisors")
    assert _agent_rows(body)["alex"][1:4] == (True, 1, 0)

    async with alex.request("POST", "/console/sign-out", headers={"X-CSRF-Token": await alex.api_token()}) as response:
        assert response.status == 303
    _, body = await get_json(sam, "/console/api/supervisors")
    assert _agent_rows(body)["alex"] == ("agent", False, 0, 0, 2, [second.id, first.id]), "offline, still holding two"

    bea = Browser(alex.base)
    try:
        assert (await bea.sign_in("bea", PASSWORD))[0] == 303
        _, body = await get_json(sam, "/console/api/supervisors")
        assert _agent_rows(body)["bea"][1:4] == (True, 1, 0)
        clock.advance(IDLE_S - 10)
        _, body = await get_json(sam, "/console/api/supervisors")  # sam's request keeps sam's session alive
        assert _agent_rows(body)["bea"][1:4] == (True, 1, 0)
        clock.advance(20)  # bea's session has been idle longer than CONSOLE_SESSION_IDLE_S
        _, body = await get_json(sam, "/console/api/supervisors")
        assert _agent_rows(body)["bea"][1:4] == (False, 0, 0)
        assert _agent_rows(body)["sam"][1:4] == (True, 1, 0)
    finally:
        await bea.close()


async def test_tickets_breaching_or_about_to_breach_by_the_stage_they_are_in(
    sam: Browser, world: World, clock: Clock,
) -> None:
    """Stage deadlines are cumulative from filing (P2: classify 1 h, analyse 4 h, resolve 12 h); the
    window is supervisor_escalation_within_h, 1 h."""
    opened = START - timedelta(hours=11, minutes=30)
    late_new, _ = world.hand_over(sender="web:risk-1", at=START - timedelta(hours=2), status="new")
    due_soon, live = world.hand_over(sender="web:risk-2", at=opened)
    world.tickets.transition(due_soon.number, "in_progress", actor="agent:alex", now=START - timedelta(hours=1))
    analysing, _ = world.hand_over(sender="web:risk-3", at=START - timedelta(hours=3, minutes=10))  # analyse in 50 min
    calm, _ = world.hand_over(sender="web:risk-4", at=START - timedelta(minutes=10))
    finished, _ = world.hand_over(sender="web:risk-5", at=START - timedelta(hours=20))
    world.tickets.transition(finished.number, "resolved", actor="agent:alex", now=START - timedelta(hours=1))
    await post(sam, f"/console/api/handoffs/{live.id}/claim")

    status, body = await get_json(sam, "/console/api/supervisors")
    assert status == 200
    assert [(t["ticket_number"], t["status"], t["stage"], t["breached"], t["minutes_left"]) for t in body["at_risk"]] == [
        (late_new.number, "new", "classify", True, -60),
        (due_soon.number, "in_progress", "resolve", False, 30),
        (analysing.number, "escalated", "analyse", False, 50),
    ]
    assert body["at_risk"][1]["deadline"] == (opened + P2_RESOLVE).isoformat()
    assert body["at_risk"][1]["handoff"] == {"id": live.id, "state": "claimed", "agent": "agent:sam", "queue": "agents"}
    assert body["escalation_window_h"] == 1.0
    assert calm.number not in {t["ticket_number"] for t in body["at_risk"]}

    status, _, page = await sam.page("/console/supervisors")
    assert status == 200
    assert f'<tr data-ticket="{late_new.number}" class="breached">' in page and "late by 60 min" in page
    assert f'<tr data-ticket="{due_soon.number}" class="due-soon">' in page and "30 min" in page

    for _ in range(31):  # 31 minutes on, in steps that keep sam's session from lapsing
        clock.advance(60)
        status, body = await get_json(sam, "/console/api/supervisors")
    assert status == 200
    assert [(t["ticket_number"], t["breached"]) for t in body["at_risk"]][:3] == [
        (late_new.number, True), (due_soon.number, True), (analysing.number, False)]


async def test_a_supervisor_reassigns_a_waiting_or_claimed_conversation(
    alex: Browser, bea: Browser, sam: Browser, world: World, clock: Clock,
) -> None:
    ticket, handoff = world.hand_over()
    path = f"/console/api/handoffs/{handoff.id}"
    clock.advance(120)
    status, body = await post(sam, f"{path}/assign", {"to": "bea"})
    assert status == 200 and (body["handoff"]["state"], body["handoff"]["agent"]) == ("claimed", "agent:bea")
    stored = world.handoffs.get(handoff.id)
    assert (stored.state, stored.agent, stored.claimed_at) == ("claimed", "agent:bea", START + timedelta(seconds=120))
    assert (await get_json(bea, path))[0] == 200
    _, mine = await get_json(bea, "/console/api/handoffs")
    assert [h["id"] for h in mine["mine"]] == [handoff.id] and mine["handoffs"] == []

    clock.advance(60)
    status, body = await post(sam, f"{path}/assign", {"to": "alex"})
    assert status == 200 and body["handoff"]["agent"] == "agent:alex"
    stored = world.handoffs.get(handoff.id)
    assert (stored.agent, stored.claimed_at) == ("agent:alex", START + timedelta(seconds=120)), "claimed when first claimed"
    assert await get_json(bea, path) == (404, {"error": "not_found"})
    moves = [(e.at, e.detail) for e in world.tickets.events(ticket.number) if e.kind == ASSIGN_EVENT]
    assert moves == [
        (START + timedelta(seconds=120), {"actor": "agent:sam", "from": None, "to": "agent:bea", "handoff_id": handoff.id}),
        (START + timedelta(seconds=180), {"actor": "agent:sam", "from": "agent:bea", "to": "agent:alex", "handoff_id": handoff.id}),
    ]

    assert await post(sam, f"{path}/assign", {"to": "nobody"}) == (
        400, {"error": "unknown_agent", "message": "no active account has that name"})
    assert await post(sam, "/console/api/handoffs/999999/assign", {"to": "bea"}) == (404, {"error": "not_found"})
    assert (await post(alex, f"{path}/hand-back"))[0] == 200  # the stand-in for Rasa answers
    assert await post(sam, f"{path}/assign", {"to": "bea"}) == (
        409, {"error": "taken", "state": "returned", "agent": "Alex Agent"})


async def test_two_supervisors_reassigning_at_once_are_recorded_in_the_order_the_moves_applied(
    console: TestServer, sam: Browser, second_agent: Account, accounts: AccountStore, world: World, clock: Clock,
) -> None:
    accounts.create("tess", "supervisor", PASSWORD, now=clock(), display_name="Tess Supervisor")
    tess = Browser(sam.base)
    try:
        assert (await tess.sign_in("tess", PASSWORD))[0] == 303
        for trial in range(8):
            ticket, handoff = world.hand_over(sender=f"web:assign-race-{trial}")
            results = await asyncio.gather(post(sam, f"/console/api/handoffs/{handoff.id}/assign", {"to": "alex"}),
                                           post(tess, f"/console/api/handoffs/{handoff.id}/assign", {"to": "bea"}))
            assert [status for status, _ in results] == [200, 200]
            stored = world.handoffs.get(handoff.id)
            moves = [e.detail for e in world.tickets.events(ticket.number) if e.kind == ASSIGN_EVENT]
            assert [move["from"] for move in moves] == [None, moves[0]["to"]], trial
            assert {move["to"] for move in moves} == {"agent:alex", "agent:bea"}
            assert (stored.state, stored.agent, stored.claimed_at) == ("claimed", moves[1]["to"], START)
    finally:
        await tess.close()


async def test_agents_are_refused_the_supervisors_view_and_reassigning(
    console: TestServer, alex: Browser, world: World,
) -> None:
    _, handoff = world.hand_over()
    supervisors_only = {(r.method, r.path) for r in console_routes(console.app) if r.role == "supervisor"}
    assert {("GET", "/console/supervisors"), ("GET", "/console/api/supervisors"),
            ("POST", "/console/api/handoffs/{handoff_id}/assign")} <= supervisors_only
    assert await get_json(alex, "/console/api/supervisors") == (403, {"error": "forbidden"})
    assert await post(alex, f"/console/api/handoffs/{handoff.id}/assign", {"to": "alex"}) == (403, {"error": "forbidden"})
    status, _, page = await alex.page("/console/supervisors")
    assert status == 403 and "This page is for supervisors." in page
    assert world.handoffs.get(handoff.id).state == "waiting"
    _, _, queue = await alex.page("/console/")
    assert 'href="/console/supervisors"' not in queue
