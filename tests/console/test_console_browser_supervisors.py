"""The conversation page's ticket work and the supervisors' view in Debian's headless Chromium
(Playwright, ``executable_path``): an agent reads the suggested next steps, moves the ticket (and is
told clearly when the move is no longer legal), books a call back from the free times; a supervisor
sees the agent online with their load and gives a waiting conversation to them. Screenshots are
kept in var/artifacts/console/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from bot.callbacks.policy import callback_policy
from bot.callbacks.slots import Slot, free_slots, slot_label
from bot.settings import PROJECT_ROOT
from tests.chromium import headless_chromium
from tests.console.conftest import PASSWORD, START, World

ARTIFACTS = PROJECT_ROOT / "var" / "artifacts" / "console"

pytestmark = pytest.mark.usefixtures("agent", "supervisor")


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with headless_chromium() as opened:
        yield opened


async def signed_in_page(chromium: Browser, console: TestServer, name: str) -> Page:
    page = await (await chromium.new_context(viewport={"width": 1280, "height": 1600})).new_page()
    await page.goto(f"http://127.0.0.1:{console.port}/console/sign-in")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#queue-heading")
    return page


@pytest.mark.parametrize("db_url", ["sqlite_url"], indirect=True)
async def test_an_agent_works_the_ticket_and_a_supervisor_reassigns_in_the_browser(
    chromium: Browser, console: TestServer, world: World,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ticket, handoff = world.hand_over(sender="web:browser-1", chosen_option="callback",
                                      offered_options=["redeliver_express", "refund", "callback", "human_agent"])
    _, waiting = world.hand_over(sender="web:browser-2", priority="P1")

    alex = await signed_in_page(chromium, console, "alex")
    await alex.locator(f"#queue-rows tr[data-handoff='{handoff.id}'] button.claim").click()
    await alex.locator("#handoff-state", has_text="claimed").wait_for()
    steps = [text.strip() for text in await alex.locator("#next-steps li").all_text_contents()]
    assert steps[0] == ('The customer chose "A call back at a time that suits you" but no call is booked: '
                        "offer a slot under Book a call back.")

    await alex.select_option("#status-to", "in_progress")
    await alex.fill("#status-note", "Asked the depot")
    await alex.click("#status-form button[type=submit]")
    await alex.locator("#ticket-status", has_text="in_progress").wait_for(timeout=3000)
    assert await alex.locator("#status-to option").all_inner_texts() == ["resolved", "escalated", "withdrawn"]

    world.tickets.transition(ticket.number, "resolved", actor="agent:sam", now=START)  # meanwhile, elsewhere
    await alex.select_option("#status-to", "escalated")
    await alex.click("#status-form button[type=submit]")
    error = alex.locator("#status-error")
    await error.wait_for(state="visible", timeout=3000)
    assert await error.text_content() == "Not allowed: the ticket is resolved and may only go to closed, reopened."
    assert await alex.locator("#status-to option").all_inner_texts() == ["closed", "reopened"]

    first = free_slots(callback_policy(), START, {})[0]
    team_label = slot_label(Slot(first.start, first.start), callback_policy().business_zone)
    await alex.click("#callback-load")
    await alex.locator("#callback-slots input").first.wait_for(timeout=3000)
    await alex.locator("#callback-slots input").first.check()
    await alex.click("#callback-form button[type=submit]")
    await alex.locator("#callback-booked", has_text="Booked for").wait_for(timeout=3000)
    assert await alex.locator("#callback-booked").text_content() == (
        f"Booked for {team_label} (the customer's time: {slot_label(first, callback_policy().default_customer_zone)}).")
    await alex.screenshot(path=str(ARTIFACTS / "conversation-ticket-work.png"), full_page=True)

    sam = await signed_in_page(chromium, console, "sam")
    await sam.click("a[href='/console/supervisors']")
    await sam.wait_for_selector("#load-table")
    alex_row = sam.locator("#load-table tr[data-agent='alex']")
    assert await alex_row.locator("td.presence").text_content() == "online · console open"
    assert await alex_row.locator("td.open").text_content() == "1"
    await sam.select_option(f"#assign-to-{waiting.id}", "alex")
    await sam.click(f"button.assign[data-handoff='{waiting.id}']")
    await sam.wait_for_selector("#waiting-empty", timeout=3000)
    alex_row = sam.locator("#load-table tr[data-agent='alex']")
    assert await alex_row.locator("td.open").text_content() == "2"
    assert await alex_row.locator("ul.held li").count() == 2
    await sam.screenshot(path=str(ARTIFACTS / "supervisors-view.png"), full_page=True)
    assert world.handoffs.get(waiting.id).agent == "agent:alex"
