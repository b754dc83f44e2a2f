"""Acknowledgement, options, read-back, filing, status and fallback actions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.acknowledge import ActionAcknowledgeComplaint
from bot.actions.conversation import ActionClarifyFallback, ActionStopComplaint
from bot.actions.resolution import ActionAskChosenOption
from bot.actions.runtime import runtime
from bot.actions.summary import ActionAskComplaintConfirmed
from bot.actions.tickets import ActionCreateTicket, ActionTicketStatus
from tests.actions.events import action_event, bot_event, user_event

FILLED = {
    "customer_name": "Jane Morris", "complaint_product": "kettle", "problem_description": "cracked lid",
    "incident_date": "2026-11-03", "incident_location": "online", "order_ref": "88412",
    "people_involved": "the driver", "impact": "no hot water", "desired_outcome": "I want my money back",
    "desired_outcome_kind": "refund", "contact": "jane@example.com", "contact_kind": "email",
    "chosen_option": "refund", "offered_options": ["refund", "replacement", "repair", "human_agent"],
    "complaint_confirmed": True, "complaint_category": "product", "category_confidence": 0.9,
}
OPENING = "My kettle arrived with a cracked lid and the driver just shrugged, I want my money back!"


def variations(domain: dict[str, Any], name: str) -> set[str]:
    return {v["text"] for v in domain["responses"][name]}


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_an_angry_complaint_gets_an_apology_and_ownership_first(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    tracker = make_tracker([user_event("THIS IS RIDICULOUS!!! My kettle arrived BROKEN and nobody cares", "complain_product")])
    events = await ActionAcknowledgeComplaint().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert any(message["text"].startswith(text) for text in variations(domain, "utter_empathy_angry"))
    assert any(message["text"].endswith(text) for text in variations(domain, "utter_ack_product"))
    assert slot_events(events)["complaint_category"] == "product"
    assert slot_events(events)["mood"] == "angry"
    assert events[-1] == {"event": "followup", "name": "complaint_form", "timestamp": None}


async def test_acknowledgements_do_not_repeat_within_a_conversation(
    action_runtime, make_tracker, domain
) -> None:
    said: list[dict[str, Any]] = []
    for _ in range(len(variations(domain, "utter_ack_delivery"))):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(said + [user_event("my parcel is late again", "complain_delivery")])
        await ActionAcknowledgeComplaint().run(dispatcher, tracker, domain)
        said += [bot_event(dispatcher.messages[0]["text"])]
    assert len({event["text"] for event in said}) == len(said)


async def test_at_least_three_options_including_a_person_and_the_wish(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    tracker = make_tracker([user_event("x", "inform")],
                           {"complaint_category": "product", "desired_outcome_kind": "refund"})
    events = await ActionAskChosenOption().run(dispatcher, tracker, domain)
    offered = slot_events(events)["offered_options"]
    assert len(offered) >= 3 and offered[0] == "refund" and "human_agent" in offered
    [message] = dispatcher.messages
    assert [b["payload"] for b in message["buttons"]][0] == '/choose_option{"chosen_option": "refund"}'
    assert message["options_list"].startswith("1. ")
    assert message["options_list"].count("\n") == len(offered) - 1


async def test_the_read_back_lists_every_detail(action_runtime, make_tracker, dispatcher, domain) -> None:
    tracker = make_tracker([user_event("1", "inform")], dict(FILLED, order_ref="unknown"))
    await ActionAskComplaintConfirmed().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_complaint_summary"
    assert message["summary_order"] == "not given"
    assert message["summary_option"] == "A full refund"
    assert [b["payload"] for b in message["buttons"]] == ["/affirm", "/deny"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_runtime(request, tmp_path, monkeypatch, postgres_url):
    url = f"sqlite:///{tmp_path / 'tickets.db'}" if request.param == "sqlite" else postgres_url
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COMPLAINTS_SPOOL_DIR", str(tmp_path / "spool"))
    runtime.cache_clear()
    yield runtime()
    runtime.cache_clear()


async def test_a_confirmed_complaint_is_filed_with_a_truthful_timeline(
    store_runtime, make_tracker, dispatcher, domain
) -> None:
    events_in = [user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint"),
                 user_event("Jane Morris", "inform"), user_event("yes", "affirm")]
    tracker = make_tracker(events_in, FILLED)
    events = await ActionCreateTicket().run(dispatcher, tracker, domain)
    number = slot_events(events)["ticket_number"]
    ticket = store_runtime.store.get(number)
    assert ticket.narrative == f"{OPENING}\nJane Morris\nyes"
    assert ticket.order_ref == "88412" and ticket.chosen_option == "refund" and ticket.category == "product"
    assert ticket.emotion_score > 0 and ticket.priority and ticket.severity
    assert all(0 <= line["emotion"] <= 1 for line in ticket.transcript if line["sender"] == "customer")
    assert ticket.sla_close_by - ticket.created_at >= ticket.sla_resolve_by - ticket.created_at
    message, closing = dispatcher.messages
    assert message["response"] == "utter_ticket_filed" and message["ticket_number"] == number
    assert closing["response"] == "utter_anything_else"
    assert message["looked_at_by"] < message["resolve_by"]
    assert slot_events(events)["customer_name"] is None


async def test_a_ticket_that_cannot_be_written_is_spooled_and_the_customer_told(
    tmp_path, monkeypatch, make_tracker, dispatcher, domain
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/test?connect_timeout=1")
    monkeypatch.setenv("COMPLAINTS_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("DB_RETRY_DELAY_S", "0.01")
    runtime.cache_clear()
    try:
        tracker = make_tracker([user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint")], FILLED)
        events = await ActionCreateTicket().run(dispatcher, tracker, domain)
        assert dispatcher.messages[0]["response"] == "utter_ticket_spooled"
        assert len(runtime().spool.pending()) == 1
        assert slot_events(events)["ticket_number"] == dispatcher.messages[0]["ticket_number"]
    finally:
        runtime.cache_clear()


async def test_the_first_ticket_on_a_new_store_is_a_new_customer_and_the_next_a_returning_one(
    action_runtime, make_tracker, domain
) -> None:
    tracker = make_tracker([user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint")], FILLED)
    numbers = [
        slot_events(await ActionCreateTicket().run(CollectingDispatcher(), tracker, domain))["ticket_number"]
        for _ in range(2)
    ]
    assert [action_runtime.store.get(number).customer_type for number in numbers] == ["new", "returning"]


async def test_the_status_of_a_filed_ticket_is_read_from_the_store(
    action_runtime, make_tracker, domain
) -> None:
    filing = CollectingDispatcher()
    tracker = make_tracker([user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint")], FILLED)
    number = slot_events(await ActionCreateTicket().run(filing, tracker, domain))["ticket_number"]
    asked = CollectingDispatcher()
    await ActionTicketStatus().run(asked, make_tracker([user_event(f"status of {number.lower()}?", "ticket_status")]), domain)
    assert asked.messages[0]["response"] == "utter_ticket_status"
    assert asked.messages[0]["ticket_number"] == number
    missing = CollectingDispatcher()
    await ActionTicketStatus().run(missing, make_tracker([user_event("status of CX-0000ZZ", "ticket_status")]), domain)
    assert missing.messages[0]["response"] == "utter_ticket_not_found"


async def test_two_misses_in_a_row_bring_in_a_person(action_runtime, make_tracker, domain) -> None:
    first, second = CollectingDispatcher(), CollectingDispatcher()
    miss = user_event("blorp", "nlu_fallback", 0.2)
    assert await ActionClarifyFallback().run(first, make_tracker([miss]), domain) == []
    clarified = {"event": "bot", "text": "Sorry, I'm not sure I understood.", "metadata": {"utter_action": "utter_clarify"}}
    events = await ActionClarifyFallback().run(second, make_tracker([miss, clarified, miss]), domain)
    assert first.messages[0]["response"] == "utter_clarify"
    assert second.messages == []
    assert events == [
        {"event": "slot", "name": "handoff_reasons", "timestamp": None,
         "value": [{"rule": "repeated_fallback", "evidence": "2 messages not understood in a row"}]},
        {"event": "followup", "name": "action_handoff", "timestamp": None},
    ]


async def test_a_long_unclear_message_is_treated_as_a_complaint(action_runtime, make_tracker, dispatcher, domain) -> None:
    text = "so basically what happened last week with the thing I got from you is that it just will not do it anymore"
    events = await ActionClarifyFallback().run(dispatcher, make_tracker([user_event(text, "nlu_fallback", 0.2)]), domain)
    assert events == [{"event": "followup", "name": "action_acknowledge_complaint", "timestamp": None}]


async def test_stopping_keeps_what_was_said_as_a_withdrawn_ticket(action_runtime, make_tracker, dispatcher, domain) -> None:
    tracker = make_tracker([user_event(OPENING, "complain_product"), action_event("action_acknowledge_complaint"),
                            user_event("forget it", "stop")], {"complaint_category": "product"}, active_loop="complaint_form")
    await ActionStopComplaint().run(dispatcher, tracker, domain)
    [ticket] = action_runtime.store.find_by_sender("unknown", "customer-1")
    assert ticket.status == "withdrawn" and OPENING in ticket.narrative
    assert dispatcher.messages[0]["response"] == "utter_stop_complaint"


@pytest.mark.parametrize("priority", ["P1", "P2", "P3", "P4"])
def test_the_dates_promised_are_never_sooner_than_the_sla(action_runtime, priority: str) -> None:
    from datetime import datetime, timedelta, timezone

    from bot.actions.tickets import timeline
    from bot.triage import sla_deadlines

    opened = datetime(2026, 11, 24, 9, 0, 30, tzinfo=timezone.utc)
    sla = action_runtime.config.sla
    deadlines = sla_deadlines(priority, opened, sla)

    class Draft:
        sla_analyse_by, sla_close_by = deadlines.analyse_by, deadlines.close_by

    dates = timeline(Draft, opened, action_runtime)
    shown = {key: datetime.strptime(value, "%Y-%m-%d %H:%M %Z").replace(tzinfo=timezone.utc) for key, value in dates.items()}
    assert shown["looked_at_by"] >= opened + timedelta(hours=sla.stage_hours(priority).analyse)
    assert shown["resolve_by"] >= opened + timedelta(hours=sla.stage_hours(priority).total)
    assert shown["contact_by"] >= min(opened + timedelta(hours=sla.first_response_within_h), deadlines.close_by)
