"""Working the ticket from the conversation page over real HTTP on loopback: changing its state along
the lifecycle (an illegal move refused with the states it may go to), booking a call back from the
assistant's own free slots, and the suggested next steps from settings/next_steps.yml. SQLite and
PostgreSQL, the real Redis (the call back's jobs, the customer's messages)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.callbacks.jobs import domain_texts, missed_job_id, reminder_job_id
from bot.callbacks.policy import callback_policy
from bot.callbacks.slots import Slot, free_slots, slot_label
from bot.callbacks.store import CallbackStore
from bot.handoff.desk import CALLBACK_BOOKED_EVENT
from bot.sla.notices import load_notice_texts, notice_key
from bot.outbound.messages import Conversation, OutboundMessage
from tests.console.conftest import START, Browser, World, get_json, post

pytestmark = pytest.mark.usefixtures("agent", "supervisor")

LONDON = ZoneInfo("Europe/London")


def team_label(moment: datetime) -> str:
    """How the console shows a moment to agents: on the team's clock (settings/callbacks.yml)."""
    return slot_label(Slot(moment, moment), callback_policy().business_zone)


async def test_an_agent_moves_the_ticket_along_its_lifecycle_and_the_customer_is_told(
    alex: Browser, bea: Browser, sam: Browser, world: World,
) -> None:
    ticket, handoff = world.hand_over()
    path = f"/console/api/handoffs/{handoff.id}/status"
    assert await post(alex, path, {"to": "in_progress"}) == (409, {"error": "claim_first", "state": "waiting"})
    await post(alex, f"/console/api/handoffs/{handoff.id}/claim")
    status, _, page = await alex.page(f"/console/handoffs/{handoff.id}")
    assert status == 200
    assert ('<option value="in_progress">in progress</option><option value="resolved">resolved</option>'
            '<option value="withdrawn">withdrawn</option>') in page

    status, body = await post(alex, path, {"to": "in_progress", "note": "Checking with the depot"})
    assert (status, body) == (200, {"ticket": {"number": ticket.number, "status": "in_progress",
                                               "allowed": ["resolved", "escalated", "withdrawn"]}})
    moved = world.tickets.events(ticket.number)[-1]
    assert (moved.kind, moved.at, moved.detail) == ("status", START, {
        "from": "escalated", "to": "in_progress", "actor": "agent:alex", "note": "Checking with the depot"})
    told = world.outbound.get(notice_key(ticket.number, moved.id))
    assert told is not None and told.conversation == Conversation("webchat", "customer-1")
    assert told.message == OutboundMessage(load_notice_texts()["in_progress"].format(ticket_number=ticket.number))

    status, body = await post(alex, path, {"to": "closed"})
    assert (status, body) == (409, {
        "error": "transition_not_allowed", "status": "in_progress", "to": "closed",
        "allowed": ["resolved", "escalated", "withdrawn"],
        "message": f"{ticket.number} cannot go from 'in_progress' to 'closed'; from 'in_progress' it may go to: "
                   "resolved, escalated, withdrawn",
    })
    assert world.tickets.get(ticket.number).status == "in_progress"
    assert (await post(alex, path, {"to": "on_hold"}))[0] == 400
    assert await post(bea, path, {"to": "resolved"}) == (404, {"error": "not_found"}), "not bea's conversation"
    status, body = await post(sam, path, {"to": "resolved", "note": "Refund approved"})
    assert status == 200 and body["ticket"]["status"] == "resolved" and body["ticket"]["allowed"] == ["closed", "reopened"]
    assert world.handoffs.get(handoff.id).state == "claimed", "changing the state does not end the conversation"


def _expected_slot(slot: Slot) -> dict[str, str]:
    return {"start": slot.iso(), "label": team_label(slot.start), "customer_label": slot_label(slot, LONDON)}


async def test_an_agent_books_a_call_back_from_the_free_slots_and_the_customer_is_told(
    alex: Browser, world: World, redis_client: redis.Redis, db_sessions,  # noqa: ANN001
) -> None:
    ticket, handoff = world.hand_over()
    policy = callback_policy()
    offered = free_slots(policy, START, {})
    assert len(offered) == policy.slots_offered and offered[0].start == START + timedelta(hours=1)
    await post(alex, f"/console/api/handoffs/{handoff.id}/claim")

    status, body = await get_json(alex, f"/console/api/handoffs/{handoff.id}/callback-slots")
    assert (status, body) == (200, {"time_zone": "Europe/London", "booked": None,
                                    "slots": [_expected_slot(slot) for slot in offered]})

    status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/callback", {"slot": offered[1].iso()})
    key = f"callback:{ticket.number}:1"
    booked = {"key": key, "slot_start": offered[1].iso(), "label": team_label(offered[1].start),
              "customer_label": slot_label(offered[1], LONDON), "time_zone": "Europe/London"}
    assert (status, body) == (201, {"callback": booked})
    store = CallbackStore(db_sessions, capacity=policy.capacity_per_slot)
    record = store.get(key)
    assert (record.state, record.slot_start, record.sender_id, record.channel) == (
        "booked", offered[1].start, "web:customer-1", "webchat")
    jobs = {k.decode() for k in redis_client.scan_iter("arq:job:*")}
    assert {f"arq:job:{reminder_job_id(key)}", f"arq:job:{missed_job_id(key)}"} <= jobs
    text = domain_texts(("utter_callback_booked",))["utter_callback_booked"].format(
        ticket_number=ticket.number, slot_time=slot_label(offered[1], LONDON), reminder_minutes=policy.reminder_minutes_before)
    told = world.outbound.get(f"{key}:booked")
    assert told is not None and told.message == OutboundMessage(text) and told.conversation == Conversation("webchat", "customer-1")
    line = world.tickets.get(ticket.number).transcript[-1]
    assert line == {"sender": "bot", "text": text, "timestamp": START.isoformat(), "handoff_id": handoff.id,
                    "outbound_key": f"{key}:booked"}
    event = world.tickets.events(ticket.number)[-1]
    assert (event.kind, event.detail) == (CALLBACK_BOOKED_EVENT, {
        "actor": "agent:alex", "callback": key, "slot_start": offered[1].iso(), "handoff_id": handoff.id})
    _, body = await get_json(alex, f"/console/api/handoffs/{handoff.id}/callback-slots")
    assert body["booked"] == booked
    status, _, page = await alex.page(f"/console/handoffs/{handoff.id}")
    assert f"Booked for {team_label(offered[1].start)}" in page

    status, body = await post(alex, f"/console/api/handoffs/{handoff.id}/callback", {"slot": offered[2].iso()})
    assert status == 201 and body["callback"]["key"] == f"callback:{ticket.number}:2"
    assert (store.get(key).state, store.get(f"callback:{ticket.number}:2").state) == ("rescheduled", "booked")


