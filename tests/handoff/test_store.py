"""The hand-off queue and the ticket transcript on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.db import make_sessionmaker
from bot.domain_config import SlaConfig
from bot.handoff.store import TO_SUPERVISORS_EVENT, HandoffRecord, HandoffRequest, HandoffStore, HandoffTaken
from bot.tickets import TicketStore
from tests.handoff.conftest import MONDAY_NOON, file_ticket

REASONS = [{"rule": "legal_threat", "evidence": "will sue"}]


def request(ticket: str, sender: str = "web:alice", priority: str = "P3", channel: str = "webchat") -> HandoffRequest:
    return HandoffRequest(ticket_number=ticket, channel=channel, sender_id=sender, reasons=REASONS, priority=priority)


def test_a_hand_off_is_recorded_with_every_field(handoff_store: HandoffStore) -> None:
    record = handoff_store.open(request("CX-AAAAAA"), state="waiting", now=MONDAY_NOON, wait_estimate_s=300)
    assert record == HandoffRecord(
        id=record.id, ticket_number="CX-AAAAAA", channel="webchat", sender_id="web:alice", reasons=REASONS,
        priority="P3", state="waiting", agent=None, wait_estimate_s=300, created_at=MONDAY_NOON, claimed_at=None,
        ended_at=None,
    )
    assert record.rule_ids == ["legal_threat"]
    assert handoff_store.get(record.id) == record
    assert handoff_store.live_for_sender("web:alice") == record


def test_a_conversation_is_queued_once_while_its_hand_off_is_live(handoff_store: HandoffStore) -> None:
    first = handoff_store.open(request("CX-AAAAAA"), state="waiting", now=MONDAY_NOON)
    again = handoff_store.open(request("CX-BBBBBB", priority="P1"), state="waiting", now=MONDAY_NOON + timedelta(minutes=1))
    assert again == first
    assert [r.id for r in handoff_store.queue()] == [first.id]
    ended = handoff_store.end(first.id, state="returned", now=MONDAY_NOON + timedelta(minutes=5))
    assert (ended.state, ended.ended_at) == ("returned", MONDAY_NOON + timedelta(minutes=5))
    assert handoff_store.live_for_sender("web:alice") is None
    later = handoff_store.open(request("CX-BBBBBB"), state="waiting", now=MONDAY_NOON + timedelta(minutes=6))
    assert later.id != first.id and later.ticket_number == "CX-BBBBBB"
    with pytest.raises(HandoffTaken, match="is returned, not waiting or claimed or deferred"):
        handoff_store.end(first.id, state="closed", now=MONDAY_NOON + timedelta(minutes=7))


def test_a_deferred_hand_off_does_not_hold_the_conversation(handoff_store: HandoffStore) -> None:
    deferred = handoff_store.open(request("CX-AAAAAA"), state="deferred", now=MONDAY_NOON)
    assert deferred.state == "deferred" and handoff_store.live_for_sender("web:alice") is None
    assert handoff_store.queue() == []
    live = handoff_store.open(request("CX-AAAAAA"), state="waiting", now=MONDAY_NOON + timedelta(minutes=1))
    assert live.id != deferred.id and handoff_store.live_for_sender("web:alice") == live
    with pytest.raises(ValueError, match="starts waiting or deferred"):
        handoff_store.open(request("CX-AAAAAA", sender="web:bob"), state="claimed", now=MONDAY_NOON)


def test_the_queue_is_most_urgent_first_then_longest_waiting(handoff_store: HandoffStore) -> None:
    opened = {}
    for minute, (sender, priority) in enumerate([("a", "P3"), ("b", "P1"), ("c", "P3"), ("d", "P2"), ("e", "P4")]):
        opened[sender] = handoff_store.open(
            request(f"CX-{sender.upper() * 6}", sender=f"web:{sender}", priority=priority),
            state="waiting", now=MONDAY_NOON + timedelta(minutes=minute),
        )
    assert [record.sender_id for record in handoff_store.queue()] == ["web:b", "web:d", "web:a", "web:c", "web:e"]
    later = MONDAY_NOON + timedelta(minutes=10)
    assert handoff_store.ahead_of("P1", later) == 1
    assert handoff_store.ahead_of("P3", later) == 4
    assert handoff_store.ahead_of("P4", later) == 5
    handoff_store.claim(opened["b"].id, agent="agent:Priya", now=later)
    assert handoff_store.ahead_of("P1", later) == 0


def test_a_claim_records_the_agent_and_the_wait(handoff_store: HandoffStore) -> None:
    record = handoff_store.open(request("CX-AAAAAA"), state="waiting", now=MONDAY_NOON)
    claimed = handoff_store.claim(record.id, agent="agent:Priya", now=MONDAY_NOON + timedelta(minutes=4))
    assert (claimed.state, claimed.agent, claimed.claimed_at) == ("claimed", "agent:Priya", MONDAY_NOON + timedelta(minutes=4))
    assert handoff_store.live_for_sender("web:alice") == claimed
    assert handoff_store.recent_waits(MONDAY_NOON) == [240.0]
    assert handoff_store.recent_waits(MONDAY_NOON + timedelta(minutes=5)) == []
    with pytest.raises(HandoffTaken, match="is claimed, not waiting"):
        handoff_store.claim(record.id, agent="agent:Sam", now=MONDAY_NOON + timedelta(minutes=5))
    with pytest.raises(ValueError, match="actor must be"):
        handoff_store.claim(record.id, agent="Sam", now=MONDAY_NOON)


def test_two_agents_claiming_at_once_exactly_one_wins(engine: Engine) -> None:
    for trial in range(10):
        store = HandoffStore(make_sessionmaker(engine))
        record = store.open(request(f"CX-{trial:06d}", sender=f"web:race-{trial}"), state="waiting", now=MONDAY_NOON)
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def claim(agent: str) -> None:
            start.wait()
            try:
                store.claim(record.id, agent=agent, now=MONDAY_NOON + timedelta(minutes=1))
                outcomes.append(agent)
            except HandoffTaken:
                outcomes.append("taken")

        threads = [threading.Thread(target=claim, args=(agent,)) for agent in ("agent:Priya", "agent:Sam")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [outcome for outcome in outcomes if outcome != "taken"]
        assert len(winners) == 1 and outcomes.count("taken") == 1, outcomes
        assert store.get(record.id).agent == winners[0]


def test_transcript_lines_are_appended_once(tickets: TicketStore, sla: SlaConfig) -> None:
    ticket = file_ticket(tickets, sla, MONDAY_NOON, transcript=[
        {"sender": "customer", "text": "My parcel never arrived.", "timestamp": "2026-11-30T11:59:00+00:00"},
    ])
    line = {"sender": "customer", "text": "Are you still there?", "timestamp": "2026-11-30T12:05:00+00:00", "handoff_id": 1}
    assert tickets.append_transcript(ticket.number, [line]) == 1
    assert tickets.append_transcript(ticket.number, [line, ticket.transcript[0]]) == 0
    assert tickets.get(ticket.number).transcript == [ticket.transcript[0], line]


def test_concurrent_appends_lose_no_line(tickets: TicketStore, sla: SlaConfig) -> None:
    ticket = file_ticket(tickets, sla, MONDAY_NOON)
    lines = [{"sender": "customer", "text": f"message {n}", "timestamp": f"2026-11-30T12:{n:02d}:00+00:00"} for n in range(12)]
    threads = [threading.Thread(target=tickets.append_transcript, args=(ticket.number, [line])) for line in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(line["text"] for line in tickets.get(ticket.number).transcript) == sorted(line["text"] for line in lines)


def _waiting_with_tickets(tickets: TicketStore, sla: SlaConfig, store: HandoffStore, count: int, at: datetime,
                          prefix: str) -> list[HandoffRecord]:
    """``count`` filed tickets, each with a hand-off waiting since ``at``."""
    opened = []
    for n in range(count):
        ticket = file_ticket(tickets, sla, at, sender_id=f"web:{prefix}-{n}")
        opened.append(store.open(request(ticket.number, sender=f"web:{prefix}-{n}"), state="waiting", now=at))
    return opened


def test_unclaimed_hand_offs_move_to_the_supervisors_once_however_many_sweeps_run(
    engine: Engine, tickets: TicketStore, sla: SlaConfig,
) -> None:
    store = HandoffStore(make_sessionmaker(engine))
    old = _waiting_with_tickets(tickets, sla, store, 6, MONDAY_NOON - timedelta(minutes=11), "old")
    fresh = _waiting_with_tickets(tickets, sla, store, 2, MONDAY_NOON - timedelta(minutes=9), "fresh")
    start = threading.Barrier(3)
    moved: list[list[int]] = []

    def sweep() -> None:
        sweeper = HandoffStore(make_sessionmaker(engine))
        start.wait()
        moved.append([record.id for record in sweeper.move_unclaimed(
            waited_since=MONDAY_NOON - timedelta(minutes=10), now=MONDAY_NOON)])

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(i for ids in moved for i in ids) == [record.id for record in old]
    for record in old:
        stored = store.get(record.id)
        assert (stored.state, stored.queue, stored.to_supervisors_at, stored.agent) == (
            "waiting", "supervisors", MONDAY_NOON, None)
        events = [e.detail for e in tickets.events(record.ticket_number) if e.kind == TO_SUPERVISORS_EVENT]
        assert events == [{"handoff_id": record.id, "waited_s": 660, "actor": "system"}]
    for record in fresh:
        assert (store.get(record.id).queue, store.get(record.id).to_supervisors_at) == ("agents", None)
    assert store.queue(("agents",)) == [store.get(record.id) for record in fresh]
    assert store.move_unclaimed(waited_since=MONDAY_NOON - timedelta(minutes=10), now=MONDAY_NOON) == []


def test_an_agent_claiming_as_the_sweep_moves_it_either_claims_it_or_finds_it_gone(
    engine: Engine, tickets: TicketStore, sla: SlaConfig,
) -> None:
    store = HandoffStore(make_sessionmaker(engine))
    for trial in range(10):
        [record] = _waiting_with_tickets(tickets, sla, store, 1, MONDAY_NOON - timedelta(minutes=11), f"race-{trial}")
        start = threading.Barrier(2)
        outcomes: dict[str, object] = {}

        def claim() -> None:
            start.wait()
            try:
                outcomes["claim"] = store.claim(record.id, agent="agent:Priya", now=MONDAY_NOON, queues=("agents",))
            except HandoffTaken as refused:
                outcomes["claim"] = refused

        def sweep() -> None:
            start.wait()
            outcomes["sweep"] = [r.id for r in store.move_unclaimed(waited_since=MONDAY_NOON - timedelta(minutes=10),
                                                                    now=MONDAY_NOON)]

        threads = [threading.Thread(target=claim), threading.Thread(target=sweep)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored = store.get(record.id)
        events = [e for e in tickets.events(record.ticket_number) if e.kind == TO_SUPERVISORS_EVENT]
        if isinstance(outcomes["claim"], HandoffTaken):
            assert (stored.state, stored.queue, outcomes["sweep"], len(events)) == ("waiting", "supervisors", [record.id], 1)
            assert str(outcomes["claim"]) == f"hand-off {record.id} is waiting, not waiting in the agents queue"
        else:
            assert (stored.state, stored.agent, stored.queue, outcomes["sweep"], events) == (
                "claimed", "agent:Priya", "agents", [], [])
