"""A conversation handed to a person a second time: the ticket's transcript keeps every line once, in
the order it was said (real trackers, a real SQLite store and PostgreSQL, the real Redis).

The first hand-off's words are in the transcript already: the customer's as Rasa received them,
the agent's under the agent's name as the desk kept them. The tracker holds copies the outbound
path appended (an agent's reply, the greeting on hand-back) and the assistant's own words on
handing over, which the transcript does not have yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.actions.handoff import ActionHandoff
from bot.actions.runtime import Runtime
from bot.domain_config import SlaConfig
from bot.handoff.desk import delivered_by_desk
from bot.handoff.store import HandoffRequest
from bot.tickets import TicketStore
from tests.actions.conftest import dispatcher, domain, make_tracker
from tests.actions.events import action_event, user_event
from tests.handoff.conftest import MONDAY_NOON, file_ticket
from tests.handoff.test_actions import SENDER, clock, rt, settings_dir
from tests.handoff.test_actions import store as queue_of
from tests.sla.conftest import make_draft

__all__ = ["clock", "dispatcher", "domain", "make_tracker", "rt", "settings_dir"]

AGENT_REPLY = "Hello, I'm Alex. I can see your kettle case."
GREETING = "Is there anything else I can help you with?"


def at(minutes: float) -> datetime:
    return MONDAY_NOON + timedelta(minutes=minutes)


def line(sender: str, text: str, minutes: float, **extra: Any) -> dict[str, Any]:
    return {"sender": sender, "text": text, "timestamp": at(minutes).isoformat(), **extra}


def bot(text: str, minutes: float, **metadata: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": at(minutes).timestamp(), "metadata": metadata}


def test_only_the_outbound_copies_of_what_the_desk_delivered_are_recognised() -> None:
    assert delivered_by_desk(bot(AGENT_REPLY, 0, outbound_key="handoff:7:agent:00ff", author="agent"))
    assert delivered_by_desk(bot(GREETING, 0, outbound_key="handoff:7:resume:0", author="bot"))
    assert not delivered_by_desk(bot(GREETING, 0))  # the assistant's own words
    assert not delivered_by_desk(bot("How did we do?", 0, outbound_key="followup:CX-AAAAAA:72h:survey", author="bot"))
    assert not delivered_by_desk({"event": "user", "text": "hi", "metadata": {"outbound_key": "handoff:7:agent:1"}})


async def test_a_second_hand_off_adds_what_was_said_since_once_and_in_order(
    rt: Runtime, clock: Any, make_tracker, dispatcher, domain  # noqa: ANN001
) -> None:
    clock.now = at(20)
    ticket = rt.store.create(make_draft(at(0), rt.config.sla, sender_id=SENDER, status="escalated"), at(0))
    first = queue_of(rt).open(HandoffRequest(ticket.number, "webchat", SENDER, [{"rule": "asked_for_person"}], "P3"),
                           state="waiting", now=at(1), wait_estimate_s=None)
    kept = [line("customer", "hello? anyone there?", 3, handoff_id=first.id),
            line("agent", AGENT_REPLY, 4, agent="agent:alex", agent_name="Alex", handoff_id=first.id)]
    rt.store.append_transcript(ticket.number, kept)
    queue_of(rt).claim(first.id, agent="agent:alex", now=at(2))
    queue_of(rt).end(first.id, state="returned", now=at(10))
    events = [
        user_event("let me speak to a human", "ask_human", timestamp=at(1).timestamp()),
        action_event("action_handoff"),
        bot("Of course, I'll bring in a member of our team.", 1.01),
        {"event": "pause", "timestamp": at(1.02).timestamp()},
        user_event("hello? anyone there?", "greet", timestamp=at(3).timestamp()),
        bot(AGENT_REPLY, 4.01, outbound_key=f"handoff:{first.id}:agent:00ff", author="agent", author_name="Alex"),
        {"event": "resume", "timestamp": at(10).timestamp()},
        action_event("utter_anything_else"),
        bot(GREETING, 10.01),
        action_event("action_listen"),
        bot(GREETING, 10.5, outbound_key=f"handoff:{first.id}:resume:0", author="bot"),
        user_event("a person again please", "ask_human", timestamp=at(19).timestamp()),
    ]
    tracker = make_tracker(events, {"ticket_number": ticket.number}, sender_id=SENDER)
    await ActionHandoff().run(dispatcher, tracker, domain)
    assert [(entry["sender"], entry["text"]) for entry in rt.store.get(ticket.number).transcript] == [
        ("customer", "let me speak to a human"),
        ("assistant", "Of course, I'll bring in a member of our team."),
        ("customer", "hello? anyone there?"),
        ("agent", AGENT_REPLY),
        ("assistant", GREETING),
        ("customer", "a person again please"),
    ]
    second = queue_of(rt).live_for_sender(SENDER)
    assert second is not None and second.id != first.id and second.ticket_number == ticket.number


def test_a_line_said_earlier_goes_in_its_place(tickets: TicketStore, sla: SlaConfig) -> None:
    ticket = file_ticket(tickets, sla, at(0), transcript=[line("customer", "My parcel never arrived.", -1)])
    tickets.append_transcript(ticket.number, [line("agent", "I'm on it.", 6), line("customer", "thanks", 7)])
    assert tickets.append_transcript(ticket.number, [line("assistant", "A person will join.", 2)]) == 1
    assert [entry["text"] for entry in tickets.get(ticket.number).transcript] == [
        "My parcel never arrived.", "A person will join.", "I'm on it.", "thanks"]
    assert tickets.append_transcript(ticket.number, [line("assistant", "A person will join.", 2)]) == 0
