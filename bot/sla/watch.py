"""The SLA watcher: each ticket's stage deadlines judged when they fall, and a supervisor
called in before the resolve deadline is missed.

Every ticket gets five checks in ``sla_checks`` (see :mod:`bot.sla.models`): one per stage
deadline stored on the ticket, and ``escalate`` at ``supervisor_escalation_within_h``
before ``sla_resolve_by``. SQL is the record and the job queue executes it:

1. **Plan.** The sweep writes the checks of every ticket that has none (a new ticket, or
   one filed before the watcher existed); :func:`bot.sla.jobs.watch_ticket` does it at
   once for a ticket just filed.
2. **Queue.** Each open check is an arq job deferred to its due time, whose job id is the
   business key ``sla:<ticket>:<check>``, so arq holds one copy at most.
3. **Judge.** :meth:`SlaWatch.run` decides a due check under the ticket's row lock and
   marks it done in the same transaction that writes a breach into the ticket's history
   (``ticket_events`` kind ``sla_breach``). A check already done is left alone, so a job
   run twice, a job and a sweep, or two workers record a breach exactly once.
4. **Sweep.** Every minute the worker plans new tickets, judges every check already due
   (whatever happened to its job: Redis flushed, a worker killed) and queues the future
   ones again (arq refuses a job id it still holds).

A stage is judged by the ticket's state at the deadline, read from its history: met when
the ticket had reached the stage (see :data:`STAGE_MET`), ``stopped`` when it had been
withdrawn, else breached. Judging from history, not from the state at run time, gives a
late job or the sweep the same answer the job would have given on time.

The escalation moves the ticket to ``escalated`` through
:meth:`bot.tickets.TicketStore.transition` (actor ``sla-watch``, with a note), which puts it
in the supervisors' queue. The hand-off console reads the queue as the open tickets in
``escalated`` and, for the ones the watcher flagged, the ``escalate`` row of ``sla_checks``
with outcome ``escalated`` (``done_at`` is when it was flagged): :meth:`SlaWatch.flagged`.
If a worker dies between the move and marking the check done, the next run finds the
ticket already escalated and only marks the check, so the ticket is escalated once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import write_session
from bot.domain_config import SlaConfig
from bot.errors import InvalidTransition, TicketNotFound
from bot.lifecycle import OPEN_STATES, STATES
from bot.models import Ticket, TicketEvent
from bot.sla.models import CHECKS, ESCALATE, SlaCheckRow
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)

SLA_ACTOR = "sla-watch"
BREACH_EVENT = "sla_breach"
STAGE_MET: Mapping[str, frozenset[str]] = {
    "classify": frozenset(STATES) - {"new", "withdrawn"},
    "analyse": frozenset({"in_progress", "resolved", "closed"}),
    "resolve": frozenset({"resolved", "closed"}),
    "total": frozenset({"resolved", "closed"}),
}
"""States in which a ticket has reached each stage. ``total`` is the answer the customer was
promised (``sla_close_by``, the "resolved by" date the filing message gives), so resolving
meets it: closing waits for the 72-hour follow-up, long after the 24 hours."""
STOPPED_STATE = "withdrawn"
ESCALATION_ATTEMPTS = 4
"""Decide-then-move rounds before giving up (each round re-reads a ticket another process moved)."""

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(timezone.utc)


def check_key(number: str, check: str) -> str:
    """The business key of a check, also its job id: ``sla:<ticket>:<check>``."""
    return f"sla:{number}:{check}"


@dataclass(frozen=True)
class SlaCheck:
    """One check of one ticket, as SQL has it; ``done_at`` is None while it is still to be judged."""

    ticket_number: str
    check: str
    due_at: datetime
    done_at: datetime | None = None
    outcome: str | None = None

    @property
    def key(self) -> str:
        return check_key(self.ticket_number, self.check)


@dataclass(frozen=True)
class FlaggedTicket:
    """A ticket the watcher put in the supervisors' queue, and when."""

    ticket_number: str
    flagged_at: datetime
    status: str
    resolve_by: datetime


def deadlines(ticket: Ticket, escalate_before: timedelta) -> dict[str, datetime]:
    """When each check of ``ticket`` falls due."""
    return {
        "classify": ticket.sla_classify_by,
        "analyse": ticket.sla_analyse_by,
        "resolve": ticket.sla_resolve_by,
        "total": ticket.sla_close_by,
        ESCALATE: ticket.sla_resolve_by - escalate_before,
    }


