"""Restarts during a taken-over chat: the web app, a Rasa server and the action server are each
killed (``kill -9``) while agents are talking to a customer on the web chat page and a customer
on Telegram, and supervisor starts them again. Afterwards both conversations go on, and every
screen and record holds each message exactly once: the customer's page, the stand-in's record of
what Telegram was asked to send, the agents' console pages and the tickets' transcripts in SQL.

A customer also writes while a process is down: the Telegram customer while the web app is down
(the console reads it from SQL once it is back), the web customer while the Rasa server their
conversation normally goes to is down (the web app passes it to the other), both while the
action server is down (a paused conversation runs no action).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from pathlib import Path

from playwright.async_api import Browser

from bot.handoff.store import HandoffRecord
from scripts.stack import answers_200
from scripts.telegram_standin import text_update
from tests.console.test_console_browser import chromium
from tests.e2e.handoff.conftest import AGENT, SECOND_AGENT, HandoffStack
from tests.e2e.handoff.pages import RESUMED, ConsolePage, console_lines, customer_and_agent, shot, talk
from tests.e2e.handoff.test_browser import (
    ASK_FOR_PERSON, escalate_on_the_page, handoff_lines, live_handoff, wait_sent,
)
from tests.e2e.test_restart import OPENING
from tests.telegram.chat import TelegramChat
from web.rasa import pick_url

__all__ = ["chromium"]

RESTART_TIMEOUT_S = 180


class Telegram:
    """The Telegram customer, their agent's console page, and what both should see."""

    def __init__(self, stack: HandoffStack, console: ConsolePage) -> None:
        self.stack = stack
        self.chat = TelegramChat(stack.stack, stack.standin, 700_000_000 + secrets.randbelow(10**8))
        self.console = console
        self.lines: list[tuple[str, str]] = []
        """The hand-off's transcript lines: (sender, text)."""
        self.sent_from = 0
        self.sent: list[str] = []
        """What Telegram was asked to send this chat since the hand-off."""

    async def say(self, words: str, *, rasa: str | None = None) -> None:
        """The customer writes (to the given Rasa server's webhook, else the next in turn); the
        assistant stays silent."""
        if rasa is not None:
            url = f"{rasa}/webhooks/telegram/webhook"
            update = text_update(self.stack.standin.state, self.chat.chat_id, words)
            status = await asyncio.to_thread(self.stack.standin.post, update, url=url)
            assert status == 200
        else:
            assert await asyncio.to_thread(self.chat.say, words) == []
        self.lines.append(("customer", words))

    async def reply(self, words: str) -> None:
        await self.console.reply(words)
        self.lines.append(("agent", words))
        self.sent.append(f"{SECOND_AGENT.display_name}:\n{words}")
        await wait_sent(self.stack, self.chat.chat_id, self.sent_from + len(self.sent))

    def sent_now(self) -> list[str]:
        return [call.params["text"] for call in self.stack.standin.state.sent(chat_id=self.chat.chat_id)[self.sent_from:]]


def kill(stack: HandoffStack, program: str) -> int:
    """``kill -9`` the program (supervisor starts it again); its old pid, once that process is gone."""
    old_pid = stack.stack.pid(program)
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{old_pid}").exists() and time.monotonic() < deadline:  # until supervisor has reaped it
        time.sleep(0.01)
    return old_pid


def wait_back(stack: HandoffStack, program: str, old_pid: int, ready_url: str) -> None:
    """Until supervisor has the program running again and it answers."""
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        if stack.stack.pid(program) not in (0, old_pid) and answers_200(ready_url):
            return
        time.sleep(0.2)
    raise AssertionError(f"{program} was not running again within {RESTART_TIMEOUT_S} s")


