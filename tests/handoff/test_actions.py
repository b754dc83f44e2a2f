"""action_handoff and the checks that lead to it, against real trackers, a real SQLite store and the
real Redis (REDIS_HOST/REDIS_PORT), with the hand-off clock set by the test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import handoff_checks
from bot.actions.acknowledge import ActionAcknowledgeComplaint
from bot.actions.conversation import ActionClarifyFallback
from bot.actions.handoff import ActionHandoff
from bot.actions.intake_form import ValidateComplaintForm
from bot.actions.runtime import Runtime, runtime
from bot.actions.tickets import ActionCreateTicket, ActionTicketStatus
from bot.callbacks.policy import callback_policy
from bot.handoff.policy import handoff_policy
from bot.handoff.store import HandoffStore
from bot.db import make_sessionmaker
from tests.actions.conftest import dispatcher, domain, make_tracker
from tests.actions.events import action_event, user_event
from tests.handoff.conftest import MONDAY_NOON, REDIS_HOST, REDIS_PORT, ROOT, SUNDAY_NOON, UTC, Listener
from tests.sla.conftest import make_draft

__all__ = ["dispatcher", "domain", "make_tracker"]

SENDER = "web:session-h1"
OPENING = "My kettle lid cracked the first time I used it."
PAUSE = {"event": "pause", "timestamp": None}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings_dir(tmp_path: Path) -> Path:
    """A copy of settings/ the test may change before the runtime reads it."""
    folder = tmp_path / "settings"
    shutil.copytree(ROOT / "settings", folder)
    return folder


@pytest.fixture
def rt(tmp_path: Path, settings_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A fresh runtime on a temporary, migrated SQLite store, the settings copy, and the test Redis."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'tickets.db'}")
    monkeypatch.setenv("COMPLAINTS_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("COMPLAINTS_CONFIG_DIR", str(settings_dir))
    monkeypatch.setenv("REDIS_HOST", REDIS_HOST)
    monkeypatch.setenv("REDIS_PORT", str(REDIS_PORT))
    for cached in (runtime, handoff_checks.handoffs, handoff_policy, callback_policy):
        cached.cache_clear()
    assert runtime().ensure_schema()
    yield runtime()
    for cached in (runtime, handoff_checks.handoffs, handoff_policy, callback_policy):
        cached.cache_clear()


@pytest.fixture
def clock(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(MONDAY_NOON)
    monkeypatch.setattr(handoff_checks, "clock", fake)
    return fake


def store(rt: Runtime) -> HandoffStore:
    return HandoffStore(make_sessionmaker(rt.engine))


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value, "timestamp": None}


def followup(name: str) -> dict[str, Any]:
    return {"event": "followup", "name": name, "timestamp": None}


def said(dispatcher: CollectingDispatcher) -> list[str]:
    return [message["response"] for message in dispatcher.messages]


def text(domain: dict[str, Any], message: dict[str, Any]) -> str:
    """The sentence the customer reads for one dispatched response."""
    return domain["responses"][message["response"]][0]["text"].format(**message)


def bot_said(response: str) -> dict[str, Any]:
    return {"event": "bot", "text": "...", "metadata": {"utter_action": response}}


def asking_for_a_person(make_tracker, **slots: Any):  # noqa: ANN001
    events = [user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint"),
              user_event("let me speak to a human", "ask_human")]
    return make_tracker(events, {"complaint_product": "kettle", "complaint_category": "product", **slots},
                        active_loop="complaint_form", sender_id=SENDER)


def closing_events(ticket: str, *cleared: str) -> list[dict[str, Any]]:
    return ([{"event": "active_loop", "name": None, "timestamp": None}, slot("requested_slot", None)]
            + [slot(name, None) for name in cleared] + [slot("handoff_reasons", None), slot("ticket_number", ticket)])


async def test_asking_for_a_person_in_hours_escalates_queues_and_pauses(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain, listener: Listener  # noqa: ANN001
) -> None:
    events = await ActionHandoff().run(dispatcher, asking_for_a_person(make_tracker), domain)
    [ticket] = rt.store.find_by_sender("webchat", SENDER)
    assert events == closing_events(ticket.number, "complaint_product", "complaint_category") + [PAUSE]
    assert ticket.status == "escalated" and OPENING in ticket.narrative
    assert said(dispatcher) == ["utter_handoff_intro_asked", "utter_handoff_waiting_unknown"]
    assert text(domain, dispatcher.messages[1]) == (
        f"I've passed your case to our team as ticket {ticket.number}, with everything you've told me, so you won't "
        "have to repeat yourself. I can't tell how long the wait will be right now, but you're in the queue and "
        "someone will join this chat as soon as they're free. You can keep writing here while you wait: "
        "everything you send goes straight to them."
    )
    [queued] = store(rt).queue()
    assert (queued.ticket_number, queued.sender_id, queued.channel, queued.state, queued.priority) == (
        ticket.number, SENDER, "webchat", "waiting", ticket.priority)
    assert queued.reasons == [{"rule": "asked_for_person", "evidence": "ask_human"}]
    channel, notice = await listener.next()
    assert (channel, notice["event"], notice["handoff_id"], notice["rules"]) == ("handoff:queue", "waiting", queued.id, ["asked_for_person"])


async def test_the_wait_is_told_in_minutes_when_recent_claims_allow(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    from bot.handoff.store import HandoffRequest

    earlier = store(rt)
    for n in range(6):  # six claims in the last two hours, each after 4 minutes: one every 20 minutes
        opened = MONDAY_NOON - timedelta(minutes=100 - 15 * n)
        record = earlier.open(HandoffRequest(f"CX-{n:06d}", "webchat", f"web:past-{n}", [], "P3"), state="waiting", now=opened)
        earlier.claim(record.id, agent="agent:Priya", now=opened + timedelta(minutes=4))
    await ActionHandoff().run(dispatcher, asking_for_a_person(make_tracker), domain)
    assert said(dispatcher) == ["utter_handoff_intro_asked", "utter_handoff_waiting"]
    assert dispatcher.messages[1]["wait_minutes"] == 20
    assert "Someone should join this chat in about 20 minutes." in text(domain, dispatcher.messages[1])


async def test_out_of_hours_the_customer_is_told_once_with_the_reply_time_and_offered_a_call_back(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    clock.now = SUNDAY_NOON
    events = await ActionHandoff().run(dispatcher, asking_for_a_person(make_tracker), domain)
    [ticket] = rt.store.find_by_sender("webchat", SENDER)
    assert events == closing_events(ticket.number, "complaint_product", "complaint_category") + [
        slot("callback_ticket", ticket.number), followup("action_schedule_callback")]
    assert said(dispatcher) == ["utter_handoff_intro_asked", "utter_handoff_offline"]
    assert text(domain, dispatcher.messages[1]) == (
        "Nobody from our team is online right now (our hours are Mon–Fri 09:00–17:00, Sat 10:00–13:00 "
        "(Europe/London)), so I can't bring someone into this chat. I've passed your case to them as ticket "
        f"{ticket.number}, with everything you've told me, and someone will reply by 2026-12-07 12:00 UTC at the "
        "latest. If you'd rather talk, I can book a call back at a time that suits you."
    )
    assert store(rt).queue() == [] and store(rt).live_for_sender(SENDER) is None


async def test_a_reply_time_falling_out_of_hours_moves_to_the_next_opening_never_sooner(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    clock.now = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)  # Saturday evening: the SLA's 24 h end on Sunday
    await ActionHandoff().run(dispatcher, asking_for_a_person(make_tracker), domain)
    assert dispatcher.messages[1]["reply_by"] == "2026-12-07 09:00 UTC"


async def test_without_live_chat_nobody_is_promised_in_the_chat(
    settings_dir: Path, rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    data = yaml.safe_load((settings_dir / "handoff.yml").read_text(encoding="utf-8"))
    data["agents"]["live_chat"] = False
    (settings_dir / "handoff.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    handoff_policy.cache_clear()
    events = await ActionHandoff().run(dispatcher, asking_for_a_person(make_tracker), domain)
    assert said(dispatcher) == ["utter_handoff_intro_asked", "utter_handoff_no_live_chat"]
    assert dispatcher.messages[1]["reply_by"] == "2026-12-01 12:00 UTC"
    assert events[-1] == followup("action_schedule_callback") and PAUSE not in events


async def test_a_person_asked_for_after_filing_takes_the_open_ticket_with_what_was_said_since(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    created = MONDAY_NOON - timedelta(minutes=10)
    filed = rt.store.create(make_draft(created, rt.config.sla, sender_id=SENDER), created)
    events = [user_event("yes", "affirm", timestamp=(created - timedelta(minutes=1)).timestamp()),
              action_event("action_create_ticket"),
              {"event": "bot", "text": f"Your complaint is filed as ticket {filed.number}.",
               "timestamp": (created + timedelta(seconds=1)).timestamp()},
              user_event("actually can I talk to someone about it", "ask_human", timestamp=(created + timedelta(minutes=2)).timestamp())]
    tracker = make_tracker(events, {"ticket_number": filed.number}, sender_id=SENDER)
    result = await ActionHandoff().run(dispatcher, tracker, domain)
    assert result == closing_events(filed.number) + [PAUSE]
    assert rt.store.find_by_sender("webchat", SENDER) == [rt.store.get(filed.number)]
    ticket = rt.store.get(filed.number)
    assert ticket.status == "escalated"
    assert [line["text"] for line in ticket.transcript] == [
        f"Your complaint is filed as ticket {filed.number}.", "actually can I talk to someone about it"]
    [moved] = [event for event in rt.store.events(filed.number) if event.kind == "status"]
    assert moved.detail == {"from": "new", "to": "escalated", "actor": "bot", "note": "handed to a person in the chat"}


async def test_a_store_that_does_not_answer_keeps_the_case_and_promises_no_person(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    monkeypatch.setenv("DB_RETRY_ATTEMPTS", "1")
    runtime.cache_clear()
    handoff_checks.handoffs.cache_clear()
    events = await ActionHandoff().run(dispatcher, asking_for_a_person(make_tracker), domain)
    assert said(dispatcher) == ["utter_handoff_intro_asked", "utter_handoff_spooled"]
    reference = dispatcher.messages[1]["ticket_number"]
    assert len(runtime().spool.pending()) == 1
    assert PAUSE not in events and events[-1] == slot("ticket_number", reference)


async def test_a_threat_in_the_opening_brings_a_person_in_after_the_acknowledgement(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    opening = "The heater I bought from you caught fire in my kitchen and I'm going to sue."
    tracker = make_tracker([user_event(opening, "complain_product")], sender_id=SENDER)
    events = await ActionAcknowledgeComplaint().run(dispatcher, tracker, domain)
    reasons = [{"rule": "legal_threat", "evidence": "to sue"}, {"rule": "safety_incident", "evidence": "caught fire"}]
    assert events[-2:] == [slot("handoff_reasons", reasons), followup("action_handoff")]
    assert followup("complaint_form") not in events
    assert len(dispatcher.messages) == 1  # the acknowledgement

    handing = CollectingDispatcher()
    slots = {"complaint_category": "product", "handoff_reasons": reasons}
    tracker = make_tracker([user_event(opening, "complain_product"), action_event("action_acknowledge_complaint")], slots, sender_id=SENDER)
    await ActionHandoff().run(handing, tracker, domain)
    assert said(handing) == ["utter_handoff_intro_safety", "utter_handoff_waiting_unknown"]
    [queued] = store(rt).queue()
    assert queued.priority == "P1" and queued.reasons == reasons


async def test_a_threat_inside_the_form_keeps_the_answer_and_skips_the_next_question(
    rt: Runtime, clock: Clock, make_tracker, domain  # noqa: ANN001
) -> None:
    events = [user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint"),
              user_event("I had to go to A&E because the kettle burned my hand", "inform")]
    tracker = make_tracker(events, {"requested_slot": "impact", "asked_slots": ["impact"], "complaint_category": "product"},
                           active_loop="complaint_form", sender_id=SENDER)
    quiet = CollectingDispatcher()
    result = await ValidateComplaintForm().run(quiet, tracker, domain)
    assert result[-3:] == [slot("requested_slot", None),
                           slot("handoff_reasons", [{"rule": "safety_incident", "evidence": "burned my hand"}]),
                           followup("action_handoff")]
    assert any(e["event"] == "slot" and e["name"] == "impact" and "burned my hand" in (e["value"] or "") for e in result)
    assert quiet.messages == []


async def test_a_calm_answer_inside_the_form_changes_nothing(rt: Runtime, clock: Clock, make_tracker, domain) -> None:  # noqa: ANN001
    events = [user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint"),
              user_event("I had to boil water in a pan for a week", "inform")]
    tracker = make_tracker(events, {"requested_slot": "impact", "asked_slots": ["impact"]}, active_loop="complaint_form")
    result = await ValidateComplaintForm().run(CollectingDispatcher(), tracker, domain)
    assert followup("action_handoff") not in result and slot("requested_slot", None) not in result


async def test_misunderstood_twice_in_a_row_brings_a_person_in(rt: Runtime, clock: Clock, make_tracker, domain) -> None:  # noqa: ANN001
    first = CollectingDispatcher()
    assert await ActionClarifyFallback().run(first, make_tracker([user_event("blorp", "nlu_fallback", 0.2)]), domain) == []
    assert said(first) == ["utter_clarify"]
    twice = [user_event("blorp", "nlu_fallback", 0.2), bot_said("utter_clarify"), user_event("fnord", "nlu_fallback", 0.2)]
    second = CollectingDispatcher()
    events = await ActionClarifyFallback().run(second, make_tracker(twice), domain)
    assert events == [slot("handoff_reasons", [{"rule": "repeated_fallback", "evidence": "2 messages not understood in a row"}]),
                      followup("action_handoff")]
    assert second.messages == []


async def test_an_answer_the_form_cannot_use_twice_brings_a_person_in(rt: Runtime, clock: Clock, make_tracker, domain) -> None:  # noqa: ANN001
    events = [user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint"),
              user_event("qwzx", "nlu_fallback", 0.1), bot_said("utter_default"), bot_said("utter_ask_customer_name"),
              user_event("??", "nlu_fallback", 0.1)]
    tracker = make_tracker(events, {"requested_slot": "incident_date", "asked_slots": ["incident_date"],
                                    "ask_counts": {"incident_date": 1}}, active_loop="complaint_form")
    result = await ValidateComplaintForm().run(CollectingDispatcher(), tracker, domain)
    assert result[-2:] == [slot("handoff_reasons", [{"rule": "repeated_fallback", "evidence": "2 messages not understood in a row"}]),
                           followup("action_handoff")]


FILLED = {
    "customer_name": "Jane Morris", "complaint_product": "kettle", "problem_description": "cracked lid",
    "incident_date": "2026-11-03", "incident_location": "online", "order_ref": "88412", "people_involved": "none",
    "impact": "no hot water", "desired_outcome": "talk to someone", "desired_outcome_kind": "other",
    "contact": "jane@example.com", "contact_kind": "email", "chosen_option": "human_agent",
    "offered_options": ["replacement", "repair", "refund", "callback", "human_agent"], "complaint_confirmed": True,
    "complaint_category": "product", "category_confidence": 0.9,
}


async def test_a_person_chosen_as_the_remedy_is_brought_in_once_the_ticket_is_filed(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    tracker = make_tracker([user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint"),
                            user_event("yes", "affirm")], FILLED, sender_id=SENDER)
    events = await ActionCreateTicket().run(dispatcher, tracker, domain)
    [ticket] = rt.store.find_by_sender("webchat", SENDER)
    assert ticket.status == "escalated"
    assert said(dispatcher) == ["utter_ticket_filed"]
    assert events[-3:] == [slot("ticket_number", ticket.number),
                           slot("handoff_reasons", [{"rule": "option_needs_person", "evidence": "human_agent"}]),
                           followup("action_handoff")]


async def test_a_refund_chosen_is_filed_without_a_person(rt: Runtime, clock: Clock, make_tracker, dispatcher, domain) -> None:  # noqa: ANN001
    tracker = make_tracker([user_event(OPENING, "complain_product")], {**FILLED, "chosen_option": "refund"}, sender_id=SENDER)
    events = await ActionCreateTicket().run(dispatcher, tracker, domain)
    assert said(dispatcher) == ["utter_ticket_filed", "utter_anything_else"]
    assert followup("action_handoff") not in events


async def test_asking_about_a_ticket_about_to_miss_its_deadline_brings_a_person_in(
    rt: Runtime, clock: Clock, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    opened = MONDAY_NOON - timedelta(hours=15, minutes=30)  # a P3 ticket's resolve deadline is 16 h after opening
    late = rt.store.create(make_draft(opened, rt.config.sla, sender_id=SENDER), opened)
    tracker = make_tracker([user_event(f"what's happening with {late.number}?", "ticket_status")], sender_id=SENDER)
    events = await ActionTicketStatus().run(dispatcher, tracker, domain)
    assert said(dispatcher) == ["utter_ticket_status"]
    assert events == [slot("ticket_number", late.number),
                      slot("handoff_reasons", [{"rule": "sla_about_to_breach", "evidence": "resolve by 2026-11-30T12:30:00+00:00"}]),
                      followup("action_handoff")]
    calm = CollectingDispatcher()
    clock.now = opened
    assert await ActionTicketStatus().run(calm, tracker, domain) == []
