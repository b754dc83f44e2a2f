"""The SLA watcher on the real SQLite and PostgreSQL stores, with a clock the test drives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from bot.db import make_engine, make_sessionmaker
from bot.errors import TicketNotFound
from bot.sla.watch import SlaCheck, SlaWatch, stage_outcome
from bot.tickets import TicketStore
from tests.sla.conftest import T0, SlaWorld


def breaches(world: SlaWorld, number: str) -> list[dict]:
    return [event.detail for event in world.tickets.events(number) if event.kind == "sla_breach"]


def status_moves(world: SlaWorld, number: str) -> list[tuple[str, str, str]]:
    return [
        (e.detail["from"], e.detail["to"], e.detail["actor"]) for e in world.tickets.events(number) if e.kind == "status"
    ]


def test_planning_writes_one_check_per_stage_and_the_escalation_at_the_tickets_deadlines(world: SlaWorld) -> None:
    number = world.file()

    planned = world.watch.plan()

    assert [(c.ticket_number, c.check, c.due_at) for c in planned] == [
        (number, "classify", T0 + timedelta(hours=2)),
        (number, "analyse", T0 + timedelta(hours=6)),
        (number, "resolve", T0 + timedelta(hours=16)),
        (number, "total", T0 + timedelta(hours=24)),
        (number, "escalate", T0 + timedelta(hours=15)),
    ]
    assert [c.key for c in planned][0] == f"sla:{number}:classify"
    assert world.watch.plan() == []
    assert world.watch.checks(number) == planned


def test_a_stage_met_in_time_is_recorded_as_met_without_a_breach(world: SlaWorld) -> None:
    number = world.file()
    world.watch.plan()
    world.tickets.transition(number, "acknowledged", actor="agent:Priya", now=T0 + timedelta(hours=1))

    judged = world.watch.run(number, "classify", T0 + timedelta(hours=2))

    assert (judged.outcome, judged.done_at) == ("met", T0 + timedelta(hours=2))
    assert breaches(world, number) == []


def test_a_breach_is_recorded_once_in_the_history_however_often_it_is_judged(world: SlaWorld) -> None:
    number = world.file()
    world.watch.plan()
    at = T0 + timedelta(hours=2, seconds=1)

    first = world.watch.run(number, "classify", at)
    again = world.watch.run(number, "classify", at + timedelta(minutes=5))
    world.watch.run(number, "classify", at + timedelta(hours=3))

    assert first == again == SlaCheck(number, "classify", T0 + timedelta(hours=2), at, "breached")
    assert breaches(world, number) == [
        {"stage": "classify", "deadline": (T0 + timedelta(hours=2)).isoformat(), "status_at_deadline": "new", "actor": "sla-watch"}
    ]
    [event] = [e for e in world.tickets.events(number) if e.kind == "sla_breach"]
    assert event.at == at


def test_a_check_not_yet_due_is_left_undone(world: SlaWorld) -> None:
    number = world.file()
    world.watch.plan()

    early = world.watch.run(number, "analyse", T0 + timedelta(hours=5, minutes=59))

    assert (early.done_at, early.outcome) == (None, None)
    assert breaches(world, number) == []
    assert [c.check for c in world.watch.overdue(T0 + timedelta(hours=5, minutes=59))] == ["classify"]


def test_a_stage_is_judged_by_the_state_at_its_deadline_not_the_state_when_judged(world: SlaWorld) -> None:
    number = world.file()
    world.watch.plan()
    for hours, state in ((1, "acknowledged"), (3, "in_progress"), (10, "resolved"), (12, "reopened")):
        world.tickets.transition(number, state, actor="agent:Priya", now=T0 + timedelta(hours=hours))

    late = T0 + timedelta(days=3)
    outcomes = {check: world.watch.run(number, check, late).outcome for check in ("classify", "analyse", "resolve")}

    assert outcomes == {"classify": "met", "analyse": "met", "resolve": "breached"}
    assert [b["stage"] for b in breaches(world, number)] == ["resolve"]
    assert breaches(world, number)[0]["status_at_deadline"] == "reopened"


def test_a_withdrawn_ticket_stops_the_clock(world: SlaWorld) -> None:
    number = world.file()
    world.watch.plan()
    world.tickets.transition(number, "withdrawn", actor="customer", now=T0 + timedelta(minutes=30))

    outcomes = [world.watch.run(number, check, T0 + timedelta(days=2)).outcome for check in ("classify", "analyse", "resolve", "total", "escalate")]

    assert outcomes == ["stopped", "stopped", "stopped", "stopped", "not_needed"]
    assert breaches(world, number) == []


def test_stage_outcome_reads_the_timeline() -> None:
    deadline = T0 + timedelta(hours=2)
    assert stage_outcome("classify", [(T0, "new")], deadline) == "breached"
    assert stage_outcome("classify", [(T0, "escalated")], deadline) == "met"
    assert stage_outcome("classify", [(T0, "new"), (deadline, "acknowledged")], deadline) == "met"
    assert stage_outcome("classify", [(T0, "new"), (deadline + timedelta(seconds=1), "acknowledged")], deadline) == "breached"
    assert stage_outcome("total", [(T0, "new"), (T0 + timedelta(hours=1), "resolved"), (T0 + timedelta(hours=1, minutes=5), "closed")], deadline) == "met"


def test_a_ticket_about_to_breach_is_escalated_an_hour_before_its_resolve_deadline(world: SlaWorld) -> None:
    number = world.file()
    world.watch.plan()
    world.tickets.transition(number, "acknowledged", actor="agent:Priya", now=T0 + timedelta(hours=1))
    world.tickets.transition(number, "in_progress", actor="agent:Priya", now=T0 + timedelta(hours=2))
    due = T0 + timedelta(hours=15)

    assert world.watch.run(number, "escalate", due - timedelta(seconds=1)).done_at is None
    judged = world.watch.run(number, "escalate", due)
    world.watch.run(number, "escalate", due + timedelta(minutes=1))

    assert (judged.outcome, judged.done_at) == ("escalated", due)
    ticket = world.tickets.get(number)
    assert ticket is not None and ticket.status == "escalated"
    assert status_moves(world, number)[-1] == ("in_progress", "escalated", "sla-watch")
    assert sum(1 for move in status_moves(world, number) if move[2] == "sla-watch") == 1
    escalation = world.tickets.events(number)[-1]
    assert escalation.detail["note"] == (
        f"SLA watch: resolve deadline {(T0 + timedelta(hours=16)).strftime('%Y-%m-%d %H:%M')} UTC is 60 min away and the ticket is not resolved"
    )
    [flagged] = world.watch.flagged()
    assert (flagged.ticket_number, flagged.flagged_at, flagged.status) == (number, due, "escalated")


def test_a_resolved_ticket_is_not_escalated_and_an_escalated_one_is_only_flagged(world: SlaWorld) -> None:
    resolved = world.file(sender_id="web:a")
    by_person = world.file(sender_id="web:b", status="escalated")
    world.watch.plan()
    for state, hour in (("acknowledged", 1), ("in_progress", 2), ("resolved", 3)):
        world.tickets.transition(resolved, state, actor="agent:Priya", now=T0 + timedelta(hours=hour))
    due = T0 + timedelta(hours=15)

    assert world.watch.run(resolved, "escalate", due).outcome == "not_needed"
    assert world.watch.run(by_person, "escalate", due).outcome == "escalated"
    assert status_moves(world, by_person) == []
    assert [f.ticket_number for f in world.watch.flagged()] == [by_person]


def test_a_worker_that_died_after_escalating_does_not_escalate_twice(world: SlaWorld) -> None:
    """The move went through but the check was never marked: the next run only marks it."""
    number = world.file()
    world.watch.plan()
    due = T0 + timedelta(hours=15)
    world.tickets.transition(number, "escalated", actor="sla-watch", now=due, note="escalated before a crash")

    judged = world.watch.run(number, "escalate", due + timedelta(minutes=1))

    assert judged.outcome == "escalated"
    assert status_moves(world, number) == [("new", "escalated", "sla-watch")]


def test_two_watchers_judging_the_same_check_at_once_record_one_breach(world: SlaWorld) -> None:
    numbers = [world.file(sender_id=f"web:race-{i}") for i in range(6)]
    world.watch.plan()
    at = T0 + timedelta(days=2)
    engines = [make_engine(world.url) for _ in range(2)]
    watches = [
        SlaWatch(make_sessionmaker(e), TicketStore(make_sessionmaker(e), attempts=5, delay_s=0.05), world.sla) for e in engines
    ]

    def judge_all(watch: SlaWatch) -> list[str]:
        return [watch.run(n, check, at).outcome for n in numbers for check in ("classify", "analyse", "resolve", "total", "escalate")]

    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(judge_all, watches))
    finally:
        for engine in engines:
            engine.dispose()

    assert results[0] == results[1] == ["breached", "breached", "breached", "breached", "escalated"] * 6
    for number in numbers:
        assert sorted(b["stage"] for b in breaches(world, number)) == ["analyse", "classify", "resolve", "total"]
        assert status_moves(world, number) == [("new", "escalated", "sla-watch")]


def test_tickets_filed_before_the_watcher_are_planned_by_the_sweep_and_judged_from_history(world: SlaWorld) -> None:
    old = world.file(opened=T0 - timedelta(days=10))
    world.tickets.transition(old, "acknowledged", actor="agent:Priya", now=T0 - timedelta(days=10) + timedelta(hours=1))

    world.watch.plan()
    overdue = world.watch.overdue(T0)

    assert [c.check for c in overdue] == ["classify", "analyse", "escalate", "resolve", "total"]
    outcomes = [world.watch.run(old, c.check, T0).outcome for c in overdue]
    assert outcomes == ["met", "breached", "escalated", "breached", "breached"]


def test_an_unknown_ticket_or_check_is_refused(world: SlaWorld) -> None:
    with pytest.raises(TicketNotFound):
        world.watch.run("CX-ZZZZZZ", "classify", T0)
    number = world.file()
    with pytest.raises(ValueError, match="unknown SLA check 'lunch'"):
        world.watch.run(number, "lunch", T0)
