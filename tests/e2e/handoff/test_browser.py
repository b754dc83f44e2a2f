"""A hand-off end to end in headless Chromium (Debian's, driven by Playwright; nothing downloads a
browser), with nothing standing in for the product: a customer talks to the trained model on
the web chat page through the web app and a Rasa server, asks for a person, and an agent in
another browser context takes the conversation over at the console. The agent's words travel
the outbound path (SQL, the arq job queue, the worker, the web chat push); the customer's reach
the console from the paused Rasa conversation over Redis. Then the same for a customer on
Telegram (the local Bot API stand-in).

Screenshots: var/artifacts/handoff/.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.request
from datetime import timedelta
from typing import Any

from playwright.async_api import Browser
from sqlalchemy import select

from bot.db import make_engine, make_sessionmaker
from bot.followup.store import FollowupRow
from bot.handoff.desk import NOTE_EVENT
from bot.handoff.store import HandoffRecord
from tests.console.test_console_browser import chromium
from tests.e2e.handoff.conftest import AGENT, HandoffStack
from tests.e2e.handoff.pages import (
    ASKED_FOR_PERSON, RESUMED, ConsolePage, CustomerPage, console_lines, customer_and_agent, shot, talk, waiting_text,
)
from tests.e2e.test_restart import OPENING
from tests.telegram.chat import TelegramChat

ASK_FOR_PERSON = "Can I talk to a real person please?"
REASON = "The customer asked to talk to a person."
__all__ = ["chromium"]


async def live_handoff(stack: HandoffStack, sender: str) -> HandoffRecord:
    """The conversation's live hand-off (the action server wrote it before the customer was told)."""
    record = await asyncio.to_thread(stack.handoffs.live_for_sender, sender)
    assert record is not None, f"no live hand-off for {sender}"
    return record


def handoff_lines(stack: HandoffStack, ticket_number: str, handoff_id: int) -> list[tuple[str, str]]:
    """The ticket's transcript lines of one hand-off (SQL): (sender, text)."""
    ticket = stack.tickets.get(ticket_number)
    assert ticket is not None
    return [(line["sender"], line["text"]) for line in ticket.transcript if line.get("handoff_id") == handoff_id]


