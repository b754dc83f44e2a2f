"""The ticket store on the real SQLite and PostgreSQL: every word kept, numbers unique, outages survived."""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from bot import tickets as tickets_module
from bot.db import make_engine, make_sessionmaker, migrate
from bot.errors import InvalidTransition, TicketNotFound, TicketStoreUnavailable
from bot.models import Ticket, TicketEvent
from bot.ticket_numbers import new_ticket_number
from bot.tickets import TicketDraft, TicketRecord, TicketStore

NOW = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=timezone.utc)
HOSTILE = "'; DROP TABLE tickets; -- \"quoted\" \\ back\\slash % _ ünïcödé 中文投诉 😡🔥"
LONG_NARRATIVE = ("My kettle exploded 💥 and nobody answered. " * 500)[:20_000]


def make_draft(**overrides: Any) -> TicketDraft:
    """A draft with every field filled, so a round trip proves each one is stored."""
    values: dict[str, Any] = dict(
        status="new",
        channel="telegram",
        sender_id="sender-42",
        language="en",
        customer_type="returning",
        customer_name="Zoë O'Brien 🙂",
        contact="zoe@example.com",
        contact_kind="email",
        complaint_product="Kettle K-2000",
        problem_description=HOSTILE,
        incident_date=date(2025, 3, 12),
        incident_date_text="2025-03-12",
        incident_location="Store on Main St; Room 'B'",
        order_ref="88412",
        people_involved="courier named Sam",
        impact="scalded hand",
        desired_outcome="my money back",
        desired_outcome_kind="refund",
        narrative=LONG_NARRATIVE,
        category="product",
        category_confidence=0.87,
        severity="high",
        priority="P2",
        emotion_score=0.73,
        chosen_option="refund",
        offered_options=["refund", "replacement", "human_agent"],
        sla_classify_by=NOW + timedelta(hours=4),
        sla_analyse_by=NOW + timedelta(hours=24),
        sla_resolve_by=NOW + timedelta(hours=72),
        sla_close_by=NOW + timedelta(hours=120),
        transcript=[
            {"sender": "customer", "text": HOSTILE, "timestamp": NOW.isoformat()},
            {"sender": "assistant", "text": "I'm sorry 😔", "timestamp": NOW.isoformat()},
        ],
    )
    values.update(overrides)
    return TicketDraft(**values)


def draft_fields(record: TicketRecord) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(TicketDraft)}


def row_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Ticket.__table__)).scalar_one()
    finally:
        engine.dispose()


def create_many(url: str, count: int) -> list[str]:
    """Run in a separate process: its own engine, its own pool, the same database."""
    engine = make_engine(url)
    store = TicketStore(make_sessionmaker(engine), attempts=5, delay_s=0.05)
    try:
        return [store.create(make_draft(sender_id=f"proc-{i}"), NOW).number for i in range(count)]
    finally:
        engine.dispose()


# --- round trip -------------------------------------------------------------------------


def test_every_field_survives_the_round_trip(store: TicketStore) -> None:
    draft = make_draft()
    created = store.create(draft, NOW)
    fetched = store.get(created.number)
    assert fetched == created
    assert draft_fields(fetched) == dataclasses.asdict(draft)
    assert len(fetched.narrative) == 20_000
    assert fetched.created_at == fetched.updated_at == NOW
    assert fetched.resolved_at is None


def test_what_is_written_within_the_filing_exists_exactly_when_the_ticket_does(store: TicketStore) -> None:
    seen: list[tuple[str, int]] = []

    def note(session, ticket: Ticket) -> None:
        session.add(TicketEvent(ticket_id=ticket.id, kind="note", at=NOW, detail={"text": "planned"}))
        seen.append((ticket.number, ticket.id))

    filed = store.create(make_draft(sender_id="with-hook"), NOW, within=note)
    assert [number for number, _ in seen] == [filed.number]
    with store._sessions() as session:
        kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == seen[0][1]).order_by(TicketEvent.id)).all()
    assert kinds == ["created", "note"]

    def fail(session, ticket: Ticket) -> None:
        raise RuntimeError("the SLA checks could not be written")

    with pytest.raises(RuntimeError, match="SLA checks"):
        store.create(make_draft(sender_id="hook-fails"), NOW, within=fail)
    assert store.find_by_sender("telegram", "hook-fails") == []


