"""The ticket API over real HTTP on loopback: a ``python -m web`` process on the real SQLite and
PostgreSQL stores and the real Redis (see tests/web/ticket_api_support.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests

from bot.db import make_engine, make_sessionmaker
from bot.outbound.store import OutboundStore
from tests.web.conftest import UNUSED_RASA_PORT, start_web, web_env
from tests.web.ticket_api_support import API_PORT, OPENED, REDIS_DB, REDIS_HOST, REDIS_PORT, TicketApi, seed, ticket_api
from web.settings import WebSettings

__all__ = ["ticket_api"]

ROUTES = (
    ("GET", "/api/v1/tickets"),
    ("GET", "/api/v1/tickets/{kettle}"),
    ("GET", "/api/v1/tickets/{kettle}/history"),
    ("POST", "/api/v1/tickets/{kettle}/transitions"),
    ("GET", "/api/v1/tickets/{kettle}/survey"),
    ("GET", "/api/v1/callbacks"),
    ("POST", "/api/v1/callbacks/cb-1/done"),
)


def numbers(api: TicketApi, query: str) -> list[str]:
    response = api.call("GET", f"/api/v1/tickets{query}")
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def test_every_route_refuses_a_missing_or_wrong_token_and_changes_nothing(ticket_api: TicketApi) -> None:
    for method, path in ROUTES:
        path = path.format(**ticket_api.seeded.numbers)
        for token, headers in ((None, {}), ("wrong-token-0123456789", {}), (None, {"Authorization": f"Basic {ticket_api.token}"})):
            response = ticket_api.call(method, path, token=token, headers=headers, json={"to": "acknowledged"})
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json() == {"error": "unauthorized", "message": "send Authorization: Bearer <TICKET_API_TOKEN>"}
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="tickets"'
    kettle = ticket_api.seeded.store.get(ticket_api.seeded.numbers["kettle"])
    assert kettle is not None and kettle.status == "new"
    document = ticket_api.call("GET", "/api/v1/openapi.json", token=None)
    assert document.status_code == 200 and document.json()["openapi"] == "3.1.0"


def test_a_ticket_is_read_with_its_deadlines_and_legal_moves_but_not_its_conversation_id(ticket_api: TicketApi) -> None:
    number = ticket_api.seeded.numbers["kettle"]

    ticket = ticket_api.call("GET", f"/api/v1/tickets/{number.lower()}").json()

    assert {k: ticket[k] for k in ("number", "status", "channel", "category", "priority", "customer_name", "contact")} == {
        "number": number, "status": "new", "channel": "webchat", "category": "product", "priority": "P3",
        "customer_name": "Jane Morris", "contact": "jane@example.com",
    }
    assert ticket["allowed_transitions"] == ["acknowledged", "escalated", "withdrawn"]
    assert ticket["sla"] == {
        "classify_by": (OPENED + timedelta(hours=2)).isoformat(), "analyse_by": (OPENED + timedelta(hours=6)).isoformat(),
        "resolve_by": (OPENED + timedelta(hours=16)).isoformat(), "close_by": (OPENED + timedelta(hours=24)).isoformat(),
        "checks": [], "flagged_for_supervisor_at": None,
    }
    assert ticket["created_at"] == OPENED.isoformat() and ticket["resolved_at"] is None
    assert "sender_id" not in ticket and "transcript" not in ticket
    assert ticket_api.call("GET", "/api/v1/tickets/CX-ZZZZZZ").json() == {"error": "not_found", "message": "no ticket with that number"}
    assert ticket_api.call("GET", "/api/v1/tickets/not-a-number").status_code == 404


def test_the_list_filters_by_each_field_and_pages_newest_first(ticket_api: TicketApi) -> None:
    n = ticket_api.seeded.numbers
    day = lambda d: (OPENED + timedelta(days=d)).isoformat().replace("+00:00", "Z")  # noqa: E731

    assert numbers(ticket_api, "") == [n["gone"], n["rude"], n["bill"], n["parcel"], n["kettle"]]
    assert numbers(ticket_api, "?status=escalated") == [n["rude"]]
    assert numbers(ticket_api, "?category=delivery") == [n["gone"], n["parcel"]]
    assert numbers(ticket_api, "?channel=telegram") == [n["gone"], n["bill"]]
    assert numbers(ticket_api, "?priority=P3") == [n["bill"], n["kettle"]]
    assert numbers(ticket_api, "?channel=telegram&category=delivery") == [n["gone"]]
    assert numbers(ticket_api, f"?created_from={day(1)}&created_to={day(3)}") == [n["bill"], n["parcel"]]
    assert numbers(ticket_api, "?created_from=2026-03-03T10:00:00%2B01:00") == [n["gone"], n["rude"], n["bill"], n["parcel"]]
    page = ticket_api.call("GET", "/api/v1/tickets?limit=2&offset=2").json()
    assert ([i["number"] for i in page["items"]], page["total"], page["limit"], page["offset"]) == ([n["bill"], n["parcel"]], 5, 2, 2)
    assert numbers(ticket_api, "?offset=5") == []


BAD_FILTERS = (
    ("?status=open", "'status' must be one of new, acknowledged, in_progress, resolved, closed, reopened, escalated, withdrawn"),
    ("?priority=P9", "'priority' must be one of P1, P2, P3, P4"),
    ("?limit=0", "'limit' must be a whole number from 1 to 200"),
    ("?limit=many", "'limit' must be a whole number from 1 to 200"),
    ("?offset=-1", "'offset' must be a whole number from 0 to 1000000"),
    ("?created_from=yesterday", "'created_from' must be an RFC 3339 date-time with a timezone"),
    ("?created_to=2026-03-02T09:00:00", "'created_to' must carry a timezone (Z or ±hh:mm)"),
)


def test_a_bad_filter_gets_a_400_naming_it(ticket_api: TicketApi) -> None:
    answers = [ticket_api.call("GET", f"/api/v1/tickets{query}") for query, _ in BAD_FILTERS]
    assert [(a.status_code, a.json()) for a in answers] == [(400, {"error": "bad_request", "message": m}) for _, m in BAD_FILTERS]


def test_a_legal_move_is_made_and_recorded_with_its_note_and_an_illegal_one_is_a_409(ticket_api: TicketApi) -> None:
    number = ticket_api.seeded.numbers["kettle"]

    moved = ticket_api.call("POST", f"/api/v1/tickets/{number}/transitions", json={"to": "acknowledged", "note": "called the customer", "agent": "Priya Shah"})
    refused = ticket_api.call("POST", f"/api/v1/tickets/{number}/transitions", json={"to": "closed", "note": "nope"})
    history = ticket_api.call("GET", f"/api/v1/tickets/{number}/history").json()["items"]

    assert moved.status_code == 200
    assert (moved.json()["status"], moved.json()["allowed_transitions"]) == ("acknowledged", ["in_progress", "escalated", "withdrawn"])
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "illegal_transition",
        "message": f"{number} cannot go from 'acknowledged' to 'closed'; from 'acknowledged' it may go to: in_progress, escalated, withdrawn",
        "from": "acknowledged", "to": "closed", "allowed": ["in_progress", "escalated", "withdrawn"],
    }
    assert [(e["kind"], e["detail"]) for e in history] == [
        ("created", {"status": "new"}),
        ("status", {"from": "new", "to": "acknowledged", "actor": "agent:Priya Shah", "note": "called the customer"}),
    ]
    assert history[0]["id"] < history[1]["id"]
    stored = ticket_api.seeded.store.get(number)
    assert stored is not None and stored.status == "acknowledged"


STATES_TEXT = "new, acknowledged, in_progress, resolved, closed, reopened, escalated, withdrawn"
BAD_BODIES = (
    ({"to": "done"}, f"'to' must be one of {STATES_TEXT}"),
    ({}, f"'to' must be one of {STATES_TEXT}"),
    ({"to": "acknowledged", "note": 7}, "'note' must be a text of at most 2000 characters, or null"),
    ({"to": "acknowledged", "note": "x" * 2001}, "'note' must be a text of at most 2000 characters, or null"),
    ({"to": "acknowledged", "agent": " Priya"}, "'agent' must be a name of 1 to 100 characters on one line, starting with a non-space"),
    ({"to": "acknowledged", "who": "me"}, "unknown field(s): who"),
    (["acknowledged"], "the body must be a JSON object"),
)


def test_a_bad_state_change_gets_a_400_and_changes_nothing(ticket_api: TicketApi) -> None:
    number = ticket_api.seeded.numbers["kettle"]
    answers = [ticket_api.call("POST", f"/api/v1/tickets/{number}/transitions", json=body) for body, _ in BAD_BODIES]
    not_json = ticket_api.call("POST", f"/api/v1/tickets/{number}/transitions", data=b"to=closed")
    assert [(a.status_code, a.json()) for a in answers] == [(400, {"error": "bad_request", "message": m}) for _, m in BAD_BODIES]
    assert (not_json.status_code, not_json.json()["message"]) == (400, "the body is not JSON")
    assert [e.kind for e in ticket_api.seeded.store.events(number)] == ["created"]


def test_moves_to_in_progress_and_resolved_are_handed_to_the_outbound_path_for_the_customer(ticket_api: TicketApi) -> None:
    number = ticket_api.seeded.numbers["parcel"]
    for state in ("acknowledged", "in_progress", "resolved"):
        assert ticket_api.call("POST", f"/api/v1/tickets/{number}/transitions", json={"to": state}).status_code == 200

    events = {e.detail["to"]: e.id for e in ticket_api.seeded.store.events(number) if e.kind == "status"}
    engine = make_engine(ticket_api.database_url)
    outbound = OutboundStore(make_sessionmaker(engine))
    try:
        records = {state: outbound.get(f"status:{number}:{events[state]}") for state in ("acknowledged", "in_progress", "resolved")}
    finally:
        engine.dispose()
    assert records["acknowledged"] is None
    assert [(r.conversation.sender_id, r.status, r.message.text) for r in (records["in_progress"], records["resolved"])] == [
        ("web:parcel", "pending", f"An update on ticket {number}: our team is now working on your complaint. I'll let you know here as soon as it is resolved."),
        ("web:parcel", "pending", f"Good news about ticket {number}: our team has resolved your complaint. If something is still not right, just tell me here."),
    ]
    queue = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        queued = {m.decode() for m in queue.zrange("arq:queue", 0, -1)}
    finally:
        queue.close()
    assert {f"status:{number}:{events['in_progress']}", f"status:{number}:{events['resolved']}"} <= queued


def test_a_short_token_stops_the_app_and_no_token_turns_the_api_off(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_API_TOKEN", "short")
    with pytest.raises(ValueError, match="TICKET_API_TOKEN must hold a secret of at least 16 characters"):
        WebSettings.from_env()
    monkeypatch.setenv("TICKET_API_TOKEN", "a-secret-long-enough-0123")
    assert "a-secret" not in repr(WebSettings.from_env())

    seed(sqlite_url)
    env = web_env(
        sqlite_url, tmp_path / "files", UNUSED_RASA_PORT, "rest-token-0123456789", RASA_PROCESSES="1", TICKET_API_TOKEN="",
        REDIS_HOST=REDIS_HOST, REDIS_PORT=str(REDIS_PORT), WEBCHAT_REDIS_DB=str(REDIS_DB), WORKER_REDIS_DB=str(REDIS_DB),
    )
    app = start_web(API_PORT, env, tmp_path)
    try:
        answers = [requests.get(f"{app.url}/api/v1/tickets", headers=h, timeout=10) for h in ({}, {"Authorization": "Bearer "})]
    finally:
        app.stop()
    assert [(a.status_code, a.json()["error"]) for a in answers] == [(503, "api_disabled")] * 2
