"""The agent console over real HTTP on loopback: the whole web app (``create_app``) served by
aiohttp's test server, the real Redis, and the accounts on SQLite and on PostgreSQL.

The app's clock is a :class:`Clock` the tests move, so lockouts and session lifetimes end
without waiting.

| variable | default | meaning |
|---|---|---|
| REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis of the sessions, lockout counts and the outbound queue |
| CONSOLE_TEST_REDIS_DB | 11 | its database (flushed before and after each test) |
| E2E_PORT_OFFSET | 0 | the app listens on 15000 + offset + 60, the stand-in for Rasa's HTTP API on + 61 |

The hand-off tests file a ticket and queue its hand-off as the assistant does (:class:`World`),
and hand back to a stand-in for Rasa's HTTP API on loopback (the two calls a hand-back makes),
which records what it was sent.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestServer
from arq.worker import Worker
from sqlalchemy.orm import sessionmaker

from bot.db import make_engine, make_sessionmaker, migrate
from bot.domain_config import load_domain_config
from bot.handoff.store import HandoffRecord, HandoffRequest, HandoffStore
from bot.outbound.settings import OutboundSettings
from bot.outbound.store import OutboundStore
from bot.settings import PROJECT_ROOT
from bot.tickets import TicketRecord, TicketStore
from tests.sla.conftest import make_draft, until_idle
from web.app import create_app
from web.console.accounts import Account, AccountStore
from web.console.passwords import Passwords
from web.console.sessions import COOKIE_NAME
from web.settings import ConsolePolicy, WebSettings
from worker.main import worker_settings

REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_DB = int(os.environ.get("CONSOLE_TEST_REDIS_DB", "11"))
PORT = 15000 + int(os.environ.get("E2E_PORT_OFFSET", "0")) + 60
ORIGIN = f"http://127.0.0.1:{PORT}"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery staple"
POLICY = ConsolePolicy.parse_obj({
    "lockout": {"account": {"failures": 3, "window_s": 60, "lock_s": 120},
                "address": {"failures": 6, "window_s": 60, "lock_s": 300}},
    "password_min_chars": 12,
})
"""Small numbers so a test reaches them in a few tries."""
IDLE_S = 600
MAX_S = 3600
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
WRONG_PASSWORD_SENTENCE = "The name or password is wrong, or sign-in is paused after too many tries."


class Clock:
    """The app's time, moved by the test."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The tests' Redis database, empty before and after each test."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> str:
    """The environment ``create_app`` reads on start-up: this test's database and Redis."""
    for name, value in {
        "DATABASE_URL": db_url, "REDIS_HOST": REDIS_HOST, "REDIS_PORT": str(REDIS_PORT),
        "WEBCHAT_REDIS_DB": str(REDIS_DB), "WORKER_REDIS_DB": str(REDIS_DB),
        "EVIDENCE_DIR": str(tmp_path / "files"), "WEB_PORT": str(PORT),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("CONSOLE_SESSION_IDLE_S", "CONSOLE_SESSION_MAX_S", "CONSOLE_CLIENT_ADDRESS_HEADER",
                 "WEB_SECURE_COOKIES", "WEB_ALLOWED_ORIGINS", "COMPLAINTS_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    return db_url


@pytest.fixture
def accounts(app_env: str) -> Iterator[AccountStore]:
    """The account store on the test's (migrated) database, as the app builds it."""
    engine = make_engine(app_env)
    migrate(engine)
    yield AccountStore(make_sessionmaker(engine), Passwords(POLICY.password_min_chars))
    engine.dispose()


@pytest.fixture
def db_sessions(accounts: AccountStore) -> sessionmaker:
    return accounts._sessions


@pytest.fixture
def supervisor(accounts: AccountStore, clock: Clock) -> Account:
    return accounts.create("sam", "supervisor", PASSWORD, now=clock(), display_name="Sam Supervisor")


@pytest.fixture
def agent(accounts: AccountStore, clock: Clock) -> Account:
    return accounts.create("alex", "agent", PASSWORD, now=clock(), display_name="Alex Agent")


def console_settings(**console_changes: object) -> WebSettings:
    """The environment's settings with the tests' policy and session lifetimes."""
    settings = WebSettings.from_env()
    console = replace(settings.console, policy=POLICY, session_idle_s=IDLE_S, session_max_s=MAX_S)
    return replace(settings, console=replace(console, **console_changes))


async def serve(settings: WebSettings, clock: Clock) -> TestServer:
    server = TestServer(create_app(settings, clock=clock), host="127.0.0.1", port=PORT)
    await server.start_server()
    return server


@pytest.fixture
async def server(app_env: str, redis_client: redis.Redis, accounts: AccountStore, clock: Clock) -> AsyncIterator[TestServer]:
    """The web app with the console, listening on loopback."""
    running = await serve(console_settings(), clock)
    yield running
    await running.close()


@dataclass
class Browser:
    """One person's browser: its own cookie jar, redirects not followed (the tests read them)."""

    base: str
    http: aiohttp.ClientSession = field(init=False)

    def __post_init__(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.http.close()

    def request(self, method: str, path: str, **kwargs: object) -> aiohttp.client._RequestContextManager:
        return self.http.request(method, self.base + path, allow_redirects=False, **kwargs)  # type: ignore[arg-type]

    async def page(self, path: str) -> tuple[int, str, str]:
        """Status, Location and body of a GET."""
        async with self.request("GET", path) as response:
            return response.status, response.headers.get("Location", ""), await response.text()

    async def form_token(self) -> str:
        """The CSRF token of the sign-in form (opening it starts a session)."""
        status, _, body = await self.page("/console/sign-in")
        assert status == 200
        match = CSRF_INPUT.search(body)
        assert match is not None
        return match.group(1)

    async def sign_in(self, name: str, password: str, *, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Fill in the form as a person does: status, Location and body of the answer."""
        token = await self.form_token()
        data = {"csrf_token": token, "name": name, "password": password}
        async with self.request("POST", "/console/sign-in", data=data, headers=headers or {}) as response:
            return response.status, response.headers.get("Location", ""), await response.text()

    async def api_token(self) -> str:
        async with self.request("GET", "/console/api/me") as response:
            assert response.status == 200
            return (await response.json())["csrf_token"]

    def cookie(self) -> str | None:
        """The console session cookie's value as the browser holds it."""
        for cookie in self.http.cookie_jar:
            if cookie.key == COOKIE_NAME:
                return cookie.value
        return None


@pytest.fixture
async def browser(server: TestServer) -> AsyncIterator[Browser]:
    opened = Browser(f"http://127.0.0.1:{server.port}")
    yield opened
    await opened.close()


@pytest.fixture
async def other_browser(server: TestServer) -> AsyncIterator[Browser]:
    opened = Browser(f"http://127.0.0.1:{server.port}")
    yield opened
    await opened.close()


def session_keys(client: redis.Redis) -> set[str]:
    """The console session keys Redis holds."""
    return {key.decode() for key in client.scan_iter(f"{COOKIE_NAME}_*")}


RASA_PORT = 15000 + int(os.environ.get("E2E_PORT_OFFSET", "0")) + 61
RASA_TOKEN = "rasa-test-token"
RESUMED_TEXT = "Is there anything else I can help you with?"
REASONS = [{"rule": "asked_for_person", "evidence": "a person please"}]
REASON = "The customer asked to talk to a person."


@dataclass
class RasaCalls:
    """What the stand-in for Rasa was asked: (path, token, JSON body) in order."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)


@pytest.fixture
async def rasa(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RasaCalls]:
    """Rasa's ``tracker/events`` and ``execute`` endpoints, answering as Rasa 3.6 does."""
    seen = RasaCalls()

    async def events(request: web.Request) -> web.Response:
        seen.calls.append((request.path, request.query.get("token", ""), await request.json()))
        return web.json_response({"sender_id": request.match_info["sender"], "events": []})

    async def execute(request: web.Request) -> web.Response:
        seen.calls.append((request.path, request.query.get("token", ""), await request.json()))
        sender = request.match_info["sender"]
        return web.json_response({"tracker": {"sender_id": sender},
                                  "messages": [{"recipient_id": sender, "text": RESUMED_TEXT}]})

    app = web.Application()
    app.router.add_post("/conversations/{sender}/tracker/events", events)
    app.router.add_post("/conversations/{sender}/execute", execute)
    server = TestServer(app, host="127.0.0.1", port=RASA_PORT)
    await server.start_server()
    for name, value in {"RASA_HOST": "127.0.0.1", "RASA_PORT": str(RASA_PORT), "RASA_PROCESSES": "1",
                        "RASA_AUTH_TOKEN": RASA_TOKEN}.items():
        monkeypatch.setenv(name, value)
    yield seen
    await server.close()


@dataclass
class World:
    """The stores the console writes to, read back by the tests."""

    tickets: TicketStore
    handoffs: HandoffStore
    outbound: OutboundStore

    def hand_over(self, sender: str = "web:customer-1", priority: str = "P2", *, at: datetime = START,
                  reasons: list[dict[str, Any]] = REASONS, **ticket: Any) -> tuple[TicketRecord, HandoffRecord]:
        """File an escalated ticket for ``sender`` at ``at`` and queue its hand-off, as the assistant does."""
        draft = make_draft(at, load_domain_config(PROJECT_ROOT / "settings").sla, sender_id=sender,
                           status=ticket.pop("status", "escalated"), priority=priority, **ticket)
        filed = self.tickets.create(draft, at)
        request = HandoffRequest(ticket_number=filed.number, channel="webchat", sender_id=sender, reasons=reasons,
                                 priority=priority)
        return filed, self.handoffs.open(request, state="waiting", now=at, wait_estimate_s=300)


@pytest.fixture
def world(app_env: str, accounts: Any) -> Iterator[World]:
    """The stores on the test's database (migrated by ``accounts``)."""
    engine = make_engine(app_env)
    sessions = make_sessionmaker(engine)
    yield World(TicketStore(sessions, attempts=3, delay_s=0.05), HandoffStore(sessions), OutboundStore(sessions))
    engine.dispose()


@pytest.fixture
async def console(app_env: str, redis_client: Any, accounts: Any, clock: Any, rasa: RasaCalls) -> AsyncIterator[TestServer]:
    """The web app with the console, its hand-back reaching the stand-in for Rasa."""
    running = await serve(console_settings(), clock)
    yield running
    await running.close()


# --- The console's people as signed-in browsers (alex and bea, agents; sam, a supervisor), and the
# two calls every hand-off test makes: a CSRF-carrying JSON POST and a JSON GET.

@pytest.fixture
def second_agent(accounts: AccountStore, clock: Clock) -> Account:
    return accounts.create("bea", "agent", PASSWORD, now=clock(), display_name="Bea Agent")


async def signed_in_browser(server: TestServer, name: str) -> Browser:
    opened = Browser(f"http://127.0.0.1:{server.port}")
    status, _, _ = await opened.sign_in(name, PASSWORD)
    assert status == 303
    return opened


@pytest.fixture
async def alex(console: TestServer) -> AsyncIterator[Browser]:
    opened = await signed_in_browser(console, "alex")
    yield opened
    await opened.close()


@pytest.fixture
async def bea(console: TestServer, second_agent: Account) -> AsyncIterator[Browser]:
    opened = await signed_in_browser(console, "bea")
    yield opened
    await opened.close()


@pytest.fixture
async def sam(console: TestServer) -> AsyncIterator[Browser]:
    opened = await signed_in_browser(console, "sam")
    yield opened
    await opened.close()


async def post(browser: Browser, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    token = await browser.api_token()
    async with browser.request("POST", path, json=body or {}, headers={"X-CSRF-Token": token}) as response:
        return response.status, await response.json()


async def get_json(browser: Browser, path: str) -> tuple[int, Any]:
    async with browser.request("GET", path) as response:
        return response.status, await response.json()


async def run_worker(database_url: str, clock: Callable[[], datetime] | None = None,
                     rasa_urls: tuple[str, ...] = ("http://127.0.0.1:9",), rasa_token: str = "unused") -> None:
    """The worker as the product builds it (its queue on the console tests' Redis database), until its
    start-up sweeps have run and nothing is due; ``clock`` is the time its sweeps read."""
    settings = OutboundSettings(redis_host=REDIS_HOST, redis_port=REDIS_PORT, redis_db=REDIS_DB, max_attempts=3,
                                retry_base_s=0.05, retry_max_s=0.2, send_timeout_s=2.0, sweep_batch=100,
                                rasa_urls=rasa_urls)
    kwargs = worker_settings(settings, database_url=database_url, rasa_token=rasa_token, transport_modules=(),
                             clock=clock)
    worker = Worker(**kwargs, burst=False, poll_delay=0.01, handle_signals=False)
    running = asyncio.create_task(worker.main())
    try:
        await asyncio.wait_for(until_idle(worker, running), timeout=30)
    finally:
        running.cancel()
        await asyncio.wait({running}, timeout=5)
        await asyncio.wait_for(worker.close(), timeout=15)