async def test_a_slot_that_filled_up_or_is_no_slot_is_refused_with_fresh_times(
    alex: Browser, world: World, db_sessions,  # noqa: ANN001
) -> None:
    _, handoff = world.hand_over()
    await post(alex, f"/console/api/handoffs/{handoff.id}/claim")
    policy = callback_policy()
    first = free_slots(policy, START, {})[0]
    store = CallbackStore(db_sessions, capacity=policy.capacity_per_slot)
    for n in range(policy.capacity_per_slot):
        store.book(ticket_number=f"CX-FULL{n:02d}", channel="webchat", sender_id=f"web:full-{n}", slot=first,
                   customer_timezone="Europe/London", now=START)
    path = f"/console/api/handoffs/{handoff.id}/callback"
    status, body = await post(alex, path, {"slot": first.iso()})
    fresh = free_slots(policy, START, {first.start: policy.capacity_per_slot})
    assert (status, body) == (409, {"error": "slot_full", "slots": [_expected_slot(slot) for slot in fresh]})
    sunday_night = datetime(2026, 3, 8, 3, 0, tzinfo=timezone.utc)
    assert await post(alex, path, {"slot": sunday_night.isoformat()}) == (400, {"error": "slot_unavailable"})
    assert await post(alex, path, {"slot": START.isoformat()}) == (400, {"error": "slot_unavailable"}), "inside the lead time"
    assert (await post(alex, path, {"slot": "tomorrow at 3"}))[0] == 400
    assert (await post(alex, path, {"slot": "2026-03-02T10:00:00"}))[0] == 400, "a time without its offset"


async def test_suggested_next_steps_follow_the_ticket_and_the_booked_call(alex: Browser, world: World) -> None:
    opened = START - timedelta(hours=11)  # P2: resolve within 12 h, so 1 h is left
    ticket, handoff = world.hand_over(
        at=opened, chosen_option="callback", offered_options=["redeliver_express", "refund", "callback", "human_agent"],
        desired_outcome="<b>someone to explain</b>", desired_outcome_kind="explanation",
    )
    await post(alex, f"/console/api/handoffs/{handoff.id}/claim")
    status, view = await get_json(alex, f"/console/api/handoffs/{handoff.id}")
    assert status == 200
    assert view["next_steps"] == [
        {"id": "resolve_deadline_near", "text": "Only 1 h 00 min left to the resolve deadline (Mon 02 Mar 10:00 UTC): "
                                                "resolve it in this chat if you can, otherwise book a call back and note why."},
        {"id": "callback_chosen_none_booked", "text": 'The customer chose "A call back at a time that suits you" but no call '
                                                      "is booked: offer a slot under Book a call back."},
        {"id": "delivery_check_tracking", "text": "Check the carrier's tracking for the order before promising a "
                                                  "redelivery or a refund."},
        {"id": "start_work", "text": "When you start working on it, move the ticket to in progress (the customer is told)."},
    ]
    assert view["allowed_transitions"] == ["in_progress", "resolved", "withdrawn"] and view["holding"] is True

    slot = free_slots(callback_policy(), START, {})[0]
    await post(alex, f"/console/api/handoffs/{handoff.id}/callback", {"slot": slot.iso()})
    await post(alex, f"/console/api/handoffs/{handoff.id}/status", {"to": "in_progress"})
    _, view = await get_json(alex, f"/console/api/handoffs/{handoff.id}")
    assert [step["id"] for step in view["next_steps"]] == ["resolve_deadline_near", "callback_booked", "delivery_check_tracking"]
    assert view["next_steps"][1]["text"] == (f"A call back is booked for {team_label(slot.start)}. Confirm it with the "
                                             "customer, or move it if it no longer suits.")

    refund_ticket, refund = world.hand_over(sender="web:refund", desired_outcome="<b>my money back</b>",
                                            desired_outcome_kind="refund", offered_options=["refund", "replacement"])
    status, _, page = await alex.page(f"/console/handoffs/{refund.id}")
    assert status == 200
    assert '<li data-step="no_option_chosen">' in page and '<li data-step="refund_wanted">' in page
    assert "(&lt;b&gt;my money back&lt;/b&gt;)" in page and "<b>my money back</b>" not in page
    assert "The assistant offered: A full refund; A replacement sent to you." in page
    assert refund_ticket.number in page
