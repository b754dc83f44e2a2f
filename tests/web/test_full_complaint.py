"""A whole complaint through the web app's WebSocket to the real stack (two Rasa servers,
the action server, Redis, SQLite): the ticket is filed for the server-issued sender id."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.tickets import TicketStore
from tests.web.complaint import REFUNDS, tell_complaint
from tests.web.conftest import WebApp, session_id_of
from tests.web.test_api import Visitor

EXPECTED_CHANNEL = "webchat"
"""What Rasa records today for the web app's messages (they come through the REST channel).
Lead: "webchat" once bot/channels.py (sender prefix "web:" -> "webchat") is merged."""


async def test_a_complaint_told_over_the_websocket_is_filed_for_this_session(
    live_web: list[WebApp], web_store: TicketStore
) -> None:
    app = live_web[0]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = Visitor(app, http)
        await visitor.open_page()
        async with http.ws_connect(app.ws_url, origin=app.url) as ws:

            async def send(text: str, title: str | None = None) -> list[dict[str, Any]]:
                await ws.send_json({"type": "message", "text": text, "title": title})
                while True:
                    frame = json.loads((await ws.receive(timeout=60)).data)
                    if frame["type"] == "done":
                        assert "error" not in frame, frame
                        return [i for i in frame["items"] if i["from"] == "bot"]

            told = await tell_complaint(send, lambda button: send(button["payload"], button["title"]))
        status, history = await visitor.history()
        sender_id = f"web:{session_id_of(visitor.cookie)}"

    assert told.ticket_number, told.bot_texts
    assert told.pressed == [told.pressed[0], "Yes, file it"]
    ticket = web_store.get(told.ticket_number)
    assert ticket is not None
    assert (ticket.sender_id, ticket.channel) == (sender_id, EXPECTED_CHANNEL)
    assert (ticket.customer_name, ticket.contact, ticket.contact_kind, ticket.order_ref) == (
        "Jane Morris", "jane.morris@example.com", "email", "88412",
    )
    assert ticket.desired_outcome_kind == "refund"
    assert ticket.chosen_option in REFUNDS  # the wish came first, whichever category the model chose
    customer_words = [i["text"] for i in history["items"] if i["from"] == "customer"]
    assert customer_words[0] == "I ordered a kettle on the 3rd (order 88412), it arrived with a cracked lid and your driver just shrugged. I want my money back."
    assert customer_words[-1] == "Yes, file it"
    assert history["items"][-1]["text"] == told.bot_texts[-1]
