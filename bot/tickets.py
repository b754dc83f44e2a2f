"""The ticket store: file complaints, look them up, move them through their statuses.

Callers get frozen records, never ORM objects, so nothing outside this module can
lazy-load or write by accident. Every method is synchronous and short; actions call
it through ``asyncio.to_thread``. A database that does not answer is retried with
exponential back-off and then reported as :class:`TicketStoreUnavailable`, so the
caller can spool the complaint instead of losing it.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, or_, orm, select

from bot.db import write_session
from bot.domain_config import PRIORITIES, SlaConfig
from bot.errors import TicketNotFound, TicketStoreUnavailable
from bot.followup.policy import FollowupPolicy, followup_policy
from bot.followup.store import on_ticket_status
from bot.lifecycle import check_actor, check_initial, check_transition
from bot.models import Ticket, TicketEvent
from bot.ticket_numbers import new_ticket_number, normalise_ticket_number
from bot.triage import sla_deadlines

logger = logging.getLogger(__name__)

T = TypeVar("T")

REPEAT_WINDOW_DAYS = 30
"""A new complaint from the same customer (same sender id or same contact) counts as a repeat
of their latest earlier ticket filed within this many days, or of any earlier ticket about the
same order reference, however old. Proposed as ``repeat_window_days`` in settings/sla.yml."""

NUMBER_DRAWS = 20
"""Fresh numbers tried before giving up; a clash is one in a billion, twenty in a row is a bug."""


@dataclass(frozen=True, kw_only=True)
class TicketDraft:
    """Everything a new ticket records, as the intake collected and triaged it.

    Datetimes must be timezone-aware. Optional 5W1H details are None when never
    given; ``unknown``/``none`` answers are kept as the customer gave them.
    ``customer_timezone`` is the IANA zone the customer's channel reported, else the one
    their phone number lies in (None: neither told; the defaults apply); the satisfaction
    survey keeps to quiet hours in it.
    """

    channel: str
    sender_id: str
    narrative: str
    category: str
    severity: str
    priority: str
    sla_classify_by: datetime
    sla_analyse_by: datetime
    sla_resolve_by: datetime
    sla_close_by: datetime
    status: str = "new"
    language: str = "en"
    customer_type: str = "unknown"
    customer_name: str | None = None
    contact: str | None = None
    contact_kind: str | None = None
    complaint_product: str | None = None
    problem_description: str | None = None
    incident_date: date | None = None
    incident_date_text: str | None = None
    incident_location: str | None = None
    order_ref: str | None = None
    people_involved: str | None = None
    impact: str | None = None
    desired_outcome: str | None = None
    desired_outcome_kind: str | None = None
    category_confidence: float = 0.0
    emotion_score: float = 0.0
    chosen_option: str | None = None
    offered_options: list[str] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    customer_timezone: str | None = None


@dataclass(frozen=True, kw_only=True)
class TicketRecord(TicketDraft):
    """A filed ticket: its draft (with the current status) plus its number and lifecycle times.

    ``repeat_of`` is the number of the earlier ticket this one repeats (see :data:`REPEAT_WINDOW_DAYS`);
    its ``priority`` is then already one step above the draft's.
    """

    number: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    repeat_of: str | None = None


@dataclass(frozen=True, kw_only=True)
class TicketEventRecord:
    """One entry of a ticket's history; ``id`` orders it and names it in keys (``status:<ticket>:<id>``)."""

    kind: str
    at: datetime
    detail: dict[str, Any]
    id: int | None = None


@dataclass(frozen=True, kw_only=True)
class TicketFilter:
    """What :meth:`TicketStore.search` selects on; None leaves a field unfiltered.

    ``created_from`` is inclusive, ``created_to`` exclusive, both timezone-aware.
    """

    status: str | None = None
    category: str | None = None
    channel: str | None = None
    priority: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def conditions(self) -> list[Any]:
        _require_aware(created_from=self.created_from, created_to=self.created_to)
        conditions: list[Any] = [
            getattr(Ticket, name) == getattr(self, name)
            for name in ("status", "category", "channel", "priority")
            if getattr(self, name) is not None
        ]
        if self.created_from is not None:
            conditions.append(Ticket.created_at >= self.created_from)
        if self.created_to is not None:
            conditions.append(Ticket.created_at < self.created_to)
        return conditions


