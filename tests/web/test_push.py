"""Push across processes: a message sent with WebChatTransport from this test process reaches
every open socket of the session within a second, whichever web app holds it, and a visitor
who was away finds it in the history. Two ``python -m web`` processes, the real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.outbound import Conversation, OutboundMessage
from bot.outbound.webchat import WebChatMailbox, WebChatTransport
from tests.web.conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, WEB_PORTS, WebApp, session_id_of, start_web, web_env
from tests.web.test_api import Visitor


@pytest.fixture(scope="module")
def two_apps(web_database_url: str, evidence_dir: Path, rest_token: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebApp, WebApp]]:
    env = web_env(web_database_url, evidence_dir, WEB_PORTS[-1], rest_token)
    log_dir = tmp_path_factory.mktemp("pushlogs")
    apps = (start_web(WEB_PORTS[3], env, log_dir), start_web(WEB_PORTS[4], env, log_dir))
    yield apps
    for app in apps:
        app.stop()


@pytest.fixture
async def transport() -> AsyncIterator[WebChatTransport]:
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    yield WebChatTransport(WebChatMailbox(client, ttl_s=86400))
    await client.close()


async def next_item(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> tuple[dict, float]:
    frame = json.loads((await ws.receive(timeout=timeout)).data)
    assert frame["type"] == "item"
    return frame["item"], time.perf_counter()


async def test_a_push_reaches_every_socket_of_the_session_on_both_processes(two_apps, transport) -> None:
    first, second = two_apps
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other_http:
        visitor, other = Visitor(first, http), Visitor(first, other_http)
        await visitor.open_page()
        await other.open_page()
        session_id = session_id_of(visitor.cookie)
        async with http.ws_connect(first.ws_url, origin=first.url) as on_first, \
                http.ws_connect(second.ws_url, origin=second.url) as on_second, \
                other_http.ws_connect(first.ws_url, origin=first.url) as someone_else:
            message = OutboundMessage("Hello, this is Priya from customer care.", author="agent",
                                      author_name="Priya, customer care")
            sent = time.perf_counter()
            await transport.send(Conversation("webchat", session_id), message, key="handoff-1")
            (item_a, at_a), (item_b, at_b) = await asyncio.gather(next_item(on_first, 1.0), next_item(on_second, 1.0))
            with pytest.raises(asyncio.TimeoutError):
                await someone_else.receive(timeout=0.5)
    assert item_a == item_b
    assert (item_a["id"], item_a["from"], item_a["text"], item_a["author_name"]) == (
        "handoff-1", "agent", "Hello, this is Priya from customer care.", "Priya, customer care",
    )
    assert max(at_a, at_b) - sent < 1.0


async def test_a_visitor_who_was_away_finds_the_push_in_the_history(two_apps, transport) -> None:
    first, second = two_apps
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = Visitor(first, http)
        await visitor.open_page()
        session_id = session_id_of(visitor.cookie)
        await transport.send(Conversation("webchat", session_id), OutboundMessage("Your callback is booked."), key="cb-1")
        await transport.send(Conversation("webchat", session_id), OutboundMessage("Your callback is booked."), key="cb-1")
        comeback = Visitor(second, http)
        await comeback.open_page()
        status, history = await comeback.history()
    assert status == 200
    assert [(i["id"], i["from"], i["text"]) for i in history["items"]] == [("cb-1", "bot", "Your callback is booked.")]