def followup_rows(stack: HandoffStack, ticket_number: str) -> list[dict[str, Any]]:
    """The ticket's rows in ``followups`` (SQL): key, state, when resolved and when due."""
    engine = make_engine(stack.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.scalars(select(FollowupRow).where(FollowupRow.ticket_number == ticket_number)).all()
            return [{"key": r.key, "state": r.state, "resolved_at": r.resolved_at, "due_at": r.due_at} for r in rows]
    finally:
        engine.dispose()


async def escalate_on_the_page(stack: HandoffStack, customer: CustomerPage, sender: str) -> HandoffRecord:
    """The customer asks for a person; the assistant's exact answer; the hand-off it queued."""
    replies = await customer.say(ASK_FOR_PERSON)
    record = await live_handoff(stack, sender)
    assert (record.state, record.rule_ids) == ("waiting", ["asked_for_person"])
    assert replies == [("customer", None, ASK_FOR_PERSON), ("bot", None, ASKED_FOR_PERSON),
                       ("bot", None, waiting_text(record.ticket_number, record.wait_estimate_s))], "\n".join(tracker_events(stack, sender))
    return record


def tracker_events(stack: HandoffStack, sender: str) -> list[str]:
    """The conversation's events in short, for a failure's message."""
    with urllib.request.urlopen(stack.rasa_api(stack.stack.rasa_urls[0], f"/conversations/{sender}/tracker"), timeout=30) as answer:
        events = json.load(answer)["events"]
    return [" ".join(str(e.get(k)) for k in ("event", "name", "text", "policy", "value") if e.get(k) is not None)
            + (f" intent={e['parse_data']['intent']}" if e.get("event") == "user" else "") for e in events]


async def test_a_web_chat_customer_is_taken_over_handed_back_escalated_again_and_resolved(
    handoff_stack: HandoffStack, chromium: Browser
) -> None:
    stack = handoff_stack
    customer, sender, agent = await customer_and_agent(chromium, stack.web_url, AGENT)

    opening = await customer.say(OPENING)
    assert opening[0] == ("customer", None, OPENING) and len(opening) >= 2
    assert all(who == "bot" for who, _, _ in opening[1:])
    handoff = await escalate_on_the_page(stack, customer, sender)
    ticket = handoff.ticket_number

    # the conversation appears in the agent's queue without a reload
    cells = await agent.wait_row(handoff.id)
    assert (cells[0], cells[1], cells[2], cells[5]) == (ticket, handoff.priority, REASON, "webchat")
    await shot(agent.page, "web-1-queue")
    await agent.claim_from_queue(handoff.id)
    claimed = stack.handoffs.get(handoff.id)
    assert (claimed.state, claimed.agent) == ("claimed", "agent:alex")
    filed = await agent.transcript()
    assert ("customer", "customer", OPENING) in filed and ("customer", "customer", ASK_FOR_PERSON) in filed

    # both ways, twice, with the exact words on both screens
    exchange = [
        ("customer", "Hello? Is anyone there? <b>It's urgent</b>"),
        ("agent", "Hello, I'm Alex from the complaints team. I can see your toaster case, order 55120."),
        ("customer", "Thank you! It stopped working after two days & the kids had no breakfast."),
        ("agent", "I'm sorry about that. I'll arrange a replacement toaster today."),
    ]
    shown = await customer.items()
    await talk(customer, agent, exchange, shown, AGENT)
    assert await agent.transcript() == filed + console_lines(exchange, AGENT)
    assert handoff_lines(stack, ticket, handoff.id) == exchange
    await shot(customer.page, "web-2-customer-talks-to-agent")

    await agent.note("Replacement approved; courier booked for tomorrow.")
    notes = [event.detail["text"] for event in stack.tickets.events(ticket) if event.kind == NOTE_EVENT]
    assert notes == ["Replacement approved; courier booked for tomorrow."]
    await shot(agent.page, "web-3-console-conversation")
    await agent.hand_back()
    assert stack.handoffs.get(handoff.id).state == "returned"
    shown.append(("bot", None, RESUMED))
    assert await customer.wait_for_items(len(shown)) == shown
    assert handoff_lines(stack, ticket, handoff.id) == exchange  # the note is not in the transcript
    await shot(customer.page, "web-4-bot-resumed")

    # escalated again: a new hand-off of the same ticket, live in the queue, claimed, resolved
    await agent.open_queue()
    again = await escalate_on_the_page(stack, customer, sender)
    assert again.ticket_number == ticket and again.id != handoff.id
    shown.extend([("customer", None, ASK_FOR_PERSON), ("bot", None, ASKED_FOR_PERSON),
                  ("bot", None, waiting_text(ticket, again.wait_estimate_s))])
    await agent.wait_row(again.id)
    await agent.claim_from_queue(again.id)
    # the ticket's transcript, as the agent reads it now: every line once, in the order it was said
    # (the assistant's words on the first hand-over included), the agent's under their name
    lines = await agent.transcript()
    first_ask = lines.index(("customer", "customer", ASK_FOR_PERSON))
    assert lines[first_ask:] == [
        ("customer", "customer", ASK_FOR_PERSON), ("assistant", "assistant", ASKED_FOR_PERSON),
        ("assistant", "assistant", waiting_text(ticket, handoff.wait_estimate_s)),
        *console_lines(exchange, AGENT),
        ("assistant", "assistant", RESUMED), ("customer", "customer", ASK_FOR_PERSON),
    ]
    second = [("customer", "The replacement is fine, but I'd like a refund of the delivery fee."),
              ("agent", "Done: the delivery fee is refunded, and I'm closing this as resolved.")]
    await talk(customer, agent, second, shown, AGENT)
    await agent.resolve()
    shown.append(("bot", None, RESUMED))
    assert await customer.wait_for_items(len(shown)) == shown
    await shot(agent.page, "web-5-console-resolved")
    await shot(customer.page, "web-6-customer-after-resolve")

    resolved = stack.tickets.get(ticket)
    assert resolved.status == "resolved"
    assert stack.handoffs.get(again.id).state == "returned"
    assert handoff_lines(stack, ticket, again.id) == second
    assert handoff_lines(stack, ticket, handoff.id) == exchange
    statuses = [(e.detail.get("to"), e.detail.get("actor")) for e in stack.tickets.events(ticket) if e.kind == "status"]
    assert statuses[-1] == ("resolved", "agent:alex")
    [followup] = followup_rows(stack, ticket)
    assert (followup["key"], followup["state"]) == (f"followup:{ticket}:72h", "scheduled")
    assert followup["due_at"] - followup["resolved_at"] >= timedelta(hours=72)
    assert followup["due_at"] - followup["resolved_at"] < timedelta(hours=72 + 13)  # at most moved past quiet hours
    assert await customer.items() == shown  # nothing shown twice
    await customer.close()
    await agent.close()


def bot_texts(calls: list[Any]) -> list[str]:
    return [call.params["text"] for call in calls]


async def test_a_telegram_customer_is_taken_over_and_they_talk_both_ways(
    handoff_stack: HandoffStack, chromium: Browser
) -> None:
    stack = handoff_stack
    chat = TelegramChat(stack.stack, stack.standin, 600_000_000 + secrets.randbelow(10**8))
    agent = await ConsolePage.sign_in(chromium, stack.web_url, AGENT)

    opening = await asyncio.to_thread(chat.say, OPENING)
    assert len(opening) == 1  # the turn's replies in one Telegram message
    handed = bot_texts(await asyncio.to_thread(chat.say, ASK_FOR_PERSON))
    handoff = await live_handoff(stack, chat.sender)
    assert (handoff.state, handoff.channel, handoff.rule_ids) == ("waiting", "telegram", ["asked_for_person"])
    assert handed == [f"{ASKED_FOR_PERSON}\n\n{waiting_text(handoff.ticket_number, handoff.wait_estimate_s)}"]

    cells = await agent.wait_row(handoff.id)
    assert (cells[0], cells[2], cells[5]) == (handoff.ticket_number, REASON, "telegram")
    await shot(agent.page, "telegram-1-queue")
    await agent.claim_from_queue(handoff.id)

    exchange = [
        ("customer", "Hi, is a person there now? My toaster order is 55120."),
        ("agent", "Yes, Alex here. I've got your order 55120 in front of me."),
        ("customer", "Great, can you send a new one?"),
        ("agent", "A new toaster goes out today; you'll get the tracking number by email."),
    ]
    sent_before = len(stack.standin.state.sent(chat_id=chat.chat_id))
    expected_sent: list[str] = []
    for who, words in exchange:
        if who == "customer":
            assert await asyncio.to_thread(chat.say, words) == []  # the assistant stays silent
            await agent.wait_line("customer", words)
        else:
            await agent.reply(words)
            expected_sent.append(f"{AGENT.display_name}:\n{words}")
            await wait_sent(stack, chat.chat_id, sent_before + len(expected_sent))
    assert bot_texts(stack.standin.state.sent(chat_id=chat.chat_id)[sent_before:]) == expected_sent
    assert handoff_lines(stack, handoff.ticket_number, handoff.id) == exchange
    await shot(agent.page, "telegram-2-console-conversation")

    await agent.hand_back()
    await wait_sent(stack, chat.chat_id, sent_before + len(expected_sent) + 1)
    assert bot_texts(stack.standin.state.sent(chat_id=chat.chat_id)[sent_before:]) == expected_sent + [RESUMED]
    assert stack.handoffs.get(handoff.id).state == "returned"
    await agent.close()


async def wait_sent(stack: HandoffStack, chat_id: int, count: int, timeout_s: float = 60) -> None:
    """Until the stand-in has received ``count`` messages for the chat (the worker sends them)."""
    for _ in range(int(timeout_s / 0.05)):
        if len(stack.standin.state.sent(chat_id=chat_id)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"chat {chat_id}: {len(stack.standin.state.sent(chat_id=chat_id))} messages, expected {count}")
