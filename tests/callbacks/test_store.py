"""The callbacks table on SQLite and PostgreSQL: booking within capacity (also when two
bookings race for the last seat), rescheduling, cancelling, the work queue and done."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from bot.callbacks.service import list_callbacks, mark_done
from bot.callbacks.slots import Slot
from bot.callbacks.store import CallbackNotFound, CallbackStateError, CallbackStore, SlotFull
from bot.db import make_engine, make_sessionmaker
from bot.tickets import TicketDraft, TicketStore

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SLOT = Slot(datetime(2026, 12, 1, 15, 0, tzinfo=UTC), datetime(2026, 12, 1, 15, 30, tzinfo=UTC))
LATER = Slot(datetime(2026, 12, 2, 9, 0, tzinfo=UTC), datetime(2026, 12, 2, 9, 30, tzinfo=UTC))


def book(store: CallbackStore, ticket: str, slot: Slot = SLOT, sender: str = "web:s1"):
    return store.book(
        ticket_number=ticket, channel="webchat", sender_id=sender, slot=slot, customer_timezone="Europe/London", now=NOW
    )


def file_ticket(tickets: TicketStore, contact: str) -> str:
    draft = TicketDraft(
        channel="webchat", sender_id="web:s1", narrative="the kettle broke", category="product", severity="low",
        priority="P4", sla_classify_by=NOW, sla_analyse_by=NOW, sla_resolve_by=NOW, sla_close_by=NOW,
        customer_name="Jane Morris", contact=contact,
    )
    return tickets.create(draft, NOW).number


def test_a_booking_is_recorded_under_its_business_key(stores) -> None:
    store, _ = stores
    record = book(store, "CX-AAAAAA")
    assert (record.key, record.seq, record.state, record.reminder) == ("callback:CX-AAAAAA:1", 1, "booked", "pending")
    assert (record.slot_start, record.slot_end, record.customer_timezone) == (SLOT.start, SLOT.end, "Europe/London")
    assert record.reminder_key == "callback:CX-AAAAAA:1:reminder"
    assert store.get(record.key) == record
    assert store.active_for_sender("web:s1") == record


def test_a_slot_takes_as_many_bookings_as_it_has_seats_and_no_more(stores) -> None:
    store, _ = stores
    book(store, "CX-AAAAAA", sender="web:a")
    book(store, "CX-BBBBBB", sender="web:b")
    with pytest.raises(SlotFull):
        book(store, "CX-CCCCCC", sender="web:c")
    assert store.taken(NOW, NOW + timedelta(days=3)) == {SLOT.start: 2}
    assert store.active_for_sender("web:c") is None


def test_rescheduling_books_the_next_number_and_frees_the_old_seat(stores) -> None:
    store, _ = stores
    first = book(store, "CX-AAAAAA")
    second = book(store, "CX-AAAAAA", slot=LATER)
    assert second.key == "callback:CX-AAAAAA:2"
    assert store.get(first.key).state == "rescheduled"
    assert store.taken(NOW, NOW + timedelta(days=3)) == {LATER.start: 1}
    assert book(store, "CX-AAAAAA", slot=LATER) == second  # the same time again books nothing new


def test_cancelling_frees_the_seat_and_is_final(stores) -> None:
    store, _ = stores
    record = book(store, "CX-AAAAAA")
    cancelled = store.cancel(record.key, NOW)
    assert cancelled.state == "cancelled"
    assert store.cancel(record.key, NOW) == cancelled
    assert store.taken(NOW, NOW + timedelta(days=3)) == {}
    with pytest.raises(CallbackStateError):
        mark_done(store, record.key, actor="agent:priya", now=NOW)
    with pytest.raises(CallbackNotFound):
        store.cancel("callback:CX-ZZZZZZ:1", NOW)


def test_the_work_queue_lists_due_calls_with_whom_to_call_and_drops_done_ones(stores) -> None:
    store, tickets = stores
    number = file_ticket(tickets, "+44 7700 900123")
    due = book(store, number)
    book(store, "CX-BBBBBB", slot=LATER, sender="web:b")
    items = list_callbacks(store, due_by=SLOT.start)
    assert [(item.callback.key, item.customer_name, item.contact) for item in items] == [
        (due.key, "Jane Morris", "+44 7700 900123")
    ]
    assert [item.callback.ticket_number for item in list_callbacks(store)] == [number, "CX-BBBBBB"]
    done = mark_done(store, due.key, actor="agent:priya", now=NOW + timedelta(days=1))
    assert (done.state, done.done_by, done.done_at) == ("done", "agent:priya", NOW + timedelta(days=1))
    assert mark_done(store, due.key, actor="agent:sam", now=NOW + timedelta(days=2)).done_by == "agent:priya"
    assert [item.callback.ticket_number for item in list_callbacks(store)] == ["CX-BBBBBB"]


def test_a_call_marked_done_is_written_once_into_its_tickets_history_with_the_note(stores) -> None:
    store, tickets = stores
    number = file_ticket(tickets, "+44 7700 900123")
    record = book(store, number)
    orphan = book(store, "CX-BBBBBB", slot=LATER, sender="web:b")

    mark_done(store, record.key, actor="agent:priya", now=NOW + timedelta(days=1), note="refund confirmed by phone")
    mark_done(store, record.key, actor="agent:sam", now=NOW + timedelta(days=2), note="called again")
    done_without_ticket = mark_done(store, orphan.key, actor="system", now=NOW)

    entries = [(e.kind, e.at, e.detail) for e in tickets.events(number) if e.kind != "created"]
    assert entries == [(
        "callback_done", NOW + timedelta(days=1),
        {"callback": record.key, "slot_start": SLOT.start.isoformat(), "actor": "agent:priya", "note": "refund confirmed by phone"},
    )]
    assert (done_without_ticket.state, done_without_ticket.done_by) == ("done", "system")


def test_the_work_queue_pages_counts_and_shows_one_call_in_any_state(stores) -> None:
    store, tickets = stores
    number = file_ticket(tickets, "jane@example.com")
    first = book(store, number)
    second = book(store, "CX-BBBBBB", slot=LATER, sender="web:b")
    third = book(store, "CX-CCCCCC", slot=LATER, sender="web:c")
    store.cancel(third.key, NOW)
    every = ("booked", "rescheduled", "cancelled", "done", "missed")

    pages = [list_callbacks(store, states=every, limit=2, offset=offset) for offset in (0, 2, 3)]

    assert [[item.callback.key for item in page] for page in pages] == [[first.key, second.key], [third.key], []]
    assert store.count(due_by=None, states=every, ticket_number=None) == 3
    assert store.count(due_by=None, states=("booked",), ticket_number=None) == 2
    assert store.count(due_by=SLOT.start, states=("booked",), ticket_number=None) == 1
    assert store.count(due_by=None, states=every, ticket_number="CX-BBBBBB") == 1
    shown = store.work_item(third.key)
    assert shown is not None and (shown.callback.state, shown.customer_name, shown.contact) == ("cancelled", None, None)
    assert store.work_item(first.key).contact == "jane@example.com"
    assert store.work_item("callback:CX-ZZZZZZ:1") is None


def test_a_missed_call_stays_in_the_queue_until_done(stores) -> None:
    store, _ = stores
    record = book(store, "CX-AAAAAA")
    assert store.mark_missed(record.key, NOW).state == "missed"
    assert [item.callback.state for item in list_callbacks(store)] == ["missed"]
    assert mark_done(store, record.key, actor="agent:priya", now=NOW).state == "done"
    assert store.mark_missed(record.key, NOW).state == "done"


def test_two_bookings_racing_for_the_last_seat_on_postgresql_get_one_seat(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Both read the seats before either writes (held at a barrier); PostgreSQL lets one insert through."""
    from bot.db import migrate

    caplog.set_level(logging.INFO, logger="bot.callbacks.store")
    engine = make_engine(postgres_url)
    migrate(engine)
    store = CallbackStore(make_sessionmaker(engine), capacity=2)
    book(store, "CX-AAAAAA", sender="web:a")
    barrier = threading.Barrier(2, timeout=10)
    waited = threading.local()
    held: list[int] = []

    @event.listens_for(engine, "after_cursor_execute")
    def hold_after_reading_seats(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "SELECT callbacks.seat" in statement and not getattr(waited, "done", False):
            waited.done = True
            held.append(barrier.wait())

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(book, store, ticket, SLOT, f"web:{ticket}") for ticket in ("CX-BBBBBB", "CX-CCCCCC")]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=30).key)
            except SlotFull:
                outcomes.append("full")
    assert sorted(held) == [0, 1]  # both read the free seat before either wrote
    assert sorted(outcome == "full" for outcome in outcomes) == [False, True]
    assert store.taken(NOW, NOW + timedelta(days=3)) == {SLOT.start: 2}
    retries = [r for r in caplog.records if r.getMessage() == "callback seat or number taken concurrently; retrying"]
    assert len(retries) == 1  # the loser really collided on the seat, then found the slot full
    engine.dispose()


def test_many_bookings_at_once_never_overfill_a_slot(engine_url: str) -> None:
    engine = make_engine(engine_url)
    store = CallbackStore(make_sessionmaker(engine), capacity=2)
    tickets = [f"CX-{index:06d}" for index in range(8)]
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(book, store, ticket, SLOT, f"web:{ticket}") for ticket in tickets]
        booked = 0
        for future in futures:
            try:
                future.result(timeout=60)
                booked += 1
            except SlotFull:
                pass
    assert booked == 2
    assert store.taken(NOW, NOW + timedelta(days=3)) == {SLOT.start: 2}
    engine.dispose()