async def test_a_taken_over_chat_survives_restarts_of_the_web_app_a_rasa_server_and_the_action_server(
    handoff_stack: HandoffStack, chromium: Browser
) -> None:
    stack = handoff_stack
    customer, sender, alex = await customer_and_agent(chromium, stack.web_url, AGENT)
    priya = await ConsolePage.sign_in(chromium, stack.web_url, SECOND_AGENT)
    telegram = Telegram(stack, priya)

    # both customers handed over and taken by their agents
    await customer.say(OPENING)
    web_handoff = await escalate_on_the_page(stack, customer, sender)
    await alex.wait_row(web_handoff.id)
    await alex.claim_from_queue(web_handoff.id)
    await asyncio.to_thread(telegram.chat.say, OPENING)
    await asyncio.to_thread(telegram.chat.say, ASK_FOR_PERSON)
    tg_handoff = await live_handoff(stack, telegram.chat.sender)
    telegram.sent_from = len(stack.standin.state.sent(chat_id=telegram.chat.chat_id))
    await priya.wait_row(tg_handoff.id)
    await priya.claim_from_queue(tg_handoff.id)
    shown = await customer.items()
    web_lines: list[tuple[str, str]] = []
    filed = {"web": await alex.transcript(), "telegram": await priya.transcript()}

    async def both_ways(tag: str) -> None:
        """A message each way in both conversations, seen on the other side."""
        exchange = [("customer", f"{tag}: still there? (web)"), ("agent", f"{tag}: yes, still here (web).")]
        await talk(customer, alex, exchange, shown, AGENT)
        web_lines.extend(exchange)
        await telegram.say(f"{tag}: still there? (telegram)")
        await priya.wait_line("customer", f"{tag}: still there? (telegram)")
        await telegram.reply(f"{tag}: yes, still here (telegram).")

    async def everything_once() -> None:
        """Every screen and record holds the conversations exactly, each message once."""
        assert await customer.items() == shown
        assert telegram.sent_now() == telegram.sent
        assert handoff_lines(stack, web_handoff.ticket_number, web_handoff.id) == web_lines
        assert handoff_lines(stack, tg_handoff.ticket_number, tg_handoff.id) == telegram.lines
        assert await alex.transcript() == filed["web"] + console_lines(web_lines, AGENT)
        assert await priya.transcript() == filed["telegram"] + console_lines(telegram.lines, SECOND_AGENT)

    await both_ways("before any restart")
    await everything_once()

    # (a) the web app: the customer's page reconnects by itself; the agents reload their pages.
    # Meanwhile the Telegram customer writes: it reaches the ticket, and the console shows it after.
    old = kill(stack, "web")
    await telegram.say("while the web app was down (telegram)")
    await asyncio.to_thread(wait_back, stack, "web", old, f"{stack.web_url}/healthz")
    await customer.wait_connected()
    await alex.reload(web_handoff.id)
    await priya.reload(tg_handoff.id)
    await priya.wait_line("customer", "while the web app was down (telegram)")
    await everything_once()
    await both_ways("after the web app restarted")
    await everything_once()
    await shot(customer.page, "restart-1-web-customer-after-web-restart")

    # (b) the Rasa server of the web conversation: meanwhile both customers write (the web app
    # passes the message to the other server; Telegram's update goes to the other server as a
    # load balancer would send it)
    session_rasa = pick_url(tuple(stack.stack.rasa_urls), sender.split(":", 1)[1])
    other_rasa = next(url for url in stack.stack.rasa_urls if url != session_rasa)
    program = f"rasa-{session_rasa.rsplit(':', 1)[1]}"
    old = kill(stack, program)
    await talk(customer, alex, [("customer", "while my Rasa server was down (web)")], shown, AGENT)
    web_lines.append(("customer", "while my Rasa server was down (web)"))
    await telegram.say("while a Rasa server was down (telegram)", rasa=other_rasa)
    await priya.wait_line("customer", "while a Rasa server was down (telegram)")
    await asyncio.to_thread(wait_back, stack, program, old, stack.rasa_api(session_rasa, "/status"))
    await both_ways("after a Rasa server restarted")
    await everything_once()

    # (c) the action server: a paused conversation runs no action, so nothing waits for it
    old = kill(stack, "actions")
    await talk(customer, alex, [("customer", "while the action server was down (web)")], shown, AGENT)
    web_lines.append(("customer", "while the action server was down (web)"))
    await telegram.say("while the action server was down (telegram)")
    await priya.wait_line("customer", "while the action server was down (telegram)")
    await asyncio.to_thread(wait_back, stack, "actions", old, f"{stack.stack.action_url}/health")
    await both_ways("after the action server restarted")
    await everything_once()

    # a page loaded afresh, and the consoles reloaded, show the same, once
    await customer.page.reload()
    await customer.wait_connected()
    await customer.wait_for_items(len(shown))
    await alex.reload(web_handoff.id)
    await priya.reload(tg_handoff.id)
    await everything_once()
    await shot(alex.page, "restart-2-console-web-conversation")
    await shot(priya.page, "restart-3-console-telegram-conversation")

    # handed back, the assistant (and its restarted action server) takes the conversation again
    await alex.hand_back()
    shown.append(("bot", None, RESUMED))
    assert await customer.wait_for_items(len(shown)) == shown
    await priya.hand_back()
    telegram.sent.append(RESUMED)
    await wait_sent(stack, telegram.chat.chat_id, telegram.sent_from + len(telegram.sent))
    assert telegram.sent_now() == telegram.sent
    again = await escalate_on_the_page(stack, customer, sender)
    assert again.ticket_number == web_handoff.ticket_number
    await shot(customer.page, "restart-4-web-customer-after-hand-back")
    for record in (web_handoff, tg_handoff):
        assert_every_agent_message_sent_once(stack, record)
    await customer.close()
    await alex.close()
    await priya.close()


def assert_every_agent_message_sent_once(stack: HandoffStack, record: HandoffRecord) -> None:
    """Each agent message of the hand-off has one delivery, sent, and is in the Rasa conversation."""
    ticket = stack.tickets.get(record.ticket_number)
    keys = [line["outbound_key"] for line in ticket.transcript if line.get("handoff_id") == record.id and line["sender"] == "agent"]
    assert len(keys) == len(set(keys)) > 0
    for key in keys:
        delivery = stack.outbound.get(key)
        assert delivery is not None and (delivery.status, delivery.transcript_status) == ("sent", "appended"), key