_DRAFT_FIELDS = tuple(f.name for f in fields(TicketDraft))
_RECORD_FIELDS = tuple(f.name for f in fields(TicketRecord))


class TicketStore:
    """Tickets in SQL, behind retries; see the module docstring."""

    def __init__(
        self,
        sessionmaker: orm.sessionmaker,
        *,
        attempts: int,
        delay_s: float,
        sla: SlaConfig | None = None,
        repeat_window: timedelta = timedelta(days=REPEAT_WINDOW_DAYS),
        followups: FollowupPolicy | None = None,
    ) -> None:
        """``sla`` recomputes the deadlines of a repeat whose priority was raised; without it they stay the draft's.
        ``followups`` times the satisfaction survey; without it the configured policy is read on first use."""
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._sessions = sessionmaker
        self._attempts = attempts
        self._delay_s = delay_s
        self._sla = sla
        self._repeat_window = repeat_window
        self._followups = followups

    def create(
        self,
        draft: TicketDraft,
        now: datetime,
        *,
        number: str | None = None,
        within: Callable[[orm.Session, Ticket], object] | None = None,
    ) -> TicketRecord:
        """File ``draft`` at time ``now`` under a new unique number, or under ``number`` if given.

        ``within`` is called with the new ticket's row inside the filing's transaction, for
        records that must exist exactly when the ticket does (its SLA checks): one commit
        instead of two, and no ticket without them.

        A pre-assigned number (from the spool) is kept unless another ticket holds it;
        filing the same draft at the same ``now`` twice returns the first ticket, so a
        replay or a retry after a lost commit acknowledgement never duplicates it.

        A repeat complaint (see :data:`REPEAT_WINDOW_DAYS`) is linked to the earlier ticket
        and filed one priority step higher. The legacy status "open" (spooled drafts) files as "new".
        """
        draft = replace(draft, status=check_initial(draft.status))
        _require_aware(now=now, **{name: getattr(draft, name) for name in _DRAFT_FIELDS})
        requested = None
        if number is not None:
            requested = normalise_ticket_number(number)
            if requested is None:
                raise ValueError(f"{number!r} is not a ticket number")
        candidate = requested or new_ticket_number()

        def attempt() -> TicketRecord:
            nonlocal candidate
            for _ in range(NUMBER_DRAWS):
                try:
                    return self._insert(draft, now, candidate, requested, within)
                except sa_exc.IntegrityError as error:
                    if not _is_number_clash(error):
                        raise
                existing = self._find(candidate)
                if existing is not None and _same_filing(existing, draft, now):
                    logger.info("ticket already filed", extra={"ticket_number": candidate})
                    return existing
                if candidate == requested:
                    logger.warning(
                        "pre-assigned ticket number belongs to another ticket; filing under a new one",
                        extra={"ticket_number": candidate},
                    )
                else:
                    logger.info("ticket number taken; drawing another", extra={"ticket_number": candidate})
                candidate = new_ticket_number()
            raise RuntimeError(f"no free ticket number after {NUMBER_DRAWS} draws")

        return self._retrying("create", attempt)

    def get(self, number: str) -> TicketRecord | None:
        """The ticket with this number as a customer might type it, or None."""
        canonical = normalise_ticket_number(number)
        if canonical is None:
            return None
        return self._retrying("get", lambda: self._find(canonical))

    def find_by_sender(self, channel: str, sender_id: str) -> list[TicketRecord]:
        """Every ticket this customer filed on this channel, oldest first."""

        def query() -> list[TicketRecord]:
            with self._sessions() as session:
                rows = session.scalars(
                    select(Ticket)
                    .where(Ticket.channel == channel, Ticket.sender_id == sender_id)
                    .order_by(Ticket.created_at, Ticket.id)
                ).all()
                return [_record(row) for row in rows]

        return self._retrying("find_by_sender", query)

    def transition(
        self, number: str, to: str, *, actor: str, now: datetime, note: str | None = None,
        more_urgent: bool = False,
    ) -> TicketRecord:
        """Move a ticket to ``to`` if the lifecycle allows it from its current state, and record the move.

        One transaction holding the ticket's row lock (``SELECT ... FOR UPDATE`` on PostgreSQL,
        the write lock from ``BEGIN IMMEDIATE`` on SQLite), so two moves from the same state
        cannot both apply: the second sees the first's result and is refused if no longer legal.
        ``resolved`` sets ``resolved_at``; ``reopened`` clears it. The history entry (kind
        "status") records from, to, actor, note and ``now``. ``more_urgent`` raises the priority one
        step in the same change (a customer unhappy with the resolution), recorded in the entry.
        The ticket's satisfaction follow-up is scheduled or cancelled in the same transaction
        (:func:`bot.followup.store.on_ticket_status`), so a resolution never loses its survey.
        """
        canonical = normalise_ticket_number(number)
        if canonical is None:
            raise TicketNotFound(number)
        check_actor(actor)
        _require_aware(now=now)

        def change() -> TicketRecord:
            with write_session(self._sessions) as session:
                ticket = session.scalars(
                    select(Ticket).where(Ticket.number == canonical).with_for_update()
                ).one_or_none()
                if ticket is None:
                    raise TicketNotFound(canonical)
                previous = ticket.status
                check_transition(canonical, previous, to)
                ticket.status = to
                ticket.updated_at = now
                if to == "resolved":
                    ticket.resolved_at = now
                elif to == "reopened":
                    ticket.resolved_at = None  # the earlier resolution did not hold
                detail = {"from": previous, "to": to, "actor": actor, "note": note}
                if more_urgent:
                    detail["priority_raised_from"] = ticket.priority
                    ticket.priority = raise_priority(ticket.priority)
                session.add(TicketEvent(ticket_id=ticket.id, kind="status", at=now, detail=detail))
                self._follow_up(session, ticket, to, now)
                session.flush()
                record = _record(ticket)
            logger.info(
                "ticket status changed",
                extra={"ticket_number": canonical, "from": previous, "to": to, "actor": actor},
            )
            return record

        return self._retrying("transition", change)

    def _follow_up(self, session: orm.Session, ticket: Ticket, to: str, now: datetime) -> None:
        """Schedule or cancel the ticket's satisfaction follow-up for this move, in this transaction."""
        on_ticket_status(
            session, ticket_number=ticket.number, sender_id=ticket.sender_id, to=to, now=now,
            policy=self._followups or followup_policy(), time_zone=ticket.customer_timezone,
        )

    def append_transcript(self, number: str, lines: list[dict[str, Any]]) -> int:
        """Add conversation lines (``sender``, ``text``, ``timestamp``, ...) to a ticket's transcript;
        how many were new.

        For what is said after filing: a hand-off, messages the customer writes while waiting
        for a person. A line already there (same sender, text and time) is not added again, so
        a retried append never doubles a message. The transcript stays in the order things were
        said: a line said earlier than lines already kept (the assistant's words on handing over,
        added when the conversation is handed over again) goes in its place. Under the ticket's
        row lock, so two appends cannot lose each other's lines.
        """
        canonical = normalise_ticket_number(number)
        if canonical is None:
            raise TicketNotFound(number)

        def append() -> int:
            with write_session(self._sessions) as session:
                ticket = session.scalars(select(Ticket).where(Ticket.number == canonical).with_for_update()).one_or_none()
                if ticket is None:
                    raise TicketNotFound(canonical)
                seen = {_line_key(line) for line in ticket.transcript}
                new = [copy.deepcopy(line) for line in lines if _line_key(line) not in seen]
                if new:
                    ticket.transcript = _in_time_order([*ticket.transcript, *new])
                return len(new)

        return self._retrying("append_transcript", append)

    def events(self, number: str) -> list[TicketEventRecord]:
        """A ticket's history, oldest first."""
        canonical = normalise_ticket_number(number)
        if canonical is None:
            raise TicketNotFound(number)

        def query() -> list[TicketEventRecord]:
            with self._sessions() as session:
                ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == canonical))
                if ticket_id is None:
                    raise TicketNotFound(canonical)
                rows = session.scalars(
                    select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
                ).all()
                return [TicketEventRecord(kind=row.kind, at=row.at, detail=row.detail, id=row.id) for row in rows]

        return self._retrying("events", query)

    def search(self, filters: TicketFilter, *, limit: int, offset: int = 0) -> tuple[list[TicketRecord], int]:
        """A page of the tickets matching ``filters``, newest first, and how many match in all.

        For the ticket API and the agent console; every filter is optional and they combine with AND.
        """

        def query() -> tuple[list[TicketRecord], int]:
            conditions = filters.conditions()
            with self._sessions() as session:
                total = session.scalar(select(func.count()).select_from(Ticket).where(*conditions))
                rows = session.scalars(
                    select(Ticket).where(*conditions).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset)
                ).all()
                return [_record(row) for row in rows], int(total or 0)

        return self._retrying("search", query)

    def _insert(
        self,
        draft: TicketDraft,
        now: datetime,
        number: str,
        requested: str | None,
        within: Callable[[orm.Session, Ticket], object] | None,
    ) -> TicketRecord:
        detail: dict[str, Any] = {"status": draft.status}
        if requested is not None and requested != number:
            detail["requested_number"] = requested
        with write_session(self._sessions) as session:
            earlier = self._earlier_ticket(session, draft, now)
            values = {name: copy.deepcopy(getattr(draft, name)) for name in _DRAFT_FIELDS}
            if earlier is not None:
                values.update(self._repeat_values(draft, now))
                detail.update(repeat_of=earlier, priority_raised_from=draft.priority)
            ticket = Ticket(number=number, created_at=now, updated_at=now, repeat_of=earlier, **values)
            session.add(ticket)
            session.flush()
            session.add(TicketEvent(ticket_id=ticket.id, kind="created", at=now, detail=detail))
            session.flush()
            if within is not None:
                within(session, ticket)
            record = _record(ticket)
        logger.info(
            "ticket created",
            extra={
                "ticket_number": number,
                "status": draft.status,
                "category": draft.category,
                "requested_number": requested,
                "repeat_of": record.repeat_of,
            },
        )
        return record

    def _earlier_ticket(self, session: orm.Session, draft: TicketDraft, now: datetime) -> str | None:
        """The number of the ticket ``draft`` repeats: the customer's latest about the same order,
        else their latest filed within the repeat window; None for a first complaint."""
        same_customer = [Ticket.sender_id == draft.sender_id]
        contact = _comparable(draft.contact)
        if contact is not None:
            same_customer.append(func.lower(func.trim(Ticket.contact)) == contact)
        rows = session.execute(
            select(Ticket.number, Ticket.order_ref, Ticket.contact, Ticket.created_at)
            .where(or_(*same_customer), Ticket.created_at <= now)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        ).all()
        order = _comparable(draft.order_ref)
        if order is not None:
            for row in rows:
                if _comparable(row.order_ref) == order:
                    return row.number
        for row in rows:
            if row.created_at >= now - self._repeat_window:
                return row.number
        return None

    def _repeat_values(self, draft: TicketDraft, now: datetime) -> dict[str, Any]:
        """A repeat's priority one step up (P1 stays P1) and, with an SLA config, the deadlines that go with it."""
        priority = raise_priority(draft.priority)
        values: dict[str, Any] = {"priority": priority}
        if self._sla is not None and priority != draft.priority:
            deadlines = sla_deadlines(priority, now, self._sla)
            values.update(
                sla_classify_by=deadlines.classify_by,
                sla_analyse_by=deadlines.analyse_by,
                sla_resolve_by=deadlines.resolve_by,
                sla_close_by=deadlines.close_by,
            )
        return values

    def _find(self, number: str) -> TicketRecord | None:
        with self._sessions() as session:
            ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one_or_none()
            return None if ticket is None else _record(ticket)

    def _retrying(self, operation: str, call: Callable[[], T]) -> T:
        """Run ``call``, retrying while the database is unreachable or busy, doubling the wait."""
        attempt = 1
        while True:
            try:
                return call()
            except (sa_exc.DBAPIError, sa_exc.TimeoutError) as error:
                if not _is_transient(error):
                    raise
                if attempt >= self._attempts:
                    logger.error(
                        "ticket store unavailable",
                        extra={"operation": operation, "attempts": attempt, "error": type(error).__name__},
                    )
                    raise TicketStoreUnavailable(f"{operation} failed after {attempt} attempts") from error
                delay = self._delay_s * 2 ** (attempt - 1)
                logger.warning(
                    "ticket store did not answer; retrying",
                    extra={"operation": operation, "attempt": attempt, "delay_s": delay, "error": type(error).__name__},
                )
                time.sleep(delay)
                attempt += 1


