"""The call-back dialogue's actions against real trackers, a real SQLite store and the real
Redis (REDIS_HOST/REDIS_PORT), with the action clock set by the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import callbacks as callback_actions
from bot.actions.callbacks import (
    ActionAskCallbackTime,
    ActionConfirmCallback,
    ActionManageCallback,
    ActionScheduleCallback,
    ValidateCallbackForm,
)
from bot.actions.tickets import ActionCreateTicket
from bot.callbacks.service import PUSHED_OFFER_RESPONSES, pushed_offer, pushed_payload
from bot.callbacks.slots import Slot
from tests.actions.conftest import action_runtime, dispatcher, domain, make_tracker
from tests.actions.events import action_event, user_event
from tests.callbacks.conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, Clock

__all__ = ["action_runtime", "dispatcher", "domain", "make_tracker"]

UTC = timezone.utc
MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SENDER = "web:session-1"
FILLED = {
    "customer_name": "Jane Morris", "complaint_product": "kettle", "problem_description": "cracked lid",
    "incident_date": "2026-11-03", "incident_location": "online", "order_ref": "88412",
    "people_involved": "the driver", "impact": "no hot water", "desired_outcome": "call me back",
    "desired_outcome_kind": "explanation", "contact": "+44 7700 900123", "contact_kind": "phone",
    "chosen_option": "callback", "offered_options": ["replacement", "repair", "refund", "callback", "human_agent"],
    "complaint_confirmed": True, "complaint_category": "product", "category_confidence": 0.9,
}


@pytest.fixture
def clock(action_runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:  # noqa: ANN001
    """The actions' clock at Monday noon, the queue on this suite's Redis, a fresh service per test."""
    monkeypatch.setenv("REDIS_HOST", REDIS_HOST)
    monkeypatch.setenv("REDIS_PORT", str(REDIS_PORT))
    monkeypatch.setenv("WORKER_REDIS_DB", str(REDIS_DB))
    fake = Clock(MONDAY_NOON)
    monkeypatch.setattr(callback_actions, "clock", fake)
    callback_actions.callbacks.cache_clear()
    yield fake
    callback_actions.callbacks.cache_clear()


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def followups(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events if e["event"] == "followup"]


def form_tracker(make_tracker, text: str, *, entities: list | None = None, intent: str = "inform",  # noqa: ANN001
                 ticket: str = "CX-7K3F9Q", offered: list[str] | None = None, metadata: dict | None = None,
                 counts: dict | None = None):
    event = user_event(text, intent, entities=entities)
    tracker = make_tracker(
        [event], {"requested_slot": "callback_time", "callback_ticket": ticket, "callback_offered": offered or [],
                  "ask_counts": counts or {}},
        active_loop="callback_form", sender_id=SENDER,
    )
    if metadata:
        tracker.latest_message["metadata"] = metadata
    return tracker


async def validate(make_tracker, domain, text: str, **options: Any) -> tuple[list[dict], CollectingDispatcher]:  # noqa: ANN001
    said = CollectingDispatcher()
    events = await ValidateCallbackForm().run(said, form_tracker(make_tracker, text, **options), domain)
    return events, said


async def test_choosing_a_call_back_files_the_ticket_then_starts_booking(clock, action_runtime, make_tracker, dispatcher, domain) -> None:  # noqa: ANN001
    tracker = make_tracker([user_event("My kettle lid cracked", "complain_product"), action_event("complaint_form")], FILLED,
                           sender_id=SENDER)
    events = await ActionCreateTicket().run(dispatcher, tracker, domain)
    number = slots_of(events)["ticket_number"]
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_filed"]
    assert slots_of(events)["callback_ticket"] == number
    assert followups(events) == ["action_schedule_callback"]


async def test_another_remedy_files_without_a_booking(clock, action_runtime, make_tracker, dispatcher, domain) -> None:  # noqa: ANN001
    tracker = make_tracker([user_event("My kettle lid cracked", "complain_product")], {**FILLED, "chosen_option": "refund"})
    events = await ActionCreateTicket().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_filed", "utter_anything_else"]
    assert followups(events) == []


async def test_scheduling_starts_the_form_for_the_ticket_or_asks_for_the_case_first(clock, make_tracker, dispatcher, domain) -> None:  # noqa: ANN001
    events = await ActionScheduleCallback().run(dispatcher, make_tracker([], {"ticket_number": "CX-7K3F9Q"}), domain)
    assert slots_of(events) == {
        "callback_ticket": "CX-7K3F9Q", "callback_time": None, "callback_key": None, "callback_alternatives": None,
        "ask_counts": {"callback_time": 0},
    }
    assert followups(events) == ["callback_form"]
    none = CollectingDispatcher()
    assert await ActionScheduleCallback().run(none, make_tracker([]), domain) == []
    assert [m["response"] for m in none.messages] == ["utter_callback_no_ticket"]


async def test_the_offer_shows_free_slots_as_buttons_on_the_customers_clock(clock, action_runtime, make_tracker, dispatcher, domain) -> None:  # noqa: ANN001
    store = callback_actions.callbacks().store
    for ticket in ("CX-AAAAAA", "CX-BBBBBB"):  # 13:00 is full
        store.book(ticket_number=ticket, channel="webchat", sender_id=f"web:{ticket}",
                   slot=Slot(datetime(2026, 11, 30, 13, 0, tzinfo=UTC), datetime(2026, 11, 30, 13, 30, tzinfo=UTC)),
                   customer_timezone="Europe/London", now=MONDAY_NOON)
    tracker = form_tracker(make_tracker, "", metadata={"timezone": "America/New_York"})
    events = await ActionAskCallbackTime().run(dispatcher, tracker, domain)
    [offer] = dispatcher.messages
    assert offer["response"] == "utter_ask_callback_time"
    assert offer["customer_timezone"] == "America/New_York"
    assert offer["slots_list"] == (
        "1. Mon 30 Nov, 08:30 EST\n2. Mon 30 Nov, 09:00 EST\n3. Mon 30 Nov, 09:30 EST\n4. Mon 30 Nov, 10:00 EST"
    )
    assert offer["buttons"] == [
        {"title": "Mon 30 Nov, 08:30 EST", "payload": '/choose_option{"callback_time":"2026-11-30T13:30:00+00:00"}'},
        {"title": "Mon 30 Nov, 09:00 EST", "payload": '/choose_option{"callback_time":"2026-11-30T14:00:00+00:00"}'},
        {"title": "Mon 30 Nov, 09:30 EST", "payload": '/choose_option{"callback_time":"2026-11-30T14:30:00+00:00"}'},
        {"title": "Mon 30 Nov, 10:00 EST", "payload": '/choose_option{"callback_time":"2026-11-30T15:00:00+00:00"}'},
        {"title": "No call, thanks", "payload": '/choose_option{"callback_time":"none"}'},
    ]
    assert slots_of(events)["callback_offered"] == [
        "2026-11-30T13:30:00+00:00", "2026-11-30T14:00:00+00:00", "2026-11-30T14:30:00+00:00", "2026-11-30T15:00:00+00:00",
    ]


async def test_tomorrow_after_3_books_3pm_and_queues_the_reminder(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    await client.flushdb()
    try:
        events, said = await validate(make_tracker, domain, "tomorrow after 3")
        assert said.messages == []
        assert slots_of(events) == {"callback_time": "2026-12-01T15:00:00+00:00", "callback_key": "callback:CX-7K3F9Q:1"}
        booked = callback_actions.callbacks().store.get("callback:CX-7K3F9Q:1")
        assert (booked.state, booked.sender_id, booked.channel, booked.customer_timezone) == (
            "booked", SENDER, "webchat", "Europe/London",
        )
        queued = await client.zrange("arq:queue", 0, -1)
        assert sorted(queued) == [b"callback:CX-7K3F9Q:1:missed", b"callback:CX-7K3F9Q:1:remind"]
    finally:
        await client.flushdb()
        await client.close(close_connection_pool=True)


async def test_a_button_books_its_slot(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    events, said = await validate(
        make_tracker, domain, '/choose_option{"callback_time":"2026-11-30T14:30:00+00:00"}',
        entities=[{"entity": "callback_time", "value": "2026-11-30T14:30:00+00:00"}], intent="choose_option",
    )
    assert slots_of(events)["callback_time"] == "2026-11-30T14:30:00+00:00"


@pytest.mark.parametrize(
    ("text", "response"),
    [
        ("yesterday at 3", "utter_callback_past"),
        ("today at 9am", "utter_callback_past"),
        ("flibber wobble", "utter_callback_unreadable"),
        ("tomorrow at 8pm", "utter_callback_outside_hours"),
        ("sunday", "utter_callback_closed_day"),
        ("31 december at 10am", "utter_callback_too_far"),
    ],
)
async def test_a_time_that_cannot_be_booked_gets_its_own_reply_and_books_nothing(
    clock, action_runtime, make_tracker, domain, text: str, response: str  # noqa: ANN001
) -> None:
    events, said = await validate(make_tracker, domain, text)
    assert [m["response"] for m in said.messages] == [response]
    assert said.messages[0]["opening_hours"] == "Mon–Fri 09:00–17:00, Sat 10:00–13:00 (Europe/London)"
    assert slots_of(events)["callback_time"] is None
    assert callback_actions.callbacks().store.active_for_sender(SENDER) is None
    for name in ("utter_default", "utter_clarify"):
        assert name not in [m["response"] for m in said.messages]


async def test_a_second_unusable_answer_ends_the_form_without_asking_a_third_time(
    clock, action_runtime, make_tracker, domain  # noqa: ANN001
) -> None:
    first, said_first = await validate(make_tracker, domain, "flibber wobble")
    assert [m["response"] for m in said_first.messages] == ["utter_callback_unreadable"]
    assert slots_of(first)["callback_time"] is None and slots_of(first)["ask_counts"] == {"callback_time": 1}
    second, said_second = await validate(make_tracker, domain, "wobble flibber", counts={"callback_time": 1})
    assert [m["response"] for m in said_second.messages] == ["utter_callback_given_up"]
    assert said_second.messages[0]["ticket_number"] == "CX-7K3F9Q"
    assert slots_of(second)["callback_time"] == "failed"  # the form ends; nothing booked, nothing asked again
    assert callback_actions.callbacks().store.active_for_sender(SENDER) is None


async def test_after_a_refusal_the_offer_shows_the_alternatives(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    events, _ = await validate(make_tracker, domain, "tomorrow at 8pm")
    alternatives = slots_of(events)["callback_alternatives"]
    assert alternatives[:2] == ["2026-12-02T09:00:00+00:00", "2026-12-02T09:30:00+00:00"]
    offered = CollectingDispatcher()
    tracker = make_tracker([user_event("tomorrow at 8pm", "inform")], {"callback_alternatives": alternatives}, sender_id=SENDER)
    await ActionAskCallbackTime().run(offered, tracker, domain)
    assert offered.messages[0]["slots_list"].split("\n")[0] == "1. Wed 2 Dec, 09:00 GMT"


async def test_no_call_thanks_ends_the_form_without_a_booking(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    events, _ = await validate(make_tracker, domain, '/choose_option{"callback_time":"none"}',
                               entities=[{"entity": "callback_time", "value": "none"}], intent="choose_option")
    assert slots_of(events) == {"callback_time": "none"}
    said = CollectingDispatcher()
    tracker = make_tracker([], {"callback_time": "none", "callback_ticket": "CX-7K3F9Q"}, sender_id=SENDER)
    await ActionConfirmCallback().run(said, tracker, domain)
    assert [(m["response"], m.get("ticket_number")) for m in said.messages] == [
        ("utter_callback_declined", "CX-7K3F9Q"), ("utter_anything_else", None),
    ]


async def test_the_confirmation_gives_the_time_the_reminder_and_change_and_cancel_buttons(
    clock, action_runtime, make_tracker, domain  # noqa: ANN001
) -> None:
    events, _ = await validate(make_tracker, domain, "tomorrow after 3")
    said = CollectingDispatcher()
    tracker = make_tracker([], {**slots_of(events), "callback_ticket": "CX-7K3F9Q"}, sender_id=SENDER)
    reset = await ActionConfirmCallback().run(said, tracker, domain)
    booked, closing = said.messages
    assert (booked["response"], booked["ticket_number"], booked["slot_time"], booked["reminder_minutes"]) == (
        "utter_callback_booked", "CX-7K3F9Q", "Tue 1 Dec, 15:00 GMT", 15,
    )
    assert booked["buttons"] == [
        {"title": "Change the time", "payload": '/choose_option{"callback_action":"reschedule"}'},
        {"title": "Cancel the call", "payload": '/choose_option{"callback_action":"cancel"}'},
    ]
    assert closing["response"] == "utter_anything_else"
    assert slots_of(reset) == {"callback_time": None, "callback_key": None, "callback_ticket": None}


async def test_reschedule_offers_again_and_the_new_booking_replaces_the_old(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    await validate(make_tracker, domain, "tomorrow after 3")
    said = CollectingDispatcher()
    press = make_tracker([user_event('/choose_option{"callback_action":"reschedule"}', "choose_option",
                                     entities=[{"entity": "callback_action", "value": "reschedule"}])], sender_id=SENDER)
    events = await ActionManageCallback().run(said, press, domain)
    assert said.messages == []
    assert slots_of(events) == {"callback_ticket": "CX-7K3F9Q"}
    assert followups(events) == ["action_schedule_callback"]
    moved, _ = await validate(make_tracker, domain, "wednesday 10am")
    assert slots_of(moved) == {"callback_time": "2026-12-02T10:00:00+00:00", "callback_key": "callback:CX-7K3F9Q:2"}
    store = callback_actions.callbacks().store
    assert store.get("callback:CX-7K3F9Q:1").state == "rescheduled"
    assert store.active_for_sender(SENDER).key == "callback:CX-7K3F9Q:2"


async def test_cancel_frees_the_slot_and_says_so(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    await validate(make_tracker, domain, "tomorrow after 3")
    said = CollectingDispatcher()
    press = make_tracker([user_event('/choose_option{"callback_action":"cancel"}', "choose_option",
                                     entities=[{"entity": "callback_action", "value": "cancel"}])], sender_id=SENDER)
    assert await ActionManageCallback().run(said, press, domain) == []
    assert [(m["response"], m["ticket_number"], m["slot_time"]) for m in said.messages] == [
        ("utter_callback_cancelled", "CX-7K3F9Q", "Tue 1 Dec, 15:00 GMT"),
    ]
    store = callback_actions.callbacks().store
    assert store.get("callback:CX-7K3F9Q:1").state == "cancelled"
    assert store.active_for_sender(SENDER) is None
    again = CollectingDispatcher()
    await ActionManageCallback().run(again, press, domain)
    assert [m["response"] for m in again.messages] == ["utter_callback_none_to_change"]


def pushed_press(make_tracker, value: str, ticket: str, sender: str = SENDER):  # noqa: ANN001
    entities = [{"entity": "callback_for", "value": ticket}, {"entity": "callback_time", "value": value}]
    return make_tracker([user_event(pushed_payload(value, ticket), "choose_option", entities=entities)], sender_id=sender)


async def file_own_ticket(make_tracker, domain) -> str:  # noqa: ANN001
    tracker = make_tracker([user_event("My kettle lid cracked", "complain_product")], {**FILLED, "chosen_option": "refund"},
                           sender_id=SENDER)
    return slots_of(await ActionCreateTicket().run(CollectingDispatcher(), tracker, domain))["ticket_number"]


async def test_a_pushed_offer_lists_the_slots_with_buttons_naming_the_ticket(clock, action_runtime, domain) -> None:  # noqa: ANN001
    texts = {name: domain["responses"][name][0]["text"] for name in PUSHED_OFFER_RESPONSES}
    slots = await callback_actions.callbacks().offer(MONDAY_NOON)
    message = pushed_offer(texts, ticket_number="CX-7K3F9Q", slots=slots[:2], zone_=ZoneInfo("Europe/London"))
    assert message.text == (
        "I'm sorry your case CX-7K3F9Q is taking longer than it should. Rather than leave you waiting, we can call you. "
        "These are the next free times (your time, Europe/London):\n1. Mon 30 Nov, 13:00 GMT\n2. Mon 30 Nov, 13:30 GMT\n"
        "Tap a time to book it."
    )
    assert [(b.title, b.payload) for b in message.buttons] == [
        ("Mon 30 Nov, 13:00 GMT", '/choose_option{"callback_for":"CX-7K3F9Q","callback_time":"2026-11-30T13:00:00+00:00"}'),
        ("Mon 30 Nov, 13:30 GMT", '/choose_option{"callback_for":"CX-7K3F9Q","callback_time":"2026-11-30T13:30:00+00:00"}'),
        ("No call, thanks", '/choose_option{"callback_for":"CX-7K3F9Q","callback_time":"none"}'),
    ]


async def test_a_pushed_time_button_books_for_the_conversations_own_ticket(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    number = await file_own_ticket(make_tracker, domain)
    said = CollectingDispatcher()
    events = await ActionManageCallback().run(said, pushed_press(make_tracker, "2026-11-30T13:30:00+00:00", number), domain)
    assert events == []
    assert [(m["response"], m["slot_time"]) for m in said.messages] == [("utter_callback_booked", "Mon 30 Nov, 13:30 GMT")]
    assert callback_actions.callbacks().store.active_for_sender(SENDER).key == f"callback:{number}:1"


async def test_a_pushed_button_for_a_time_gone_by_says_so_and_offers_again(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    number = await file_own_ticket(make_tracker, domain)
    clock.now = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    said = CollectingDispatcher()
    events = await ActionManageCallback().run(said, pushed_press(make_tracker, "2026-11-30T13:30:00+00:00", number), domain)
    assert [m["response"] for m in said.messages] == ["utter_callback_past"]
    assert followups(events) == ["action_schedule_callback"]
    assert callback_actions.callbacks().store.active_for_sender(SENDER) is None


async def test_a_pushed_button_for_someone_elses_ticket_books_nothing(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    number = await file_own_ticket(make_tracker, domain)
    said = CollectingDispatcher()
    stranger = pushed_press(make_tracker, "2026-11-30T13:30:00+00:00", number, sender="web:someone-else")
    assert await ActionManageCallback().run(said, stranger, domain) == []
    assert [m["response"] for m in said.messages] == ["utter_callback_no_ticket"]
    assert callback_actions.callbacks().store.active_for_sender("web:someone-else") is None
    declined = CollectingDispatcher()
    await ActionManageCallback().run(declined, pushed_press(make_tracker, "none", number), domain)
    assert [(m["response"], m["ticket_number"]) for m in declined.messages] == [("utter_callback_declined", number)]


def said(make_tracker, text: str, intent: str, *earlier: dict[str, Any], slots: dict[str, Any] | None = None):  # noqa: ANN001
    """A tracker whose latest message is ``text`` typed by the customer, classified as ``intent``."""
    return make_tracker([*earlier, user_event(text, intent)], slots, sender_id=SENDER)


async def test_cancel_my_call_typed_cancels_the_booked_call(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    await validate(make_tracker, domain, "tomorrow after 3")
    dispatcher = CollectingDispatcher()
    assert await ActionManageCallback().run(dispatcher, said(make_tracker, "cancel my call", "cancel_callback"), domain) == []
    assert [(m["response"], m["ticket_number"], m["slot_time"]) for m in dispatcher.messages] == [
        ("utter_callback_cancelled", "CX-7K3F9Q", "Tue 1 Dec, 15:00 GMT"),
    ]
    store = callback_actions.callbacks().store
    assert store.get("callback:CX-7K3F9Q:1").state == "cancelled"
    assert store.active_for_sender(SENDER) is None


async def test_a_new_time_typed_moves_the_call_at_once(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    await validate(make_tracker, domain, "tomorrow after 3")
    dispatcher = CollectingDispatcher()
    tracker = said(make_tracker, "can we move the call to Wednesday at 10", "reschedule_callback")
    assert await ActionManageCallback().run(dispatcher, tracker, domain) == []
    [booked] = dispatcher.messages
    assert (booked["response"], booked["ticket_number"], booked["slot_time"]) == (
        "utter_callback_booked", "CX-7K3F9Q", "Wed 2 Dec, 10:00 GMT",
    )
    assert [button["title"] for button in booked["buttons"]] == ["Change the time", "Cancel the call"]
    store = callback_actions.callbacks().store
    assert store.get("callback:CX-7K3F9Q:1").state == "rescheduled"
    moved = store.active_for_sender(SENDER)
    assert (moved.key, moved.slot_start.isoformat(), moved.customer_timezone) == (
        "callback:CX-7K3F9Q:2", "2026-12-02T10:00:00+00:00", "Europe/London",
    )


async def test_moving_the_call_without_a_time_offers_the_free_times(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    await validate(make_tracker, domain, "tomorrow after 3")
    dispatcher = CollectingDispatcher()
    events = await ActionManageCallback().run(dispatcher, said(make_tracker, "can i change my callback", "reschedule_callback"), domain)
    assert dispatcher.messages == []
    assert slots_of(events) == {"callback_ticket": "CX-7K3F9Q"}
    assert followups(events) == ["action_schedule_callback"]
    assert callback_actions.callbacks().store.active_for_sender(SENDER).key == "callback:CX-7K3F9Q:1"


async def test_a_typed_time_that_cannot_be_booked_says_why_keeps_the_call_and_offers_again(
    clock, action_runtime, make_tracker, domain  # noqa: ANN001
) -> None:
    await validate(make_tracker, domain, "tomorrow after 3")
    dispatcher = CollectingDispatcher()
    events = await ActionManageCallback().run(dispatcher, said(make_tracker, "move my call to sunday", "reschedule_callback"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_callback_closed_day"]
    assert followups(events) == ["action_schedule_callback"]
    assert callback_actions.callbacks().store.active_for_sender(SENDER).key == "callback:CX-7K3F9Q:1"


async def test_a_cancel_typed_or_pressed_with_no_booked_call_says_there_is_none(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    press = make_tracker([user_event('/choose_option{"callback_action":"reschedule"}', "choose_option",
                                     entities=[{"entity": "callback_action", "value": "reschedule"}])],
                         {"ticket_number": "CX-7K3F9Q"}, sender_id=SENDER)
    for tracker in (said(make_tracker, "cancel my call", "cancel_callback", slots={"ticket_number": "CX-7K3F9Q"}), press):
        dispatcher = CollectingDispatcher()
        assert await ActionManageCallback().run(dispatcher, tracker, domain) == []
        assert [m["response"] for m in dispatcher.messages] == ["utter_callback_none_to_change"]
    assert callback_actions.callbacks().store.active_for_sender(SENDER) is None


@pytest.mark.parametrize(("text", "intent", "slot_time", "start"), [
    ("please call me tomorrow", "reschedule_callback", "Tue 1 Dec, 09:00 GMT", "2026-12-01T09:00:00+00:00"),
    ("can you ring me tomorrow after 3", "reschedule_callback", "Tue 1 Dec, 15:00 GMT", "2026-12-01T15:00:00+00:00"),
    ("move the call to friday", "reschedule_callback", "Fri 4 Dec, 09:00 GMT", "2026-12-04T09:00:00+00:00"),
])
async def test_a_call_asked_for_in_words_with_none_booked_is_booked_at_the_time_named(
    text: str, intent: str, slot_time: str, start: str, clock, action_runtime, make_tracker, domain  # noqa: ANN001
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = said(make_tracker, text, intent, slots={"ticket_number": "CX-7K3F9Q"})
    assert await ActionManageCallback().run(dispatcher, tracker, domain) == []
    [booked] = dispatcher.messages
    assert (booked["response"], booked["ticket_number"], booked["slot_time"]) == ("utter_callback_booked", "CX-7K3F9Q", slot_time)
    assert [button["title"] for button in booked["buttons"]] == ["Change the time", "Cancel the call"]
    call = callback_actions.callbacks().store.active_for_sender(SENDER)
    assert (call.key, call.ticket_number, call.slot_start.isoformat(), call.state) == ("callback:CX-7K3F9Q:1", "CX-7K3F9Q", start, "booked")


async def test_a_call_asked_for_with_no_time_or_one_that_cannot_be_booked_is_offered_the_free_times(
    clock, action_runtime, make_tracker, domain  # noqa: ANN001
) -> None:
    for text, intent, said_first in (("call me back please", "cancel_callback", []),
                                     ("please call me on sunday", "reschedule_callback", ["utter_callback_closed_day"])):
        dispatcher = CollectingDispatcher()
        events = await ActionManageCallback().run(dispatcher, said(make_tracker, text, intent, slots={"ticket_number": "CX-7K3F9Q"}), domain)
        assert [m["response"] for m in dispatcher.messages] == said_first
        assert slots_of(events) == {"callback_ticket": "CX-7K3F9Q"}
        assert followups(events) == ["action_schedule_callback"]
    assert callback_actions.callbacks().store.active_for_sender(SENDER) is None


async def test_a_call_asked_for_before_any_case_is_filed_asks_for_the_case_first(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    dispatcher = CollectingDispatcher()
    assert await ActionManageCallback().run(dispatcher, said(make_tracker, "please call me tomorrow", "reschedule_callback"), domain) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_callback_no_ticket"]
    assert callback_actions.callbacks().store.active_for_sender(SENDER) is None


async def test_cancel_said_while_a_new_time_is_offered_cancels_the_booked_call(
    clock, action_runtime, make_tracker, domain  # noqa: ANN001
) -> None:
    await validate(make_tracker, domain, "tomorrow after 3")
    events, _ = await validate(make_tracker, domain, "actually just cancel the call", intent="cancel_callback")
    assert slots_of(events) == {"callback_time": "none"}
    dispatcher = CollectingDispatcher()
    tracker = said(make_tracker, "actually just cancel the call", "cancel_callback",
                   slots={"callback_time": "none", "callback_ticket": "CX-7K3F9Q"})
    await ActionConfirmCallback().run(dispatcher, tracker, domain)
    assert [(m["response"], m.get("slot_time")) for m in dispatcher.messages] == [
        ("utter_callback_cancelled", "Tue 1 Dec, 15:00 GMT"), ("utter_anything_else", None),
    ]
    assert callback_actions.callbacks().store.get("callback:CX-7K3F9Q:1").state == "cancelled"


async def test_a_time_typed_after_the_browser_sent_its_zone_is_booked_on_that_clock(
    clock, action_runtime, make_tracker, domain  # noqa: ANN001
) -> None:
    earlier = user_event("hello", "greet")
    earlier["metadata"] = {"channel": "webchat", "timezone": "America/New_York"}
    await validate(make_tracker, domain, "tomorrow after 3")
    dispatcher = CollectingDispatcher()
    tracker = said(make_tracker, "can we move the call to Wednesday at 10", "reschedule_callback", earlier)  # no zone on this one
    await ActionManageCallback().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["slot_time"] == "Wed 2 Dec, 10:00 EST"
    moved = callback_actions.callbacks().store.active_for_sender(SENDER)
    assert (moved.slot_start.isoformat(), moved.customer_timezone) == ("2026-12-02T15:00:00+00:00", "America/New_York")


async def test_a_wish_for_a_call_read_as_a_change_changes_nothing(clock, action_runtime, make_tracker, domain) -> None:  # noqa: ANN001
    await validate(make_tracker, domain, "tomorrow after 3")
    for text, intent in (("call me back please", "cancel_callback"), ("please call me tomorrow", "reschedule_callback")):
        dispatcher = CollectingDispatcher()
        assert await ActionManageCallback().run(dispatcher, said(make_tracker, text, intent), domain) == []
        assert [m["response"] for m in dispatcher.messages] == ["utter_clarify"]
    assert callback_actions.callbacks().store.get("callback:CX-7K3F9Q:1").state == "booked"
    events, _ = await validate(make_tracker, domain, "call me back please", intent="cancel_callback")
    assert slots_of(events)["callback_time"] is None  # read as a time (none), never as "no call after all"
