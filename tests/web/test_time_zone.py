"""The browser's time zone, sent by the page with every message, reaches the ticket (a complaint
told over the WebSocket) and the call back (a pushed offer's time pressed) through the real stack (two Rasa servers, the action server, Redis, SQLite); a zone
the tz database does not know is dropped and the defaults apply."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.callbacks.policy import parse_callback_policy
from bot.callbacks.service import pushed_payload
from bot.callbacks.slots import free_slots, slot_label
from bot.callbacks.store import CallbackStore
from bot.db import make_engine, make_sessionmaker
from bot.tickets import TicketStore
from tests.round_the_clock import round_the_clock_settings
from tests.web.complaint import tell_complaint
from tests.web.conftest import WebApp
from tests.web.test_api import Visitor

NUMBER = re.compile(r"\bCX-[0-9A-Z]{6}\b")


class Page:
    """The page's WebSocket: every message carries the browser's ``time_zone``, as chat.js sends it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, time_zone: str) -> None:
        self.ws, self.time_zone = ws, time_zone

    async def send(self, text: str) -> list[dict[str, Any]]:
        await self.ws.send_json({"type": "message", "text": text, "title": None, "time_zone": self.time_zone})
        while True:
            frame = json.loads((await self.ws.receive(timeout=60)).data)
            if frame["type"] == "done":
                assert "error" not in frame, frame
                return [item for item in frame["items"] if item["from"] == "bot"]


def ticket_number(replies: list[dict[str, Any]]) -> str:
    found = [match.group() for reply in replies for match in NUMBER.finditer(reply["text"])]
    assert found, [reply["text"] for reply in replies]
    return found[0]


async def test_the_browsers_zone_reaches_the_ticket_and_the_booked_call(
    live_web: list[WebApp], web_store: TicketStore, web_database_url: str, tmp_path: Path
) -> None:
    app = live_web[0]
    policy = parse_callback_policy(round_the_clock_settings(tmp_path) / "callbacks.yml")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await Visitor(app, http).open_page()
        async with http.ws_connect(app.ws_url, origin=app.url) as ws:
            page = Page(ws, "America/New_York")
            told = await tell_complaint(page.send, lambda button: page.send(button["payload"]))
            number = told.ticket_number
            assert number, told.bot_texts
            slot = free_slots(policy, datetime.now(timezone.utc), {})[3]
            booked = await page.send(pushed_payload(slot.iso(), number))

    assert web_store.get(number).customer_timezone == "America/New_York"
    label = slot_label(slot, ZoneInfo("America/New_York"))
    assert booked[0]["text"].startswith(f"Booked: we'll call you about ticket {number} on {label}.")
    assert label.endswith(("EST", "EDT"))
    engine = make_engine(web_database_url)
    try:
        call = CallbackStore(make_sessionmaker(engine), capacity=policy.capacity_per_slot).active_for_sender(
            web_store.get(number).sender_id
        )
    finally:
        engine.dispose()
    assert (call.ticket_number, call.slot_start, call.customer_timezone) == (number, slot.start, "America/New_York")


@pytest.mark.parametrize("sent", ["Mars/Olympus_Mons", "../../etc/passwd", 42])
async def test_a_zone_the_tz_database_does_not_know_is_dropped(
    sent: Any, live_web: list[WebApp], web_store: TicketStore
) -> None:
    app = live_web[1]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = Visitor(app, http)
        await visitor.open_page()
        status, body = await visitor.post("/api/messages", json={"text": "/ask_human", "title": None, "time_zone": sent})
    assert status == 200
    number = ticket_number([item for item in body["items"] if item["from"] == "bot"])
    assert web_store.get(number).customer_timezone is None
