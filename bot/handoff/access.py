"""Who may read a handed-over conversation in the console.

**The access rule.** A supervisor may read every hand-off. An agent may read a hand-off's
conversation only while it is ``waiting`` in the agents' queue (so they can decide to take it)
or ``claimed`` by them (claimed, transferred or assigned to them: the row's ``agent`` names
them). Once it is claimed by someone else, moved to the supervisors' queue (nobody claimed it
in time), deferred, handed back or closed, an agent may no longer read it: customers' words
are shown to the people working on them, not to everyone with a sign-in.
"""

from __future__ import annotations

from bot.handoff.store import AGENTS_QUEUE, HandoffRecord


def agent_ref(name: str) -> str:
    """How a console account is named on a hand-off and in a ticket's history: ``agent:<name>``."""
    return f"agent:{name}"


def may_read(record: HandoffRecord, *, name: str, supervisor: bool) -> bool:
    """Whether the account ``name`` (a supervisor or not) may read this hand-off; see the module docstring."""
    if supervisor:
        return True
    return (record.state == "waiting" and record.queue == AGENTS_QUEUE) or (
        record.state == "claimed" and record.agent == agent_ref(name))


def may_act(record: HandoffRecord, *, name: str, supervisor: bool) -> bool:
    """Whether the account may reply to, note, hand back or resolve the hand-off: the same rule as
    reading, as replying to a waiting hand-off claims it first."""
    return may_read(record, name=name, supervisor=supervisor)