def raise_priority(priority: str) -> str:
    """One step more urgent (P4→P3→P2→P1); P1 is already the most urgent."""
    index = PRIORITIES.index(priority)
    return PRIORITIES[max(index - 1, 0)]


def _comparable(value: str | None) -> str | None:
    """A detail as compared between tickets; None when it identifies nothing (missing, a placeholder, unparsed)."""
    if value is None:
        return None
    value = value.strip().lower()
    if not value or value in ("unknown", "none") or value.startswith("[unparsed]"):
        return None
    return value


def _record(ticket: Ticket) -> TicketRecord:
    """A detached copy of the row, every moment in UTC as the store keeps it."""
    values = {name: getattr(ticket, name) for name in _RECORD_FIELDS}
    return TicketRecord(
        **{
            name: value.astimezone(timezone.utc) if isinstance(value, datetime) else value
            for name, value in values.items()
        }
    )


def _in_time_order(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transcript lines by their time, lines of the same instant in the order given; unchanged
    when a line has no readable, zone-aware time (nothing to order it by)."""
    try:
        times = [datetime.fromisoformat(line["timestamp"]) for line in lines]
        if any(moment.utcoffset() is None for moment in times):
            return lines
        order = sorted(range(len(lines)), key=times.__getitem__)
    except (KeyError, TypeError, ValueError):
        return lines
    return [lines[index] for index in order]


def _line_key(line: dict[str, Any]) -> tuple[Any, Any, Any]:
    """What makes a transcript line the same line: who said what, when."""
    return line.get("sender"), line.get("text"), line.get("timestamp")


def _require_aware(**values: Any) -> None:
    """Refuse naive datetimes up front: nobody could tell later which clock they were read from."""
    for name, value in values.items():
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime")


def _same_filing(existing: TicketRecord, draft: TicketDraft, now: datetime) -> bool:
    """Whether a stored ticket is this very draft filed before (same sender, time and words)."""
    return (
        existing.channel == draft.channel
        and existing.sender_id == draft.sender_id
        and existing.narrative == draft.narrative
        and existing.created_at == now
    )


def _is_number_clash(error: sa_exc.IntegrityError) -> bool:
    message = str(error.orig)
    return "uq_tickets_number" in message or "tickets.number" in message


def _is_transient(error: Exception) -> bool:
    """Connection loss, refusal, timeouts and SQLite's "database is locked" pass; a bad query does not."""
    if isinstance(error, (sa_exc.OperationalError, sa_exc.TimeoutError)):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated
