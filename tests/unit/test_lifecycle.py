"""The ticket lifecycle on the real SQLite and PostgreSQL: legal moves apply, illegal ones change nothing, all is history."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from bot.db import MIGRATIONS_DIR, make_engine, make_sessionmaker, migrate
from bot.domain_config import load_domain_config
from bot.errors import InvalidTransition, TicketNotFound
from bot.lifecycle import OPEN_STATES, STATES, TRANSITIONS, check_actor, check_transition, legal_targets
from bot.tickets import TicketStore, raise_priority
from bot.triage import sla_deadlines
from tests.unit.test_tickets import NOW, make_draft

LEGAL = [(a, b) for a in STATES for b in STATES if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a in STATES for b in STATES if b not in TRANSITIONS[a]]

PATH_TO: dict[str, list[str]] = {
    "new": [],
    "acknowledged": ["acknowledged"],
    "in_progress": ["acknowledged", "in_progress"],
    "resolved": ["acknowledged", "in_progress", "resolved"],
    "closed": ["acknowledged", "in_progress", "resolved", "closed"],
    "reopened": ["acknowledged", "in_progress", "resolved", "reopened"],
    "escalated": ["escalated"],
    "withdrawn": ["withdrawn"],
}
"""A legal way from "new" to each state, so every move is tested from a ticket really in that state."""


def ticket_in(store: TicketStore, state: str, **overrides: Any) -> str:
    number = store.create(make_draft(**overrides), NOW).number
    for step, target in enumerate(PATH_TO[state], start=1):
        store.transition(number, target, actor="system", now=NOW + timedelta(minutes=step))
    assert store.get(number).status == state
    return number


# --- the lifecycle as data ---------------------------------------------------------------


def test_the_lifecycle_is_the_issues() -> None:
    assert legal_targets("new") == ("acknowledged", "escalated", "withdrawn")
    assert legal_targets("acknowledged") == ("in_progress", "escalated", "withdrawn")
    assert legal_targets("in_progress") == ("resolved", "escalated", "withdrawn")
    assert legal_targets("resolved") == ("closed", "reopened")
    assert legal_targets("closed") == ("reopened",)
    assert legal_targets("reopened") == ("in_progress", "escalated", "withdrawn")
    assert legal_targets("escalated") == ("in_progress", "resolved", "withdrawn")
    assert legal_targets("withdrawn") == ()
    assert (len(LEGAL), len(ILLEGAL)) == (18, 46)
    assert OPEN_STATES == {"new", "acknowledged", "in_progress", "reopened", "escalated"}


@pytest.mark.parametrize("actor", ["bot", "system", "customer", "sla-watch", "agent:Priya", "agent:Priya Shah"])
def test_named_actors_are_accepted(actor: str) -> None:
    assert check_actor(actor) == actor


@pytest.mark.parametrize("actor", ["", "agent", "agent:", "agent: Priya", "Priya", "BOT", "supervisor"])
def test_unnamed_or_unknown_actors_are_refused(actor: str) -> None:
    with pytest.raises(ValueError, match="actor must be one of bot, system, customer, sla-watch or 'agent:<name>'"):
        check_actor(actor)


def test_a_repeat_is_one_priority_step_more_urgent() -> None:
    assert [raise_priority(p) for p in ("P4", "P3", "P2", "P1")] == ["P3", "P2", "P1", "P1"]


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("new", "closed", "CX-7K3F9Q cannot go from 'new' to 'closed'; from 'new' it may go to: acknowledged, escalated, withdrawn"),
        ("withdrawn", "new", "CX-7K3F9Q cannot go from 'withdrawn' to 'new'; from 'withdrawn' it may go to: none, it is final"),
        ("new", "shipped", "'shipped' is not a ticket status"),
        ("shipped", "new", "'shipped' is not a ticket status"),
        ("new", "open", "'open' is not a ticket status"),
    ],
)
def test_refusals_name_the_states_and_the_legal_targets(current: str, target: str, message: str) -> None:
    with pytest.raises(InvalidTransition) as refused:
        check_transition("CX-7K3F9Q", current, target)
    assert str(refused.value).startswith(message)


# --- every move on both databases --------------------------------------------------------


@pytest.mark.parametrize(("current", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition_applies_and_is_recorded(store: TicketStore, current: str, target: str) -> None:
    number = ticket_in(store, current)
    before = store.get(number)
    at = NOW + timedelta(hours=3)
    after = store.transition(number.lower(), target, actor="agent:Priya", now=at, note=f"to {target}")
    assert after.status == target
    assert after.updated_at == at
    assert store.get(number) == after
    expected_resolved_at = {"resolved": at, "reopened": None}.get(target, before.resolved_at)
    assert after.resolved_at == expected_resolved_at
    last = store.events(number)[-1]
    assert (last.kind, last.at) == ("status", at)
    assert last.detail == {"from": current, "to": target, "actor": "agent:Priya", "note": f"to {target}"}


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_refused_and_changes_nothing(store: TicketStore, current: str, target: str) -> None:
    number = ticket_in(store, current)
    before, history = store.get(number), store.events(number)
    allowed = ", ".join(legal_targets(current)) or "none, it is final"
    message = f"{number} cannot go from '{current}' to '{target}'; from '{current}' it may go to: {allowed}"
    with pytest.raises(InvalidTransition) as refused:
        store.transition(number, target, actor="bot", now=NOW + timedelta(hours=3))
    assert str(refused.value) == message
    assert store.get(number) == before
    assert store.events(number) == history


def test_an_unknown_state_an_unknown_ticket_and_a_bad_actor_change_nothing(store: TicketStore) -> None:
    number = ticket_in(store, "new")
    history = store.events(number)
    with pytest.raises(InvalidTransition, match="'shipped' is not a ticket status"):
        store.transition(number, "shipped", actor="bot", now=NOW)
    with pytest.raises(ValueError, match="actor must be"):
        store.transition(number, "acknowledged", actor="someone", now=NOW)
    with pytest.raises(TicketNotFound):
        store.transition("CX-000000", "acknowledged", actor="bot", now=NOW)
    assert store.events(number) == history
    assert store.get(number).status == "new"


def test_the_complete_history_of_a_ticket_that_was_reopened(store: TicketStore) -> None:
    number = store.create(make_draft(), NOW).number
    steps = [
        ("acknowledged", "bot", None),
        ("in_progress", "agent:Priya", "checking with the courier"),
        ("resolved", "agent:Priya", "refund issued"),
        ("reopened", "customer", "the refund never arrived"),
        ("in_progress", "agent:Sam", None),
        ("resolved", "agent:Sam", "refund re-sent, bank reference 123"),
        ("closed", "system", "satisfaction follow-up answered 5"),
    ]
    moments = [NOW + timedelta(hours=h, minutes=7) for h in range(1, len(steps) + 1)]
    records = [
        store.transition(number, target, actor=actor, now=at, note=note)
        for (target, actor, note), at in zip(steps, moments)
    ]
    assert [r.resolved_at for r in records] == [None, None, moments[2], None, None, moments[5], moments[5]]
    history = store.events(number)
    assert [(e.kind, e.at) for e in history] == [("created", NOW)] + [("status", at) for at in moments]
    assert history[0].detail == {"status": "new"}
    assert [e.detail for e in history[1:]] == [
        {"from": "new", "to": "acknowledged", "actor": "bot", "note": None},
        {"from": "acknowledged", "to": "in_progress", "actor": "agent:Priya", "note": "checking with the courier"},
        {"from": "in_progress", "to": "resolved", "actor": "agent:Priya", "note": "refund issued"},
        {"from": "resolved", "to": "reopened", "actor": "customer", "note": "the refund never arrived"},
        {"from": "reopened", "to": "in_progress", "actor": "agent:Sam", "note": None},
        {"from": "in_progress", "to": "resolved", "actor": "agent:Sam", "note": "refund re-sent, bank reference 123"},
        {"from": "resolved", "to": "closed", "actor": "system", "note": "satisfaction follow-up answered 5"},
    ]
    final = store.get(number)
    assert (final.status, final.updated_at, final.resolved_at) == ("closed", moments[-1], moments[5])


# --- concurrency -------------------------------------------------------------------------


def _race(url: str, number: str, target: str, barrier: Any) -> str:
    """In its own process: wait for the other, then try the move; report who won."""
    engine = make_engine(url)
    store = TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.05)
    try:
        barrier.wait()
        store.transition(number, target, actor=f"agent:{target}", now=NOW + timedelta(hours=1), note=target)
        return "applied"
    except InvalidTransition:
        return "refused"
    finally:
        engine.dispose()


def test_two_threads_moving_the_same_ticket_exactly_one_wins(store: TicketStore) -> None:
    number = ticket_in(store, "in_progress")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def move(target: str) -> None:
        barrier.wait()
        try:
            store.transition(number, target, actor="system", now=NOW + timedelta(hours=1))
            outcomes[target] = "applied"
        except InvalidTransition:
            outcomes[target] = "refused"

    threads = [threading.Thread(target=move, args=(t,)) for t in ("resolved", "withdrawn")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["applied", "refused"]
    winner = next(t for t, o in outcomes.items() if o == "applied")
    assert store.get(number).status == winner
    assert [e.detail["to"] for e in store.events(number) if e.kind == "status"][-1] == winner
    assert len(store.events(number)) == 1 + len(PATH_TO["in_progress"]) + 1


@pytest.mark.parametrize("round_", range(5))
def test_two_processes_on_postgresql_exactly_one_wins(postgres_url: str, round_: int) -> None:
    engine = make_engine(postgres_url)
    migrate(engine)
    store = TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.05)
    number = ticket_in(store, "in_progress")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with context.Pool(2) as pool:
            outcomes = pool.starmap(
                _race, [(postgres_url, number, "resolved", barrier), (postgres_url, number, "withdrawn", barrier)]
            )
    assert sorted(outcomes) == ["applied", "refused"]
    winner = ("resolved", "withdrawn")[outcomes.index("applied")]
    changes = [e.detail for e in store.events(number) if e.kind == "status"]
    assert changes[-1] == {"from": "in_progress", "to": winner, "actor": f"agent:{winner}", "note": winner}
    assert len(changes) == len(PATH_TO["in_progress"]) + 1
    assert store.get(number).status == winner
    engine.dispose()


# --- repeat complaints -------------------------------------------------------------------


def test_a_first_complaint_is_no_repeat(store: TicketStore) -> None:
    record = store.create(make_draft(), NOW)
    assert (record.repeat_of, record.priority) == (None, "P2")


def test_a_complaint_within_the_window_links_and_raises_priority(store: TicketStore) -> None:
    first = store.create(make_draft(order_ref="111", priority="P4"), NOW)
    later = NOW + timedelta(days=29, hours=23)
    second = store.create(make_draft(order_ref="222", priority="P4"), later)
    assert (second.repeat_of, second.priority) == (first.number, "P3")
    assert store.get(second.number) == second
    assert store.events(second.number)[0].detail == {
        "status": "new",
        "repeat_of": first.number,
        "priority_raised_from": "P4",
    }
    third = store.create(make_draft(order_ref="333", priority="P1"), later + timedelta(minutes=1))
    assert (third.repeat_of, third.priority) == (second.number, "P1")


def test_after_the_window_only_the_same_order_is_a_repeat(store: TicketStore) -> None:
    about_order = store.create(make_draft(order_ref="88412", priority="P3"), NOW)
    store.create(make_draft(order_ref="55555", priority="P3"), NOW + timedelta(days=1))
    much_later = NOW + timedelta(days=200)
    other_order = store.create(make_draft(order_ref="77777", priority="P3"), much_later)
    assert (other_order.repeat_of, other_order.priority) == (None, "P3")
    same_order = store.create(make_draft(order_ref=" 88412 ", priority="P3"), much_later + timedelta(days=1))
    assert (same_order.repeat_of, same_order.priority) == (about_order.number, "P2")


def test_the_same_contact_on_another_channel_is_the_same_customer(store: TicketStore) -> None:
    first = store.create(make_draft(channel="telegram", sender_id="tg:1", contact="Zoe@Example.com"), NOW)
    second = store.create(
        make_draft(channel="webchat", sender_id="web:abc", contact=" zoe@example.com"), NOW + timedelta(days=3)
    )
    assert second.repeat_of == first.number
    stranger = store.create(
        make_draft(channel="webchat", sender_id="web:xyz", contact="sam@example.com"), NOW + timedelta(days=3)
    )
    assert stranger.repeat_of is None


@pytest.mark.parametrize("placeholder", ["unknown", "none", "[unparsed] my usual one"])
def test_placeholder_contacts_and_orders_identify_nobody(store: TicketStore, placeholder: str) -> None:
    store.create(make_draft(sender_id="a", contact=placeholder, order_ref=placeholder), NOW)
    later = NOW + timedelta(days=90)
    other = store.create(make_draft(sender_id="b", contact=placeholder, order_ref=placeholder), NOW)
    same_sender = store.create(make_draft(sender_id="a", contact=placeholder, order_ref=placeholder), later)
    assert (other.repeat_of, same_sender.repeat_of) == (None, None)


def test_a_raised_priority_brings_its_faster_deadlines(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    sla = load_domain_config(Path(__file__).resolve().parents[2] / "settings").sla
    store = TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.05, sla=sla)
    store.create(make_draft(priority="P3"), NOW)
    later = NOW + timedelta(days=2)
    repeat = store.create(make_draft(priority="P3"), later)
    deadlines = sla_deadlines("P2", later, sla)
    assert repeat.priority == "P2"
    assert (repeat.sla_classify_by, repeat.sla_analyse_by, repeat.sla_resolve_by, repeat.sla_close_by) == (
        deadlines.classify_by,
        deadlines.analyse_by,
        deadlines.resolve_by,
        deadlines.close_by,
    )
    engine.dispose()


# --- migration of existing tickets -------------------------------------------------------


def test_migration_0004_renames_open_to_new_and_keeps_the_history(db_url: str) -> None:
    engine = make_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_evidence")
    store = TicketStore(make_sessionmaker(engine), attempts=1, delay_s=0.0)
    with engine.begin() as connection:
        for number, status in (("CX-AAAAAA", "open"), ("CX-BBBBBB", "resolved")):
            connection.execute(
                text(
                    "INSERT INTO tickets (number, status, channel, sender_id, language, narrative, category,"
                    " category_confidence, severity, priority, emotion_score, offered_options, sla_classify_by,"
                    " sla_analyse_by, sla_resolve_by, sla_close_by, transcript, created_at, updated_at)"
                    " VALUES (:number, :status, 'rest', :number, 'en', 'it broke', 'other', 0, 'low', 'P4', 0,"
                    " '[]', :at, :at, :at, :at, '[]', :at, :at)"
                ),
                {"number": number, "status": status, "at": NOW.replace(tzinfo=None)},
            )
        ids = dict(connection.execute(text("SELECT number, id FROM tickets")).all())
        connection.execute(
            text("INSERT INTO ticket_events (ticket_id, kind, at, detail) VALUES (:t, :k, :at, :d)"),
            [
                {"t": ids["CX-AAAAAA"], "k": "created", "at": NOW.replace(tzinfo=None), "d": '{"status": "open"}'},
                {"t": ids["CX-BBBBBB"], "k": "created", "at": NOW.replace(tzinfo=None), "d": '{"status": "open"}'},
                {
                    "t": ids["CX-BBBBBB"],
                    "k": "status_changed",
                    "at": NOW.replace(tzinfo=None),
                    "d": '{"from": "open", "to": "resolved", "note": "done"}',
                },
            ],
        )
    migrate(engine)
    assert store.get("CX-AAAAAA").status == "new"
    assert [e.detail for e in store.events("CX-AAAAAA")] == [{"status": "new"}]
    assert store.get("CX-BBBBBB").status == "resolved"
    assert [e.detail for e in store.events("CX-BBBBBB")] == [
        {"status": "new"},
        {"from": "new", "to": "resolved", "actor": None, "note": "done"},
    ]
    assert [e.kind for e in store.events("CX-BBBBBB")] == ["created", "status"]
    assert store.transition("CX-AAAAAA", "acknowledged", actor="bot", now=NOW).status == "acknowledged"
    engine.dispose()
