"""The console's access rule (bot/handoff/access.py), state by state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.handoff.access import may_read
from bot.handoff.store import HandoffRecord
from tests.handoff.conftest import MONDAY_NOON

WAITING = HandoffRecord(id=1, ticket_number="CX-AAAAAA", channel="webchat", sender_id="web:a", reasons=[],
                        priority="P3", state="waiting", agent=None, wait_estimate_s=None, created_at=MONDAY_NOON,
                        claimed_at=None, ended_at=None)


@pytest.mark.parametrize(("state", "agent", "queue", "alex", "bea", "supervisor"), [
    ("waiting", None, "agents", True, True, True),
    ("waiting", None, "supervisors", False, False, True),
    ("claimed", "agent:alex", "agents", True, False, True),
    ("claimed", "agent:alex", "supervisors", True, False, True),
    ("deferred", None, "agents", False, False, True),
    ("returned", "agent:alex", "agents", False, False, True),
    ("closed", "agent:alex", "agents", False, False, True),
])
def test_agents_read_waiting_in_their_queue_or_their_own_and_supervisors_read_all(
    state: str, agent: str | None, queue: str, alex: bool, bea: bool, supervisor: bool,
) -> None:
    """A conversation nobody claimed in time waits in the supervisors' queue: no agent reads it there;
    one a supervisor then gave to alex is alex's."""
    record = replace(WAITING, state=state, agent=agent, queue=queue)
    assert may_read(record, name="alex", supervisor=False) is alex
    assert may_read(record, name="bea", supervisor=False) is bea
    assert may_read(record, name="sam", supervisor=True) is supervisor