def test_optional_details_may_be_missing(store: TicketStore) -> None:
    draft = TicketDraft(
        channel="rest",
        sender_id="s",
        narrative="it broke",
        category="other",
        severity="low",
        priority="P4",
        sla_classify_by=NOW,
        sla_analyse_by=NOW,
        sla_resolve_by=NOW,
        sla_close_by=NOW,
    )
    record = store.get(store.create(draft, NOW).number)
    assert record is not None
    assert draft_fields(record) == dataclasses.asdict(draft)
    assert record.customer_type == "unknown"


def test_a_nul_character_does_not_lose_the_message(store: TicketStore) -> None:
    record = store.create(make_draft(narrative="before\x00after", customer_name="A\x00B"), NOW)
    fetched = store.get(record.number)
    assert fetched is not None
    assert (fetched.narrative, fetched.customer_name) == ("before\ufffdafter", "A\ufffdB")


def test_times_come_back_in_utc(store: TicketStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    local_now = NOW.astimezone(tokyo)
    record = store.create(make_draft(sla_close_by=local_now + timedelta(days=5)), local_now)
    fetched = store.get(record.number)
    assert fetched is not None
    for moment in (record.created_at, fetched.created_at, fetched.sla_close_by):
        assert moment.utcoffset() == timedelta(0)
    assert fetched.created_at == NOW
    assert fetched.sla_close_by == NOW + timedelta(days=5)


def test_naive_datetimes_are_refused(store: TicketStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.create(make_draft(), NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="sla_close_by"):
        store.create(make_draft(sla_close_by=NOW.replace(tzinfo=None)), NOW)
    number = store.create(make_draft(), NOW).number
    with pytest.raises(ValueError, match="timezone-aware"):
        store.transition(number, "acknowledged", actor="bot", now=NOW.replace(tzinfo=None))


def test_get_accepts_the_number_as_a_customer_types_it(store: TicketStore) -> None:
    number = store.create(make_draft(), NOW).number
    typed = number.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    record = store.get(typed)
    assert record is not None and record.number == number


@pytest.mark.parametrize("number", ["CX-000000", "not a number", ""])
def test_get_unknown_returns_none(store: TicketStore, number: str) -> None:
    assert store.get(number) is None


def test_creation_is_recorded_in_the_history(store: TicketStore) -> None:
    record = store.create(make_draft(status="escalated"), NOW)
    [created] = store.events(record.number)
    assert created.kind == "created"
    assert created.at == NOW
    assert created.detail == {"status": "escalated"}


def test_find_by_sender_lists_this_customers_tickets_oldest_first(store: TicketStore) -> None:
    second = store.create(make_draft(), NOW + timedelta(minutes=5))
    first = store.create(make_draft(), NOW)
    store.create(make_draft(sender_id="someone-else"), NOW)
    store.create(make_draft(channel="webchat"), NOW)
    found = store.find_by_sender("telegram", "sender-42")
    assert [r.number for r in found] == [first.number, second.number]
    assert store.find_by_sender("telegram", "nobody") == []


# --- statuses ---------------------------------------------------------------------------


def test_a_ticket_can_only_start_new_escalated_or_withdrawn(store: TicketStore) -> None:
    with pytest.raises(InvalidTransition, match="cannot start as 'resolved'; it may start as: new, escalated, withdrawn"):
        store.create(make_draft(status="resolved"), NOW)
    assert store.find_by_sender("telegram", "sender-42") == []


def test_a_spooled_draft_with_the_legacy_status_open_files_as_new(store: TicketStore) -> None:
    record = store.create(make_draft(status="open"), NOW)
    assert record.status == "new"
    assert store.events(record.number)[0].detail == {"status": "new"}


def test_status_of_an_unknown_ticket(store: TicketStore) -> None:
    with pytest.raises(TicketNotFound):
        store.transition("CX-000000", "acknowledged", actor="bot", now=NOW)
    with pytest.raises(TicketNotFound):
        store.events("CX-000000")


# --- numbers ----------------------------------------------------------------------------


def test_a_number_clash_draws_another_number(store: TicketStore, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = store.create(make_draft(), NOW).number
    fresh = new_ticket_number()
    draws = iter([taken, taken, fresh])
    monkeypatch.setattr(tickets_module, "new_ticket_number", lambda: next(draws))
    record = store.create(make_draft(sender_id="other"), NOW)
    assert record.number == fresh
    assert store.get(taken).sender_id == "sender-42"


def test_a_preassigned_number_is_kept(store: TicketStore) -> None:
    record = store.create(make_draft(), NOW, number="cx-7k3f9q")
    assert record.number == "CX-7K3F9Q"
    assert store.get("CX-7K3F9Q") == record


def test_filing_the_same_draft_twice_returns_the_first_ticket(store: TicketStore) -> None:
    first = store.create(make_draft(), NOW, number="CX-7K3F9Q")
    again = store.create(make_draft(), NOW, number="CX-7K3F9Q")
    assert again == first
    assert len(store.find_by_sender("telegram", "sender-42")) == 1


def test_a_preassigned_number_held_by_another_ticket_is_replaced(store: TicketStore) -> None:
    store.create(make_draft(sender_id="first-customer", contact="first@example.com"), NOW, number="CX-7K3F9Q")
    record = store.create(make_draft(), NOW + timedelta(minutes=1), number="CX-7K3F9Q")
    assert record.number != "CX-7K3F9Q"
    assert store.get("CX-7K3F9Q").sender_id == "first-customer"
    [created] = store.events(record.number)
    assert created.detail == {"status": "new", "requested_number": "CX-7K3F9Q"}


def test_twenty_threads_get_twenty_distinct_numbers(store: TicketStore) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        records = list(pool.map(lambda i: store.create(make_draft(sender_id=f"t{i}"), NOW), range(20)))
    numbers = {r.number for r in records}
    assert len(numbers) == 20
    stored = {r.number for i in range(20) for r in store.find_by_sender("telegram", f"t{i}")}
    assert stored == numbers


def test_two_processes_get_a_hundred_distinct_numbers(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    engine.dispose()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        batches = pool.starmap(create_many, [(db_url, 50), (db_url, 50)])
    numbers = [number for batch in batches for number in batch]
    assert len(numbers) == 100
    assert len(set(numbers)) == 100
    assert row_count(db_url) == 100


# --- outages ----------------------------------------------------------------------------


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The back-off delays the store waited, still really waited."""
    waited: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(tickets_module.time, "sleep", sleep)
    yield waited


def test_an_unreachable_store_is_retried_then_reported(sleeps: list[float]) -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1")
    store = TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.01)
    started = time.monotonic()
    with pytest.raises(TicketStoreUnavailable):
        store.create(make_draft(), NOW)
    with pytest.raises(TicketStoreUnavailable):
        store.get("CX-7K3F9Q")
    engine.dispose()
    assert time.monotonic() - started < 10
    assert sleeps == [0.01, 0.02, 0.01, 0.02]


def fail_first_connections(engine: Engine, failures: int) -> None:
    """The real driver refusing the first connections, as while a database restarts."""
    remaining = [failures]

    @event.listens_for(engine, "do_connect")
    def refuse(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
        if remaining[0]:
            remaining[0] -= 1
            raise dialect.dbapi.OperationalError("could not connect to server: the database is starting up")


def test_a_store_that_comes_back_within_the_retries_files_the_ticket(db_url: str, sleeps: list[float]) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    engine.dispose()
    fail_first_connections(engine, failures=2)
    store = TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.01)
    record = store.create(make_draft(), NOW)
    assert store.get(record.number) == record
    assert sleeps == [0.01, 0.02]
    engine.dispose()
