"""The console in headless Chromium (Debian's, driven by Playwright; nothing downloads a browser),
beside a customer's web chat page in another browser context of the same app.

The customer is handed over as the assistant does it (a ticket filed, the hand-off queued and
announced on ``handoff:queue``), their messages arrive as the paused Rasa channel delivers them
(:meth:`Handoffs.keep_customer_message`), and the agent's reply is sent by the web chat transport
as the worker's send job does. Screenshots go to var/artifacts/console/.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from bot.handoff.desk import NOTE_EVENT
from bot.handoff.notices import HandoffNotices
from bot.handoff.service import Handoffs
from bot.outbound.webchat import WebChatMailbox, WebChatTransport
from bot.settings import PROJECT_ROOT
from tests.console.conftest import PASSWORD, REDIS_DB, REDIS_HOST, REDIS_PORT, RESUMED_TEXT, START, RasaCalls, World
from web.console.accounts import Account

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "var" / "artifacts" / "console"


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


def notices() -> HandoffNotices:
    return HandoffNotices(lambda: aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT))


@pytest.mark.parametrize("db_url", ["sqlite_url"], indirect=True)
async def test_an_agent_takes_a_customer_live_from_the_queue_to_hand_back(
    chromium: Browser, console: TestServer, world: World, agent: Account, rasa: RasaCalls,
    redis_client: redis.Redis,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{console.port}"
    customer_context = await chromium.new_context()
    customer = await customer_context.new_page()
    await customer.goto(f"{base}/")
    await customer.wait_for_selector("body[data-connected='true']")
    cookie = next(c["value"] for c in await customer_context.cookies() if c["name"] == "webchat_session")
    session_id = json.loads(redis_client.get(f"webchat_session_{cookie}"))["session"]["session_id"]

    agent_context = await chromium.new_context()
    console_page = await agent_context.new_page()
    await console_page.goto(f"{base}/console/sign-in")
    await console_page.fill("#name", "alex")
    await console_page.fill("#password", PASSWORD)
    await console_page.click("button[type=submit]")
    await console_page.wait_for_selector("#queue-empty")
    await console_page.wait_for_timeout(300)  # the page's socket is open

    ticket, handoff = world.hand_over(sender=f"web:{session_id}")
    started = time.perf_counter()
    await notices().queued(handoff, START)
    row = console_page.locator(f"#queue-rows tr[data-handoff='{handoff.id}']")
    await row.wait_for(timeout=1000)
    assert time.perf_counter() - started < 1.0
    assert await row.locator("td").nth(0).text_content() == ticket.number
    assert await row.locator("td").nth(2).text_content() == "The customer asked to talk to a person."
    await console_page.screenshot(path=str(ARTIFACTS / "queue-live.png"), full_page=True)

    await row.locator("button.claim").click()
    await console_page.wait_for_url(f"{base}/console/handoffs/{handoff.id}")
    await console_page.locator("#handoff-state", has_text="claimed").wait_for()
    await console_page.wait_for_timeout(300)  # watching the conversation
    assert (world.handoffs.get(handoff.id).state, world.handoffs.get(handoff.id).agent) == ("claimed", "agent:alex")

    service = Handoffs(world.handoffs, world.tickets, None, None, notices(), lambda text: 0.5)  # type: ignore[arg-type]
    hostile = "<b>Is anyone there?</b>"
    started = time.perf_counter()
    await service.keep_customer_message(f"web:{session_id}", hostile, START)
    line = console_page.locator("#transcript li.customer .text").last
    await line.wait_for(timeout=1000)
    assert time.perf_counter() - started < 1.0
    assert await line.text_content() == hostile
    assert await console_page.locator("#transcript b").count() == 0

    await console_page.fill("#reply", "Hello, I'm Alex. I'm on it.")
    await console_page.click("#reply-form button[type=submit]")
    await console_page.locator("#transcript li.agent .text").last.wait_for(timeout=2000)
    delivery = world.outbound.get(world.tickets.get(ticket.number).transcript[-1]["outbound_key"])
    assert delivery is not None and delivery.status == "pending"
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    started = time.perf_counter()
    await WebChatTransport(WebChatMailbox(client, ttl_s=86400)).send(delivery.conversation, delivery.message, delivery.key)
    await client.close()
    shown = customer.locator("li[data-from='agent']")
    await shown.wait_for(timeout=1000)
    assert time.perf_counter() - started < 1.0
    assert await shown.locator(".msg__author").text_content() == "Alex Agent"
    assert await shown.locator(".msg__text").text_content() == "Hello, I'm Alex. I'm on it."
    await customer.screenshot(path=str(ARTIFACTS / "customer-sees-agent.png"), full_page=True)

    await console_page.fill("#note", "Parcel found at the depot.")
    await console_page.click("#note-form button[type=submit]")
    await console_page.locator("#notes li", has_text="Parcel found at the depot.").wait_for(timeout=2000)
    assert [e.detail["text"] for e in world.tickets.events(ticket.number) if e.kind == NOTE_EVENT] == ["Parcel found at the depot."]
    await console_page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)

    await console_page.click("#hand-back-button")
    await console_page.locator("#handoff-state", has_text="returned").wait_for(timeout=5000)
    assert world.handoffs.get(handoff.id).state == "returned"
    assert [path for path, _, _ in rasa.calls] == [f"/conversations/web:{session_id}/tracker/events",
                                                    f"/conversations/web:{session_id}/execute",
                                                    f"/conversations/web:{session_id}/tracker/events"]
    resumed = None
    for _ in range(20):  # the queue notice can show "returned" before the page's own call has finished
        resumed = world.outbound.get(f"handoff:{handoff.id}:resume:0")
        if resumed is not None:
            break
        await asyncio.sleep(0.1)
    assert resumed is not None and resumed.message.text == RESUMED_TEXT
    assert [line["text"] for line in world.tickets.get(ticket.number).transcript[-2:]] == [hostile, "Hello, I'm Alex. I'm on it."]
    await console_page.screenshot(path=str(ARTIFACTS / "handed-back.png"), full_page=True)
    await agent_context.close()
    await customer_context.close()
