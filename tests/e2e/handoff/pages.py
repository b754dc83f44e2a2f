"""The two screens of a hand-off in Chromium: the customer's web chat page and the agent's console.

Only what a person does: type, press Enter, click, read the page. Waits are on what the page
shows (or, for the console's live channel, on the WebSocket frames Chromium saw), never on
fixed sleeps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import yaml
from playwright.async_api import Browser, Page, WebSocket

from scripts.stack import ROOT
from tests.e2e.handoff.conftest import APP_DB, ARTIFACTS, PASSWORD, REDIS_HOST, REDIS_PORT, Person

WAIT_MS = 60_000
"""A Rasa turn on a busy two-core machine can take seconds; a lost message never arrives at all."""

_RESPONSES = yaml.safe_load(Path(ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def said(response: str, **slots: Any) -> str:
    """The text of a one-variant response of domain.yml, filled in."""
    [variant] = _RESPONSES[response]
    return variant["text"].format(**slots)


RESUMED = said("utter_anything_else")
ASKED_FOR_PERSON = said("utter_handoff_intro_asked")


def waiting_text(ticket_number: str, wait_estimate_s: int | None) -> str:
    """What the customer is told while a person is on the way, for the wait the hand-off row keeps."""
    if wait_estimate_s is None:
        return said("utter_handoff_waiting_unknown", ticket_number=ticket_number)
    return said("utter_handoff_waiting", ticket_number=ticket_number, wait_minutes=wait_estimate_s // 60)


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class CustomerPage:
    """A customer on the web chat page (a browser context of their own)."""

    page: Page
    base: str

    @classmethod
    async def open(cls, browser: Browser, base: str) -> "CustomerPage":
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{base}/")
        await page.wait_for_selector("body[data-connected='true']")
        return cls(page, base)

    async def sender_id(self) -> str:
        """The conversation's sender id, from the server's session (the page never sees it)."""
        cookie = next(c["value"] for c in await self.page.context.cookies() if c["name"] == "webchat_session")
        raw = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=int(APP_DB)).get(f"webchat_session_{cookie}")
        assert raw is not None
        return f"web:{json.loads(raw)['session']['session_id']}"

    async def items(self) -> list[tuple[str, str | None, str]]:
        """Everything the page shows, in order: (from, author shown, text)."""
        return [tuple(item) for item in await self.page.eval_on_selector_all("#log li", """items => items.map(li => [
            li.dataset.from, li.querySelector('.msg__author') ? li.querySelector('.msg__author').textContent : null,
            li.querySelector('.msg__text').textContent])""")]

    async def say(self, text: str) -> list[tuple[str, str | None, str]]:
        """Type a message and press Enter; the items it added once the page stopped waiting (the
        customer's own first; for a paused conversation nothing else)."""
        before = len(await self.items())
        await self.page.fill("#message", text)
        await self.page.press("#message", "Enter")
        await self.page.wait_for_function(
            "([before, text]) => { const items = [...document.querySelectorAll('#log li')];"
            " return document.getElementById('typing').hidden && items.length > before"
            " && items.slice(before).some(li => li.dataset.from === 'customer'"
            " && li.querySelector('.msg__text').textContent === text); }",
            arg=[before, text], timeout=WAIT_MS,
        )
        return (await self.items())[before:]

    async def wait_for_items(self, count: int) -> list[tuple[str, str | None, str]]:
        """Wait until the page shows ``count`` items (a pushed message arriving); all of them."""
        await self.page.wait_for_function("n => document.querySelectorAll('#log li').length >= n", arg=count,
                                          timeout=WAIT_MS)
        return await self.items()

    async def wait_connected(self) -> None:
        await self.page.wait_for_selector("body[data-connected='true']", timeout=WAIT_MS)

    async def close(self) -> None:
        await self.page.context.close()


@dataclass
class ConsolePage:
    """An agent at the console (a browser context of their own). Records the frames of every
    console WebSocket the page receives, so a test knows when the live channel is open and when
    the server has the page watching a conversation."""

    page: Page
    base: str
    frames_received: list[str] = field(default_factory=list)

    @classmethod
    async def sign_in(cls, browser: Browser, base: str, person: Person) -> "ConsolePage":
        context = await browser.new_context()
        page = await context.new_page()
        console = cls(page, base)
        page.on("websocket", console._record)
        await page.goto(f"{base}/console/sign-in")
        await page.fill("#name", person.name)
        await page.fill("#password", PASSWORD)
        greeted = len(console.frames_received)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console/", timeout=WAIT_MS)
        await console._wait_frames(greeted)
        return console

    def _record(self, socket: WebSocket) -> None:
        def text(payload: str | bytes) -> str:
            return payload if isinstance(payload, str) else payload.decode()

        socket.on("framereceived", lambda payload: self.frames_received.append(text(payload)))

    async def _wait_frames(self, before: int) -> None:
        """Until a frame arrives after the first ``before``: the greeting of a newly opened socket."""
        for _ in range(WAIT_MS // 50):
            if len(self.frames_received) > before:
                return
            await self.page.wait_for_timeout(50)
        raise AssertionError("the console's live channel never greeted the page")

    async def open_queue(self) -> None:
        """Go to the queue page and wait until its live channel is open."""
        greeted = len(self.frames_received)
        await self.page.goto(f"{self.base}/console/")
        await self._wait_frames(greeted)

    async def wait_row(self, handoff_id: int) -> list[str]:
        """The queue row of a hand-off, once it is on the page: its cells' texts."""
        row = self.page.locator(f"#queue-rows tr[data-handoff='{handoff_id}']")
        await row.wait_for(timeout=WAIT_MS)
        return await row.locator("td").all_text_contents()

    async def claim_from_queue(self, handoff_id: int) -> None:
        """Click the row's Claim; the conversation page opens and watches the conversation."""
        watched = len(self.frames_received)
        await self.page.locator(f"#queue-rows tr[data-handoff='{handoff_id}'] button.claim").click()
        await self.page.wait_for_url(f"{self.base}/console/handoffs/{handoff_id}", timeout=WAIT_MS)
        await self.page.locator("#handoff-state", has_text="claimed").wait_for(timeout=WAIT_MS)
        await self.wait_watching(handoff_id, after=watched)

    async def wait_watching(self, handoff_id: int, after: int = 0) -> None:
        """Until the server has confirmed that the page's socket watches the conversation."""
        wanted = {"type": "watching", "handoff_id": handoff_id}
        for _ in range(WAIT_MS // 50):
            if any(json.loads(frame) == wanted for frame in self.frames_received[after:]):
                return
            await self.page.wait_for_timeout(50)
        raise AssertionError(f"the console page never watched hand-off {handoff_id}")

    async def reload(self, handoff_id: int) -> None:
        """Reload the conversation page (from SQL) and watch it again."""
        watched = len(self.frames_received)
        await self.page.reload()
        await self.wait_watching(handoff_id, after=watched)

    async def transcript(self) -> list[tuple[str, str, str]]:
        """The conversation page's transcript: (kind, who, text) per line."""
        return [tuple(line) for line in await self.page.eval_on_selector_all("#transcript li", """items => items.map(li => [
            li.classList[1], li.querySelector('.who').textContent, li.querySelector('.text').textContent])""")]

    async def wait_line(self, kind: str, text: str, count: int = 1) -> list[tuple[str, str, str]]:
        """Until the transcript shows ``count`` lines of ``kind`` with exactly ``text``; the transcript."""
        await self.page.wait_for_function(
            "([kind, text, count]) => [...document.querySelectorAll('#transcript li.' + kind + ' .text')]"
            ".filter(t => t.textContent === text).length >= count",
            arg=[kind, text, count], timeout=WAIT_MS,
        )
        return await self.transcript()

    async def reply(self, text: str) -> None:
        """Send a message to the customer; returns once the console shows it as sent."""
        count = sum(1 for kind, _, line in await self.transcript() if kind == "agent" and line == text)
        await self.page.fill("#reply", text)
        await self.page.click("#reply-form button[type=submit]")
        await self.wait_line("agent", text, count + 1)

    async def note(self, text: str) -> None:
        await self.page.fill("#note", text)
        await self.page.click("#note-form button[type=submit]")
        await self.page.locator("#notes li", has_text=text).wait_for(timeout=WAIT_MS)

    async def hand_back(self) -> None:
        await self.page.click("#hand-back-button")
        await self.page.locator("#handoff-state", has_text="returned").wait_for(timeout=WAIT_MS)

    async def resolve(self) -> None:
        await self.page.click("#resolve-button")
        await self.page.locator("#handoff-state", has_text="returned").wait_for(timeout=WAIT_MS)

    async def error_text(self) -> str | None:
        box = self.page.locator("#conversation-error")
        return None if await box.is_hidden() else await box.text_content()

    async def close(self) -> None:
        await self.page.context.close()


def console_lines(exchange: list[tuple[str, str]], agent: Person) -> list[tuple[str, str, str]]:
    """How the console's transcript shows an exchange of (who, words)."""
    return [(who, agent.display_name if who == "agent" else who, words) for who, words in exchange]


async def talk(customer: CustomerPage, console: ConsolePage, exchange: list[tuple[str, str]],
               shown: list[tuple[str, str | None, str]], agent: Person) -> None:
    """Each (who, words) of ``exchange`` typed on its side and awaited on the other; ``shown``, what
    the customer's page showed before, grows with it and is checked whole after each agent message."""
    for who, words in exchange:
        if who == "customer":
            added = await customer.say(words)
            assert added == [("customer", None, words)], added  # the assistant stays silent
            await console.wait_line("customer", words)
            shown.append(("customer", None, words))
        else:
            await console.reply(words)
            shown.append(("agent", agent.display_name, words))
            now_shown = await customer.wait_for_items(len(shown))
            assert now_shown == shown, now_shown


async def customer_and_agent(browser: Browser, base: str, agent: Person) -> tuple[CustomerPage, str, ConsolePage]:
    """A customer on the web chat page, their conversation's sender id, and an agent signed in, each in a browser context of their own."""
    customer = await CustomerPage.open(browser, base)
    return customer, await customer.sender_id(), await ConsolePage.sign_in(browser, base, agent)
