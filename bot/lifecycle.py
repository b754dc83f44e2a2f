"""A ticket's lifecycle as data: its states, the moves between them and who may be named as making one.

The states follow ISO 10002's handling steps: a complaint is received (``new``), its
receipt is acknowledged (``acknowledged``), it is investigated (``in_progress``), answered
(``resolved``) and closed once the customer accepts the answer or the follow-up ends
(``closed``). A customer who does not accept the answer reopens it (``reopened``, from
resolved or closed) and it is investigated again. Any open ticket can go to a supervisor
(``escalated``) or be withdrawn by the customer (``withdrawn``, final).

This module only decides; :meth:`bot.tickets.TicketStore.transition` applies a move
under a row lock and records it in the ticket's history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.errors import InvalidTransition

STATES = ("new", "acknowledged", "in_progress", "resolved", "closed", "reopened", "escalated", "withdrawn")
"""Every status a ticket can have, in the order of a ticket's usual life."""

INITIAL_STATES = frozenset({"new", "escalated", "withdrawn"})
"""Where filing may start a ticket: ``escalated`` when the customer asked for a person at once,
``withdrawn`` to keep the words of a customer who stopped half-way on record."""

LEGACY_STATES: Mapping[str, str] = {"open": "new"}
"""Names older code and spooled drafts may still use, and the state each now means
(migration 0004 renamed the stored rows)."""

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"acknowledged", "escalated", "withdrawn"}),
    "acknowledged": frozenset({"in_progress", "escalated", "withdrawn"}),
    "in_progress": frozenset({"resolved", "escalated", "withdrawn"}),
    "escalated": frozenset({"in_progress", "resolved", "withdrawn"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"in_progress", "escalated", "withdrawn"}),
    "withdrawn": frozenset(),
}
"""Where each state may go. Withdrawn is final; a closed ticket only reopens."""

OPEN_STATES = frozenset(STATES) - {"resolved", "closed", "withdrawn"}
"""States in which the team still owes the customer an answer (the SLA clock runs)."""

ACTORS = ("bot", "system", "customer", "sla-watch")
"""Who may be named as making a change; ``sla-watch`` is the SLA watcher (bot/sla), which
escalates a ticket about to breach its resolve deadline. A person is ``agent:<name>``."""
_AGENT = re.compile(r"agent:\S.{0,99}\Z", re.DOTALL)


def canonical_state(state: str) -> str:
    """``state`` under its current name (a legacy name translated), unchanged if it is not legacy."""
    return LEGACY_STATES.get(state, state)


def legal_targets(state: str) -> tuple[str, ...]:
    """The states ``state`` may move to, in :data:`STATES` order."""
    if state not in TRANSITIONS:
        raise InvalidTransition(f"{state!r} is not a ticket status; expected one of {', '.join(STATES)}")
    return tuple(s for s in STATES if s in TRANSITIONS[state])


def check_transition(number: str, current: str, target: str) -> None:
    """Raise :class:`InvalidTransition` naming the ticket, both states and the legal targets unless the move is legal."""
    if target not in TRANSITIONS:
        raise InvalidTransition(f"{target!r} is not a ticket status; expected one of {', '.join(STATES)}")
    targets = legal_targets(current)
    if target not in targets:
        allowed = ", ".join(targets) if targets else "none, it is final"
        raise InvalidTransition(f"{number} cannot go from {current!r} to {target!r}; from {current!r} it may go to: {allowed}")


def check_initial(state: str) -> str:
    """The state a new ticket starts in (a legacy name translated), or :class:`InvalidTransition`."""
    state = canonical_state(state)
    if state not in INITIAL_STATES:
        raise InvalidTransition(
            f"a ticket cannot start as {state!r}; it may start as: {', '.join(s for s in STATES if s in INITIAL_STATES)}"
        )
    return state


def check_actor(actor: str) -> str:
    """``actor`` if it names who made a change (one of :data:`ACTORS` or "agent:<name>"), else ValueError.

    The history is an audit trail: an unnamed or free-form actor would make it unreadable later.
    """
    if actor in ACTORS or _AGENT.match(actor):
        return actor
    raise ValueError(f"actor must be one of {', '.join(ACTORS)} or 'agent:<name>', not {actor!r}")
