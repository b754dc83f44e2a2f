"""The ticket API's callback and survey routes over real HTTP on loopback: a ``python -m web``
process on the real SQLite and PostgreSQL stores, with callbacks and follow-ups written by the
features' own code (tests/web/ticket_api_support.py, ``extras``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.callbacks.jobs import BUTTON_RESPONSES, REMINDER_RESPONSE, CallbackJobs, domain_texts
from bot.callbacks.policy import callback_policy
from bot.outbound.delivery import Outbound
from bot.outbound.settings import load_outbound_settings
from tests.web.ticket_api_support import (
    BILL_RATED, BILL_RESOLVED, BOOKED_AT, RUDE_RESOLVED, REDIS_DB, REDIS_HOST, REDIS_PORT, SLOTS, Extras, TicketApi,
    extras, ticket_api,
)

__all__ = ["extras", "ticket_api"]

CALLBACK_STATES = "booked, rescheduled, cancelled, done, missed"


def callback(api: TicketApi, ticket: str, seq: int, slot: str, **changes: Any) -> dict[str, Any]:
    """A callback as the API should show it: seeded values, then ``changes``."""
    number = api.seeded.numbers[ticket]
    kettle = ticket == "kettle"
    shown = {
        "id": f"{number}-{seq}", "ticket_number": number, "state": "booked",
        "channel": "telegram" if ticket == "bill" else "webchat",
        "slot_start": SLOTS[slot].start.isoformat(), "slot_end": SLOTS[slot].end.isoformat(),
        "time_zone": "Europe/London", "reminder": "pending",
        "customer_name": "Jane Morris" if kettle else None, "contact": "jane@example.com" if kettle else None,
        "created_at": BOOKED_AT.isoformat(), "updated_at": BOOKED_AT.isoformat(), "done_at": None, "done_by": None,
    }
    return shown | changes


def seeded_callbacks(api: TicketApi) -> list[dict[str, Any]]:
    """Every seeded callback, soonest slot first (ties in booking order)."""
    return [
        callback(api, "kettle", 1, "a"),
        callback(api, "bill", 1, "a", state="cancelled", updated_at=(BOOKED_AT + timedelta(hours=1)).isoformat()),
        callback(api, "parcel", 1, "b", state="rescheduled"),
        callback(api, "rude", 1, "c", state="missed", updated_at=(SLOTS["c"].end + timedelta(minutes=30)).isoformat()),
        callback(api, "parcel", 2, "d"),
    ]


def page(api: TicketApi, query: str = "") -> dict[str, Any]:
    response = api.call("GET", f"/api/v1/callbacks{query}")
    assert response.status_code == 200, response.text
    return response.json()


def test_callbacks_are_listed_soonest_first_with_whom_to_call_filtered_by_state_and_paged(ticket_api: TicketApi, extras: Extras) -> None:
    every = seeded_callbacks(ticket_api)

    assert page(ticket_api) == {"items": every, "total": 5, "limit": 50, "offset": 0}
    assert page(ticket_api, "?state=booked") == {"items": [every[0], every[4]], "total": 2, "limit": 50, "offset": 0}
    for state, index in (("cancelled", 1), ("rescheduled", 2), ("missed", 3)):
        assert page(ticket_api, f"?state={state}") == {"items": [every[index]], "total": 1, "limit": 50, "offset": 0}
    assert page(ticket_api, "?state=done") == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert page(ticket_api, "?limit=2&offset=1") == {"items": every[1:3], "total": 5, "limit": 2, "offset": 1}
    assert page(ticket_api, "?state=booked&limit=1&offset=1") == {"items": [every[4]], "total": 2, "limit": 1, "offset": 1}
    assert page(ticket_api, "?offset=5") == {"items": [], "total": 5, "limit": 50, "offset": 5}


def test_a_bad_callback_filter_gets_a_400_naming_it(ticket_api: TicketApi, extras: Extras) -> None:
    cases = (
        ("?state=open", f"'state' must be one of {CALLBACK_STATES}"),
        ("?state=BOOKED", f"'state' must be one of {CALLBACK_STATES}"),
        ("?limit=201", "'limit' must be a whole number from 1 to 200"),
        ("?offset=x", "'offset' must be a whole number from 0 to 1000000"),
    )
    answers = [ticket_api.call("GET", f"/api/v1/callbacks{query}") for query, _ in cases]
    assert [(a.status_code, a.json()) for a in answers] == [(400, {"error": "bad_request", "message": m}) for _, m in cases]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_call_marked_done_leaves_the_queue_once_and_is_written_into_the_tickets_history(ticket_api: TicketApi, extras: Extras) -> None:
    number = ticket_api.seeded.numbers["kettle"]
    before = datetime.now(timezone.utc)

    first = ticket_api.call("POST", f"/api/v1/callbacks/{number}-1/done", json={"agent": "Priya Shah", "note": "Refund confirmed by phone."})
    after = datetime.now(timezone.utc)
    again = ticket_api.call("POST", f"/api/v1/callbacks/{number.lower()}-1/done", json={"agent": "Sam Lee", "note": "called twice?"})
    history = ticket_api.call("GET", f"/api/v1/tickets/{number}/history").json()["items"]

    assert (first.status_code, again.status_code) == (200, 200)
    done = first.json()
    assert before <= moment(done["done_at"]) <= after
    assert done == callback(ticket_api, "kettle", 1, "a", state="done", updated_at=done["done_at"], done_at=done["done_at"], done_by="agent:Priya Shah")
    assert again.json() == done
    assert [(e["kind"], e["detail"]) for e in history] == [
        ("created", {"status": "new"}),
        ("callback_done", {"callback": f"callback:{number}:1", "slot_start": SLOTS["a"].start.isoformat(), "actor": "agent:Priya Shah", "note": "Refund confirmed by phone."}),
    ]
    assert history[1]["at"] == done["done_at"]
    every = seeded_callbacks(ticket_api)
    assert page(ticket_api, "?state=booked")["items"] == [every[4]]
    assert page(ticket_api, "?state=done")["items"] == [done]
    assert extras.callback_store.get(f"callback:{number}:1").state == "done"


def test_a_missed_call_can_still_be_marked_done_without_a_body_and_a_cancelled_or_rescheduled_one_cannot(ticket_api: TicketApi, extras: Extras) -> None:
    n = ticket_api.seeded.numbers

    missed = ticket_api.call("POST", f"/api/v1/callbacks/{n['rude']}-1/done")
    cancelled = ticket_api.call("POST", f"/api/v1/callbacks/{n['bill']}-1/done", json={"agent": "Priya Shah"})
    rescheduled = ticket_api.call("POST", f"/api/v1/callbacks/{n['parcel']}-1/done", json={})

    assert missed.status_code == 200
    done_at = missed.json()["done_at"]
    assert missed.json() == callback(ticket_api, "rude", 1, "c", state="done", updated_at=done_at, done_at=done_at, done_by="system")
    assert [(r.status_code, r.json()) for r in (cancelled, rescheduled)] == [
        (409, {"error": "callback_not_open", "message": f"callback {n['bill']}-1 was cancelled; only a booked or missed call can be marked done", "state": "cancelled"}),
        (409, {"error": "callback_not_open", "message": f"callback {n['parcel']}-1 was rescheduled; only a booked or missed call can be marked done", "state": "rescheduled"}),
    ]
    assert [e.detail["actor"] for e in ticket_api.seeded.store.events(n["rude"]) if e.kind == "callback_done"] == ["system"]
    assert [e.kind for e in ticket_api.seeded.store.events(n["bill"]) if e.kind == "callback_done"] == []
    assert [extras.callback_store.get(f"callback:{n[name]}:1").state for name in ("bill", "parcel")] == ["cancelled", "rescheduled"]


def test_an_unknown_callback_is_a_404_and_a_bad_body_a_400_and_neither_changes_anything(ticket_api: TicketApi, extras: Extras) -> None:
    number = ticket_api.seeded.numbers["kettle"]
    unknown = [
        ticket_api.call("POST", f"/api/v1/callbacks/{path}/done", json={"agent": "Priya Shah"})
        for path in (f"{number}-2", "CX-ZZZZZZ-1", "cb-1", f"{number}-0", number)
    ]
    bodies = (
        ({"note": 7}, "'note' must be a text of at most 2000 characters, or null"),
        ({"note": "x" * 2001}, "'note' must be a text of at most 2000 characters, or null"),
        ({"agent": " Priya"}, "'agent' must be a name of 1 to 100 characters on one line, starting with a non-space"),
        ({"agent": "Priya", "when": "now"}, "unknown field(s): when"),
        (["done"], "the body must be a JSON object"),
    )
    bad = [ticket_api.call("POST", f"/api/v1/callbacks/{number}-1/done", json=body) for body, _ in bodies]
    not_json = ticket_api.call("POST", f"/api/v1/callbacks/{number}-1/done", data=b"agent=Priya")

    assert [(a.status_code, a.json()) for a in unknown] == [(404, {"error": "not_found", "message": "no such callback"})] * 5
    assert [(a.status_code, a.json()) for a in bad] == [(400, {"error": "bad_request", "message": m}) for _, m in bodies]
    assert (not_json.status_code, not_json.json()) == (400, {"error": "bad_request", "message": "the body is not JSON"})
    assert page(ticket_api)["items"] == seeded_callbacks(ticket_api)
    assert [e.kind for e in ticket_api.seeded.store.events(number)] == ["created"]


async def run_missed_checks(api: TicketApi, extras: Extras, keys: list[str], now: datetime) -> None:
    """The worker's missed-call check (bot/callbacks/jobs.py) for ``keys``, at ``now``."""
    settings = replace(load_outbound_settings(), redis_host=REDIS_HOST, redis_port=REDIS_PORT, redis_db=REDIS_DB)
    outbound = await Outbound.open(settings, api.database_url)
    try:
        jobs = CallbackJobs(
            store=extras.callback_store, tickets=api.seeded.store, outbound=outbound, policy=callback_policy(),
            texts=domain_texts((REMINDER_RESPONSE, *BUTTON_RESPONSES)), clock=lambda: now,
        )
        for key in keys:
            assert await jobs.check_missed(key) is None
    finally:
        await outbound.close()