def state_at(timeline: Sequence[tuple[datetime, str]], moment: datetime) -> str | None:
    """The ticket's status at ``moment`` from its history (oldest first), None before it was filed."""
    state = None
    for at, status in timeline:
        if at <= moment:
            state = status
    return state


def stage_outcome(stage: str, timeline: Sequence[tuple[datetime, str]], deadline: datetime) -> str:
    """``met``, ``stopped`` (withdrawn) or ``breached``, by the ticket's state at ``deadline``."""
    state = state_at(timeline, deadline)
    if state == STOPPED_STATE:
        return "stopped"
    return "met" if state in STAGE_MET[stage] else "breached"


def _aware(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError("the SLA watcher's clock must give timezone-aware datetimes")
    return moment


def _record(row: SlaCheckRow) -> SlaCheck:
    return SlaCheck(row.ticket_number, row.check_name, row.due_at, row.done_at, row.outcome)


class SlaWatch:
    """Plans, judges and escalates; synchronous and short, async callers use ``asyncio.to_thread``."""

    def __init__(self, sessions: sessionmaker, tickets: TicketStore, sla: SlaConfig, *, batch: int = 500) -> None:
        self._sessions = sessions
        self._tickets = tickets
        self._escalate_before = timedelta(hours=sla.supervisor_escalation_within_h)
        self._batch = batch

    def plan(self, number: str | None = None) -> list[SlaCheck]:
        """Write the checks of tickets that have none (only ``number`` if given); the checks written.

        Another process planning the same ticket at the same moment makes this one's
        transaction fail on the unique (ticket, check) pair; it is logged and the checks
        are the other's, so nothing is lost.
        """
        query = select(Ticket).where(~exists().where(SlaCheckRow.ticket_id == Ticket.id))
        if number is not None:
            query = query.where(Ticket.number == number)
        query = query.order_by(Ticket.id).limit(self._batch).with_for_update(skip_locked=True)
        try:
            with write_session(self._sessions) as session:
                planned = [check for ticket in session.scalars(query).all() for check in self.add_checks(session, ticket)]
        except IntegrityError:
            logger.info("SLA checks planned by another process at the same time")
            return []
        if planned:
            logger.info("SLA checks planned", extra={"checks": len(planned)})
        return planned

    def checks(self, number: str) -> list[SlaCheck]:
        """A ticket's checks in the order of :data:`bot.sla.models.CHECKS`; empty before it is planned."""
        with self._sessions() as session:
            rows = session.scalars(select(SlaCheckRow).where(SlaCheckRow.ticket_number == number)).all()
        order = {name: index for index, name in enumerate(CHECKS)}
        return sorted((_record(row) for row in rows), key=lambda check: order[check.check])

    def overdue(self, now: datetime) -> list[SlaCheck]:
        """Checks due at ``now`` and not yet judged, oldest first (at most a batch)."""
        return self._open_checks(SlaCheckRow.due_at <= _aware(now))

    def upcoming(self, now: datetime) -> list[SlaCheck]:
        """Checks due after ``now``, soonest first (at most a batch): the jobs the queue should hold."""
        return self._open_checks(SlaCheckRow.due_at > _aware(now))

    def flagged(self) -> list[FlaggedTicket]:
        """The supervisors' queue as the watcher filled it: open tickets it escalated, most urgent first."""
        query = (
            select(SlaCheckRow.ticket_number, SlaCheckRow.done_at, Ticket.status, Ticket.sla_resolve_by)
            .join(Ticket, Ticket.id == SlaCheckRow.ticket_id)
            .where(
                SlaCheckRow.check_name == ESCALATE,
                SlaCheckRow.outcome == "escalated",
                Ticket.status.in_(sorted(OPEN_STATES)),
            )
            .order_by(Ticket.sla_resolve_by, Ticket.id)
        )
        with self._sessions() as session:
            return [FlaggedTicket(*row) for row in session.execute(query).all()]

    def run(self, number: str, check: str, now: datetime) -> SlaCheck:
        """Judge one check if it is due at ``now``; the check as it stands afterwards.

        A check not yet due is returned undone (the caller waits until ``due_at``); one
        already done is returned as it is. Raises :class:`TicketNotFound` for a ticket
        that no longer exists.
        """
        _aware(now)
        if check not in CHECKS:
            raise ValueError(f"unknown SLA check {check!r}; expected one of {', '.join(CHECKS)}")
        if check == ESCALATE:
            return self._escalate(number, now)
        with write_session(self._sessions) as session:
            ticket, row = self._locked(session, number, check)
            if row.done_at is not None or now < row.due_at:
                return _record(row)
            timeline = self._timeline(session, ticket.id)
            outcome = stage_outcome(check, timeline, row.due_at)
            if outcome == "breached":
                detail = {
                    "stage": check,
                    "deadline": row.due_at.isoformat(),
                    "status_at_deadline": state_at(timeline, row.due_at),
                    "actor": SLA_ACTOR,
                }
                session.add(TicketEvent(ticket_id=ticket.id, kind=BREACH_EVENT, at=now, detail=detail))
            row.done_at, row.outcome = now, outcome
            session.flush()
            judged = _record(row)
        log = {"ticket_number": number, "check": check, "outcome": outcome, "late_s": round((now - judged.due_at).total_seconds(), 3)}
        (logger.warning if outcome == "breached" else logger.info)("SLA check judged", extra=log)
        return judged

    def _escalate(self, number: str, now: datetime) -> SlaCheck:
        """Flag a ticket near its resolve deadline: move it to ``escalated`` unless it is there or finished."""
        for _ in range(ESCALATION_ATTEMPTS):
            settled = self._settle_escalation(number, now)
            if settled is not None:
                return settled
            check = next(c for c in self.checks(number) if c.check == ESCALATE)
            resolve_by = check.due_at + self._escalate_before
            minutes = max(int((resolve_by - now).total_seconds() // 60), 0)
            note = (
                f"SLA watch: resolve deadline {resolve_by.strftime('%Y-%m-%d %H:%M')} UTC "
                f"is {minutes} min away and the ticket is not resolved"
            )
            try:
                self._tickets.transition(number, "escalated", actor=SLA_ACTOR, now=now, note=note)
            except InvalidTransition:
                logger.info("ticket moved while being escalated; deciding again", extra={"ticket_number": number})
                continue
            logger.warning("ticket escalated before its resolve deadline", extra={"ticket_number": number, "minutes_left": minutes})
        raise RuntimeError(f"{number}: escalation still undecided after {ESCALATION_ATTEMPTS} rounds")

    def _settle_escalation(self, number: str, now: datetime) -> SlaCheck | None:
        """Mark the escalation done when nothing (more) is to be moved; None when the ticket must be moved first."""
        with write_session(self._sessions) as session:
            ticket, row = self._locked(session, number, ESCALATE)
            if row.done_at is not None or now < row.due_at:
                return _record(row)
            if ticket.status not in OPEN_STATES:
                outcome = "not_needed"
            elif ticket.status == "escalated":
                outcome = "escalated"
            else:
                return None
            row.done_at, row.outcome = now, outcome
            session.flush()
            return _record(row)

    def _locked(self, session: Session, number: str, check: str) -> tuple[Ticket, SlaCheckRow]:
        """The ticket and its check, both row-locked (planned now if the sweep has not yet)."""
        ticket = session.scalars(select(Ticket).where(Ticket.number == number).with_for_update()).one_or_none()
        if ticket is None:
            raise TicketNotFound(number)
        query = select(SlaCheckRow).where(SlaCheckRow.ticket_id == ticket.id, SlaCheckRow.check_name == check)
        row = session.scalars(query.with_for_update()).one_or_none()
        if row is None:
            self.add_checks(session, ticket)
            row = session.scalars(query).one()
        return ticket, row

    def add_checks(self, session: Session, ticket: Ticket) -> list[SlaCheck]:
        """Write ``ticket``'s checks in the caller's transaction (the filing's own, or a plan's)."""
        rows = [
            SlaCheckRow(ticket_id=ticket.id, ticket_number=ticket.number, check_name=name, due_at=due)
            for name, due in deadlines(ticket, self._escalate_before).items()
        ]
        session.add_all(rows)
        session.flush()
        return [_record(row) for row in rows]

    @staticmethod
    def _timeline(session: Session, ticket_id: int) -> list[tuple[datetime, str]]:
        """(time, status) of every filing and status change, in the order they happened."""
        events = session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind.in_(("created", "status")))
            .order_by(TicketEvent.id)
        ).all()
        return [(e.at, e.detail["status"] if e.kind == "created" else e.detail["to"]) for e in events]

    def _open_checks(self, condition: object) -> list[SlaCheck]:
        query = (
            select(SlaCheckRow)
            .where(SlaCheckRow.done_at.is_(None), condition)
            .order_by(SlaCheckRow.due_at, SlaCheckRow.id)
            .limit(self._batch)
        )
        with self._sessions() as session:
            return [_record(row) for row in session.scalars(query).all()]

