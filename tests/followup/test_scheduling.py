"""A resolution schedules its follow-up in the same transaction; reopening, closing and withdrawing cancel it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.db import make_engine, make_sessionmaker
from bot.errors import InvalidTransition
from bot.followup.store import FollowupRow
from bot.tickets import TicketStore
from tests.followup.support import START, Case, file_ticket, resolve


def test_resolving_a_ticket_schedules_its_survey_72_hours_later(case: Case) -> None:
    ticket = file_ticket(case.tickets, START)
    resolve(case.tickets, ticket.number, START)

    followup = case.followups.for_ticket(ticket.number)
    assert followup is not None
    assert followup.key == f"followup:{ticket.number}:72h"
    assert (followup.state, followup.step, followup.attempts) == ("scheduled", "survey", 0)
    assert followup.survey_due_at == followup.due_at == START + timedelta(hours=72)
    assert (followup.conversation.channel, followup.conversation.address) == ("webchat", "session-a")
    assert (followup.sender_id, followup.time_zone, followup.resolved_at) == ("web:session-a", "Europe/London", START)


def test_a_resolution_late_in_the_evening_is_surveyed_after_the_quiet_hours(case: Case) -> None:
    evening = datetime(2026, 6, 1, 21, 30, tzinfo=timezone.utc)
    ticket = file_ticket(case.tickets, evening)
    resolve(case.tickets, ticket.number, evening)
    assert case.followups.for_ticket(ticket.number).due_at == datetime(2026, 6, 5, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("to", ["reopened", "closed"])
def test_reopening_or_closing_before_the_survey_cancels_it(case: Case, to: str) -> None:
    ticket = file_ticket(case.tickets, START)
    resolve(case.tickets, ticket.number, START)
    case.tickets.transition(ticket.number, to, actor="agent:Priya", now=START + timedelta(hours=5))

    followup = case.followups.for_ticket(ticket.number)
    assert (followup.state, followup.cancel_reason) == ("cancelled", to)
    assert followup.finished_at == START + timedelta(hours=5)
    assert followup.step is None


def test_a_reopened_ticket_resolved_again_is_surveyed_after_the_new_resolution(case: Case) -> None:
    ticket = file_ticket(case.tickets, START)
    resolve(case.tickets, ticket.number, START)
    later = START + timedelta(hours=8)
    case.tickets.transition(ticket.number, "reopened", actor="customer", now=later)
    case.tickets.transition(ticket.number, "in_progress", actor="agent:Priya", now=later)
    case.tickets.transition(ticket.number, "resolved", actor="agent:Priya", now=later)

    followup = case.followups.for_ticket(ticket.number)
    assert (followup.state, followup.cancel_reason, followup.resolved_at) == ("scheduled", None, later)
    assert followup.due_at == later + timedelta(hours=72)


def test_a_withdrawn_ticket_gets_no_survey(case: Case) -> None:
    ticket = file_ticket(case.tickets, START)
    case.tickets.transition(ticket.number, "withdrawn", actor="customer", now=START)
    assert case.followups.for_ticket(ticket.number) is None


def test_a_conversation_that_cannot_be_pushed_to_gets_no_survey(case: Case) -> None:
    ticket = file_ticket(case.tickets, START, sender_id="backend-7", channel="rest")
    resolve(case.tickets, ticket.number, START)
    assert case.followups.for_ticket(ticket.number) is None


def test_the_follow_up_is_written_in_the_tickets_transaction(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the follow-up cannot be written, the resolution is not written either: it can never be lost."""
    ticket = file_ticket(case.tickets, START)
    for state in ("acknowledged", "in_progress"):
        case.tickets.transition(ticket.number, state, actor="agent:Priya", now=START)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the follow-up table is unwritable")

    monkeypatch.setattr("bot.tickets.on_ticket_status", broken)
    with pytest.raises(RuntimeError, match="unwritable"):
        case.tickets.transition(ticket.number, "resolved", actor="agent:Priya", now=START)
    assert case.tickets.get(ticket.number).status == "in_progress"
    assert [e.detail["to"] for e in case.tickets.events(ticket.number) if e.kind == "status"] == ["acknowledged", "in_progress"]


def test_an_illegal_move_schedules_nothing(case: Case) -> None:
    ticket = file_ticket(case.tickets, START)
    with pytest.raises(InvalidTransition):
        case.tickets.transition(ticket.number, "resolved", actor="agent:Priya", now=START)
    assert case.followups.for_ticket(ticket.number) is None


def test_raising_the_priority_with_a_move_is_recorded_in_the_history(case: Case) -> None:
    ticket = file_ticket(case.tickets, START)
    resolve(case.tickets, ticket.number, START)
    record = case.tickets.transition(ticket.number, "reopened", actor="customer", now=START, note="survey", more_urgent=True)
    assert (record.status, record.priority) == ("reopened", "P2")
    last = case.tickets.events(ticket.number)[-1].detail
    assert last == {"from": "resolved", "to": "reopened", "actor": "customer", "note": "survey", "priority_raised_from": "P3"}


def test_without_a_policy_the_store_reads_the_configured_one(case: Case) -> None:
    store = TicketStore(make_sessionmaker(make_engine(case.url)), attempts=1, delay_s=0.0)
    ticket = file_ticket(store, START)
    resolve(store, ticket.number, START)
    with make_sessionmaker(make_engine(case.url))() as session:
        keys = session.scalars(select(FollowupRow.key)).all()
    assert keys == [f"followup:{ticket.number}:72h"]