def test_a_call_marked_done_through_the_api_is_never_escalated_as_missed_and_one_not_marked_is(ticket_api: TicketApi, extras: Extras) -> None:
    n = ticket_api.seeded.numbers
    assert ticket_api.call("POST", f"/api/v1/callbacks/{n['kettle']}-1/done", json={"agent": "Priya Shah"}).status_code == 200
    late = SLOTS["d"].end + timedelta(hours=1)

    asyncio.run(run_missed_checks(ticket_api, extras, [f"callback:{n['kettle']}:1", f"callback:{n['parcel']}:2"], late))

    assert [(c["id"], c["state"]) for c in page(ticket_api)["items"]] == [
        (f"{n['kettle']}-1", "done"), (f"{n['bill']}-1", "cancelled"), (f"{n['parcel']}-1", "rescheduled"),
        (f"{n['rude']}-1", "missed"), (f"{n['parcel']}-2", "missed"),
    ]
    kettle = ticket_api.call("GET", f"/api/v1/tickets/{n['kettle']}").json()
    parcel = ticket_api.call("GET", f"/api/v1/tickets/{n['parcel']}").json()
    parcel_moves = [e["detail"] for e in ticket_api.call("GET", f"/api/v1/tickets/{n['parcel']}/history").json()["items"] if e["kind"] == "status"]
    assert (kettle["status"], parcel["status"]) == ("new", "escalated")
    assert parcel_moves == [{
        "from": "new", "to": "escalated", "actor": "system",
        "note": f"Callback callback:{n['parcel']}:2 booked for {SLOTS['d'].start.isoformat()} was not marked done within 30 minutes of its slot.",
    }]


