"""The web chat in a real browser: Debian's chromium (/usr/bin/chromium) driven by Playwright,
headless; nothing downloads a browser. Screenshots go to var/artifacts/.

Covers: a whole complaint through the page with buttons clicked and a reload in the
middle; a message pushed from another process shown within a second; a photo uploaded;
a second browser that can neither read nor write the first one's conversation; the
one-tag embed on another page."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page

from bot.outbound import Conversation, OutboundMessage
from bot.outbound.webchat import WebChatMailbox, WebChatTransport
from bot.tickets import TicketStore
from tests.chromium import headless_chromium
from tests.web.complaint import REFUNDS, tell_complaint
from tests.web.conftest import ARTIFACTS, REDIS_DB, REDIS_HOST, REDIS_PORT, WEB_PORTS, WebApp, kept_evidence, session_id_of
from tests.web.test_api import say
from tests.web.test_full_complaint import EXPECTED_CHANNEL

BOT_ITEMS = "#log li[data-from='bot'], #log li[data-from='agent']"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as opened:
        yield opened


async def open_chat(browser: Browser, app: WebApp, **options: Any) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(**options)
    page = await context.new_page()
    await page.goto(f"{app.url}/")
    await page.wait_for_selector("body[data-connected='true']")
    return context, page


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def cookie_of(context: BrowserContext) -> str:
    return next(c["value"] for c in await context.cookies() if c["name"] == "webchat_session")


async def bot_items_after(page: Page, before: int) -> list[dict[str, Any]]:
    """Wait until the page has new bot items and no typing indicator; return the new ones."""
    await page.wait_for_function(
        "([selector, before]) => document.querySelectorAll(selector).length > before"
        " && document.getElementById('typing').hidden",
        arg=[BOT_ITEMS, before], timeout=60_000,
    )
    return await page.eval_on_selector_all(BOT_ITEMS, """(items, before) => items.slice(before).map(li => ({
        text: li.querySelector('.msg__text').textContent,
        buttons: [...li.querySelectorAll('.msg__buttons button')].map(b => ({title: b.textContent, payload: b.dataset.payload})),
    }))""", before)


async def type_and_enter(page: Page, words: str) -> list[dict[str, Any]]:
    before = await page.locator(BOT_ITEMS).count()
    await page.fill("#message", words)
    await page.press("#message", "Enter")
    return await bot_items_after(page, before)


async def test_a_complaint_through_the_page_with_buttons_and_a_reload(
    browser: Browser, live_web: list[WebApp], web_store: TicketStore
) -> None:
    context, page = await open_chat(browser, live_web[0], viewport={"width": 390, "height": 844})
    turns = 0

    async def say_words(words: str) -> list[dict[str, Any]]:
        nonlocal turns
        replies = await type_and_enter(page, words)
        turns += 1
        if turns == 2:  # a reload in the middle: the same conversation comes back
            shown = await page.locator("#log li").all_text_contents()
            await shot(page, "complaint-before-reload")
            await page.reload()
            await page.wait_for_selector("body[data-connected='true']")
            await page.wait_for_function("n => document.querySelectorAll('#log li').length >= n", arg=len(shown))
            assert await page.locator("#log li").all_text_contents() == shown
        return replies

    async def press(button: dict[str, str]) -> list[dict[str, Any]]:
        before = await page.locator(BOT_ITEMS).count()
        await page.locator(f"#log li:last-child button[data-payload='{button['payload']}']").click()
        return await bot_items_after(page, before)

    told = await tell_complaint(say_words, press)
    await shot(page, "complaint-filed")
    sender_id = f"web:{session_id_of(await cookie_of(context))}"
    await context.close()

    ticket = web_store.get(told.ticket_number)
    assert ticket is not None
    assert (ticket.sender_id, ticket.channel) == (sender_id, EXPECTED_CHANNEL)
    assert (ticket.customer_name, ticket.contact, ticket.order_ref) == ("Jane Morris", "jane.morris@example.com", "88412")
    assert ticket.chosen_option in REFUNDS  # the wish came first: a refund, whichever category the model chose
    assert told.pressed[-1] == "Yes, file it"


async def test_a_message_pushed_from_another_process_shows_within_a_second(browser: Browser, offline_web: WebApp) -> None:
    context, page = await open_chat(browser, offline_web)
    session_id = session_id_of(await cookie_of(context))
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    transport = WebChatTransport(WebChatMailbox(client, ttl_s=86400))
    started = time.perf_counter()
    await transport.send(
        Conversation("webchat", session_id),
        OutboundMessage("Hello, I'm Priya. I've read your complaint and I'm on it.", author="agent",
                        author_name="Priya, customer care"),
        key="browser-push-1",
    )
    await page.wait_for_selector("li[data-from='agent']", timeout=1000)
    elapsed = time.perf_counter() - started
    await client.close()
    agent = page.locator("li[data-from='agent']")
    assert await agent.locator(".msg__author").text_content() == "Priya, customer care"
    assert await agent.locator(".msg__text").text_content() == "Hello, I'm Priya. I've read your complaint and I'm on it."
    assert elapsed < 1.0
    await shot(page, "push-from-agent")
    await context.close()


async def test_a_photo_is_uploaded_and_kept(
    browser: Browser, offline_web: WebApp, web_database_url: str, evidence_dir: Path
) -> None:
    context, page = await open_chat(browser, offline_web)
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(photo, format="JPEG")
    before = await page.locator(BOT_ITEMS).count()
    await page.set_input_files("#file", files=[{"name": "cracked-lid.jpg", "mimeType": "image/jpeg", "buffer": photo.getvalue()}])
    replies = await bot_items_after(page, before)
    assert [r["text"] for r in replies] == [say("utter_attachment_received")]
    assert await page.locator("li[data-from='customer'] .msg__text").last.text_content() == "📎 cracked-lid.jpg"
    await shot(page, "photo-uploaded")
    sender_id = f"web:{session_id_of(await cookie_of(context))}"
    await context.close()
    kept = kept_evidence(web_database_url, evidence_dir, sender_id)
    assert [(e.media_type, e.source, data) for e, data in kept] == [("image/jpeg", "webchat", photo.getvalue())]


async def test_a_second_browser_can_neither_read_nor_write_the_first_conversation(
    browser: Browser, offline_web: WebApp
) -> None:
    first, first_page = await open_chat(browser, offline_web)
    await type_and_enter(first_page, "My private complaint about order 55555")
    first_token = await first_page.evaluate("fetch('/api/session').then(r => r.json()).then(b => b.csrf_token)")
    second, second_page = await open_chat(browser, offline_web)

    assert await second_page.locator("#log li").count() == 0
    assert await second_page.evaluate("fetch('/api/history').then(r => r.json())") == {"items": []}
    forged = await second_page.evaluate(
        """token => fetch('/api/messages', {method: 'POST', headers: {'Content-Type': 'application/json',
           'X-CSRF-Token': token}, body: JSON.stringify({text: 'written by someone else'})}).then(r => r.status)""",
        first_token,
    )
    assert forged == 403
    assert await cookie_of(first) != await cookie_of(second)
    await shot(second_page, "second-browser-empty")
    history = await first_page.evaluate("fetch('/api/history').then(r => r.json())")
    assert [i["text"] for i in history["items"] if i["from"] == "customer"] == ["My private complaint about order 55555"]
    await first.close()
    await second.close()


async def test_the_widget_embeds_the_chat_with_one_script_tag(browser: Browser, offline_web: WebApp) -> None:
    host = web.Application()
    host.router.add_get("/", lambda _: web.Response(content_type="text/html", text=(
        "<!doctype html><title>A shop</title><h1>A shop</h1>"
        f'<script src="{offline_web.url}/widget.js" defer></script>'
    )))
    runner = web.AppRunner(host)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", WEB_PORTS[6]).start()
    try:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{WEB_PORTS[6]}/")
        launcher = page.locator("#cx-chat-launcher")
        assert await launcher.get_attribute("aria-expanded") == "false"
        await launcher.click()
        assert await launcher.get_attribute("aria-expanded") == "true"
        chat = page.frame_locator("#cx-chat-frame")
        await chat.locator("body[data-connected='true']").wait_for()
        await chat.locator("#message").fill("Hello from the shop page")
        await chat.locator("#message").press("Enter")
        await chat.locator("li[data-from='bot']").wait_for()
        assert await chat.locator("li[data-from='bot'] .msg__text").text_content() == say("utter_technical_difficulty")
        await shot(page, "widget-embedded")
        await context.close()
    finally:
        await runner.cleanup()