def survey(api: TicketApi, name: str) -> tuple[int, dict[str, Any]]:
    response = api.call("GET", f"/api/v1/tickets/{api.seeded.numbers[name]}/survey")
    return response.status_code, response.json()


def test_a_survey_is_read_before_it_exists_while_it_is_pending_and_once_answered(ticket_api: TicketApi, extras: Extras) -> None:
    n = ticket_api.seeded.numbers
    sent = BILL_RESOLVED + timedelta(hours=72)

    assert survey(ticket_api, "kettle") == (404, {"error": "not_found", "message": f"ticket {n['kettle']} has no survey"})
    assert survey(ticket_api, "rude") == (200, {
        "ticket_number": n["rude"], "state": "scheduled", "channel": "webchat",
        "resolved_at": RUDE_RESOLVED.isoformat(), "due_at": (RUDE_RESOLVED + timedelta(hours=72)).isoformat(),
        "next_step": "survey", "next_step_at": (RUDE_RESOLVED + timedelta(hours=72)).isoformat(),
        "sent_at": None, "reminded_at": None, "answered_at": None, "finished_at": None, "cancel_reason": None,
        "rating": None, "solved": None, "comment": None,
    })
    assert survey(ticket_api, "bill") == (200, {
        "ticket_number": n["bill"], "state": "answered", "channel": "telegram",
        "resolved_at": BILL_RESOLVED.isoformat(), "due_at": sent.isoformat(),
        "next_step": None, "next_step_at": None,
        "sent_at": sent.isoformat(), "reminded_at": None, "answered_at": BILL_RATED.isoformat(),
        "finished_at": BILL_RATED.isoformat(), "cancel_reason": None,
        "rating": 3, "solved": True, "comment": "A phone call would have been quicker.",
    })
    bill = ticket_api.call("GET", f"/api/v1/tickets/{n['bill']}").json()
    assert (bill["status"], bill["priority"]) == ("closed", "P3")
    assert ticket_api.call("GET", "/api/v1/tickets/CX-ZZZZZZ/survey").json() == {"error": "not_found", "message": "no ticket with that number"}


def test_a_survey_cancelled_by_a_reopening_says_why(ticket_api: TicketApi, extras: Extras) -> None:
    number = ticket_api.seeded.numbers["rude"]
    reopened = ticket_api.call("POST", f"/api/v1/tickets/{number}/transitions", json={"to": "reopened", "agent": "Priya Shah"})

    status, shown = survey(ticket_api, "rude")

    assert reopened.status_code == 200
    at = reopened.json()["updated_at"]
    assert (status, shown) == (200, {
        "ticket_number": number, "state": "cancelled", "channel": "webchat",
        "resolved_at": RUDE_RESOLVED.isoformat(), "due_at": (RUDE_RESOLVED + timedelta(hours=72)).isoformat(),
        "next_step": None, "next_step_at": None,
        "sent_at": None, "reminded_at": None, "answered_at": None, "finished_at": at, "cancel_reason": "reopened",
        "rating": None, "solved": None, "comment": None,
    })
