"""Hand-off latency both ways, with many conversations taken over by agents at once.

Usage: ``python bench/handoff_latency.py [--conversations 50] [--telegram 10] [--agents 10]
[--rounds 10] [--warmup 1] [--think 1.0]``

Starts the whole stack as ``make run`` does (two Rasa servers with the current trained model, or
``E2E_MODEL``; the action server; the web app with the console; the worker; the real Redis; a
fresh SQLite file, or with ``--postgres URL`` a fresh schema in that PostgreSQL database, dropped
afterwards) with the Telegram channel pointed at the local Bot API
stand-in (its own process), on ports of its own. Then:

1. ``--conversations`` customers complain and ask for a person, through the real model:
   ``--telegram`` of them on Telegram (updates POSTed to the webhook with the secret), the rest on
   the web chat (the page's session and WebSocket). Each is handed over (``action_handoff``).
2. ``--agents`` agents sign in at the console (the form, then the API's CSRF token), claim the
   conversations in turn and open one console WebSocket per conversation, watching it, as its
   conversation page does.
3. Every conversation at once, ``--warmup`` rounds unmeasured and then ``--rounds`` measured: the
   customer writes (timed from the send to the notice arriving on the agent's socket), then after
   a pause the agent replies with ``POST /console/api/handoffs/{id}/messages`` (timed from the POST
   to the item arriving on the customer's web chat socket, or to the stand-in receiving Telegram's
   ``sendMessage``, by its record's monotonic clock), then another pause. Pauses are drawn
   uniformly from 0 to twice ``--think`` seconds, so the conversations do not march in step.

Prints p50, p99 and the maximum each way, overall and per channel (target: p99 < 1 s each way),
messages that never arrived (within 30 s), and the load average; writes
``bench/results/handoff-<timestamp>.json``. Ports 15000 + ``E2E_PORT_OFFSET`` + 140/141 (Rasa),
+145 (actions), +146 (web), +147 (stand-in); Redis (``REDIS_HOST``/``REDIS_PORT``) databases
``BENCH_REDIS_DBS`` (default 3,5,6: trackers, locks, web chat / job queue / Telegram), flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import redis
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.load import percentile  # noqa: E402
from bot.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from bot.handoff.store import HandoffStore  # noqa: E402
from scripts.stack import Stack, stack_environment  # noqa: E402
from scripts.telegram_standin import SECRET_HEADER, StandinState, text_update  # noqa: E402
from web.console.accounts import AccountStore  # noqa: E402
from web.console.passwords import Passwords  # noqa: E402

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
OFFSET = int(os.environ.get("E2E_PORT_OFFSET", "0"))
PORT_BASE = 15000 + OFFSET
RASA_PORT, ACTION_PORT, WEB_PORT, STANDIN_PORT = PORT_BASE + 140, PORT_BASE + 145, PORT_BASE + 146, PORT_BASE + 147
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
TRACKER_DB, LOCK_DB, APP_DB = os.environ.get("BENCH_REDIS_DBS", "3,5,6").split(",")
PASSWORD = "bench agent password 0123"
OPENING = ("I bought a toaster on your website on the 3rd, order 55120, and it stopped working after two days. "
           "I want a replacement.")
ASK_FOR_PERSON = "Can I talk to a real person please?"
ARRIVAL_TIMEOUT_S = 30.0
SETUP_AT_ONCE = 5
"""Customers complaining at once while the hand-offs are set up (not measured)."""
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Arrivals:
    """Texts awaited on one socket (or the stand-in's record): each resolves with its arrival time."""

    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    def expect(self, text: str) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[text] = future
        return future

    def arrived(self, text: str, at: float) -> None:
        future = self.waiting.pop(text, None)
        if future is not None and not future.done():
            future.set_result(at)


async def read_socket(ws: aiohttp.ClientWebSocketResponse, arrivals: Arrivals, kind: str) -> None:
    """Resolve arrivals from a socket's frames: ``chat`` notices of the customer's words on a console
    socket, ``item`` frames of an agent's words on a web chat socket."""
    async for message in ws:
        at = time.monotonic()
        if message.type != aiohttp.WSMsgType.TEXT:
            continue
        frame = json.loads(message.data)
        if kind == "console" and frame.get("type") == "chat" and frame["notice"].get("sender") == "customer":
            arrivals.arrived(frame["notice"]["text"], at)
        elif kind == "webchat" and frame.get("type") == "item" and frame["item"].get("from") == "agent":
            arrivals.arrived(frame["item"]["text"], at)


@dataclass
class Conversation:
    """One customer, their hand-off, and the sockets both sides listen on."""

    index: int
    channel: str
    sender: str = ""
    handoff_id: int = 0
    customer_http: aiohttp.ClientSession | None = None
    customer_ws: aiohttp.ClientWebSocketResponse | None = None
    chat_id: int = 0
    to_customer: Arrivals = field(default_factory=Arrivals)
    to_agent: Arrivals = field(default_factory=Arrivals)
    agent: "Agent | None" = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class Agent:
    name: str
    display_name: str
    http: aiohttp.ClientSession
    csrf: str = ""


@dataclass
class Samples:
    """Latencies in seconds, by direction and channel, and what never arrived."""

    to_agent: dict[str, list[float]] = field(default_factory=lambda: {"webchat": [], "telegram": []})
    to_customer: dict[str, list[float]] = field(default_factory=lambda: {"webchat": [], "telegram": []})
    lost: dict[str, int] = field(default_factory=lambda: {"to_agent": 0, "to_customer": 0})


class Bench:
    def __init__(self, stack: Stack, standin_url: str, updates: StandinState, secret: str, database_url: str) -> None:
        self.stack = stack
        self.web = stack.web_url
        self.standin_url = standin_url
        self.updates = updates
        self.secret = secret
        self.handoffs = HandoffStore(make_sessionmaker(make_engine(database_url)))
        self.sessions = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=int(APP_DB))
        self.telegram = Arrivals()
        self.telegram_seen = 0

    # -- the customers ----------------------------------------------------------------------------

    async def open_customer(self, conversation: Conversation, http: aiohttp.ClientSession) -> None:
        """Complain, ask for a person, and find the hand-off the assistant queued."""
        if conversation.channel == "webchat":
            own = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            async with own.get(f"{self.web}/") as page:
                await page.read()
            cookie = own.cookie_jar.filter_cookies(self.web)["webchat_session"].value
            conversation.sender = f"web:{json.loads(self.sessions.get(f'webchat_session_{cookie}'))['session']['session_id']}"
            conversation.customer_http = own
            conversation.customer_ws = await own.ws_connect(f"{self.web.replace('http', 'ws', 1)}/ws", origin=self.web)
            for text in (OPENING, ASK_FOR_PERSON):
                await conversation.customer_ws.send_json({"type": "message", "text": text})
                while (await conversation.customer_ws.receive_json(timeout=120))["type"] != "done":
                    pass
        else:
            conversation.chat_id = 900_000_000 + secrets.randbelow(10**8)
            conversation.sender = f"tg:{conversation.chat_id}"
            for text in (OPENING, ASK_FOR_PERSON):
                await self.telegram_say(http, conversation, text)
        for _ in range(100):
            record = await asyncio.to_thread(self.handoffs.live_for_sender, conversation.sender)
            if record is not None:
                conversation.handoff_id = record.id
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"conversation {conversation.index} was not handed over")

    async def telegram_say(self, http: aiohttp.ClientSession, conversation: Conversation, text: str) -> None:
        """POST the customer's update to the webhook, alternating the Rasa servers as a proxy would."""
        update = text_update(self.updates, conversation.chat_id, text)
        url = self.stack.rasa_urls[update["update_id"] % len(self.stack.rasa_urls)]
        async with http.post(f"{url}/webhooks/telegram/webhook", json=update, headers={SECRET_HEADER: self.secret},
                             timeout=aiohttp.ClientTimeout(total=120)) as answer:
            if answer.status != 200:
                raise RuntimeError(f"the webhook answered {answer.status}")

    async def customer_says(self, http: aiohttp.ClientSession, conversation: Conversation, text: str) -> None:
        if conversation.channel == "webchat":
            assert conversation.customer_ws is not None
            await conversation.customer_ws.send_json({"type": "message", "text": text})
        else:
            await self.telegram_say(http, conversation, text)

    async def follow_standin(self) -> None:
        """Resolve Telegram arrivals from the stand-in's record (its monotonic clock is this machine's)."""
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(f"{self.standin_url}/_standin/sent", params={"since": self.telegram_seen}) as answer:
                    calls = await answer.json()
                self.telegram_seen += len(calls)
                for call in calls:
                    if call["method"] == "sendMessage":
                        self.telegram.arrived(f"{call['params']['chat_id']}:{call['params']['text']}", call["at"])
                await asyncio.sleep(0.02)

    # -- the agents -------------------------------------------------------------------------------

    async def sign_in(self, name: str, display_name: str) -> Agent:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with http.get(f"{self.web}/console/sign-in") as form:
            token = CSRF_INPUT.search(await form.text())
        assert token is not None
        data = {"csrf_token": token.group(1), "name": name, "password": PASSWORD}
        async with http.post(f"{self.web}/console/sign-in", data=data, allow_redirects=False) as answer:
            assert answer.status in (302, 303), answer.status
        async with http.get(f"{self.web}/console/api/me") as me:
            csrf = (await me.json())["csrf_token"]
        return Agent(name, display_name, http, csrf)

    async def take(self, agent: Agent, conversation: Conversation) -> None:
        """Claim the conversation and open its console socket, watching it."""
        async with agent.http.post(f"{self.web}/console/api/handoffs/{conversation.handoff_id}/claim",
                                   headers={"X-CSRF-Token": agent.csrf}) as answer:
            assert answer.status == 200, answer.status
        ws = await agent.http.ws_connect(f"{self.web.replace('http', 'ws', 1)}/console/ws", origin=self.web)
        assert (await ws.receive_json(timeout=30))["type"] == "hello"
        await ws.send_json({"type": "watch", "handoff_id": conversation.handoff_id})
        while (frame := await ws.receive_json(timeout=30))["type"] != "watching":
            assert frame["type"] == "queue", frame
        conversation.agent = agent
        conversation.tasks.append(asyncio.create_task(read_socket(ws, conversation.to_agent, "console")))
        if conversation.customer_ws is not None:
            conversation.tasks.append(asyncio.create_task(read_socket(conversation.customer_ws, conversation.to_customer, "webchat")))

    async def agent_says(self, conversation: Conversation, text: str) -> None:
        agent = conversation.agent
        assert agent is not None
        async with agent.http.post(f"{self.web}/console/api/handoffs/{conversation.handoff_id}/messages",
                                   json={"text": text}, headers={"X-CSRF-Token": agent.csrf}) as answer:
            if answer.status != 201:
                raise RuntimeError(f"the console answered {answer.status}")

    # -- the measurement --------------------------------------------------------------------------

    async def converse(self, http: aiohttp.ClientSession, conversation: Conversation, rounds: int, warmup: int,
                       think: float, samples: Samples) -> None:
        for round_ in range(warmup + rounds):
            measured = round_ >= warmup
            await asyncio.sleep(random.uniform(0, 2 * think))
            words = f"[{conversation.index}.{round_}] Any news about my toaster?"
            arrival = conversation.to_agent.expect(words)
            sent = time.monotonic()
            await self.customer_says(http, conversation, words)
            await self._record(arrival, sent, samples.to_agent[conversation.channel], samples, "to_agent", measured)

            await asyncio.sleep(random.uniform(0, 2 * think))
            assert conversation.agent is not None
            reply = f"[{conversation.index}.{round_}] Yes: a new toaster is on its way."
            if conversation.channel == "webchat":
                arrival = conversation.to_customer.expect(reply)
            else:
                arrival = self.telegram.expect(f"{conversation.chat_id}:{conversation.agent.display_name}:\n{reply}")
            sent = time.monotonic()
            await self.agent_says(conversation, reply)
            await self._record(arrival, sent, samples.to_customer[conversation.channel], samples, "to_customer", measured)

    @staticmethod
    async def _record(arrival: asyncio.Future[float], sent: float, into: list[float], samples: Samples, way: str,
                      measured: bool) -> None:
        try:
            at = await asyncio.wait_for(arrival, ARRIVAL_TIMEOUT_S)
        except asyncio.TimeoutError:
            if measured:
                samples.lost[way] += 1
            return
        if measured:
            into.append(at - sent)


def figures(values: Sequence[float]) -> dict[str, Any]:
    def ms(q: float) -> float | None:
        value = percentile(values, q)
        return None if value is None else round(value * 1000, 1)

    return {"count": len(values), "p50_ms": ms(50), "p99_ms": ms(99),
            "max_ms": round(max(values) * 1000, 1) if values else None}


async def run(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    conversations = [Conversation(i, "telegram" if i < args.telegram else "webchat") for i in range(args.conversations)]
    follower = asyncio.create_task(bench.follow_standin())
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        gate = asyncio.Semaphore(SETUP_AT_ONCE)

        async def open_one(conversation: Conversation) -> None:
            async with gate:
                await bench.open_customer(conversation, http)

        await asyncio.gather(*(open_one(c) for c in conversations))
        agents = [await bench.sign_in(f"agent{n}", f"Agent {n}") for n in range(args.agents)]
        for conversation in conversations:
            await bench.take(agents[conversation.index % len(agents)], conversation)
        print(f"{len(conversations)} conversations handed over and claimed by {len(agents)} agents "
              f"in {time.monotonic() - started:.0f} s; measuring", flush=True)
        samples = Samples()
        load_before = os.getloadavg()
        started = time.monotonic()
        await asyncio.gather(*(bench.converse(http, c, args.rounds, args.warmup, args.think, samples)
                               for c in conversations))
        wall = time.monotonic() - started
        load_after = os.getloadavg()
    follower.cancel()
    for conversation in conversations:
        for task in conversation.tasks:
            task.cancel()
        if conversation.customer_http is not None:
            await conversation.customer_http.close()
    for agent in agents:
        await agent.http.close()
    both = {way: {"all": figures([x for values in by_channel.values() for x in values]),
                  **{channel: figures(values) for channel, values in by_channel.items()}}
            for way, by_channel in (("customer_to_agent", samples.to_agent), ("agent_to_customer", samples.to_customer))}
    messages = sum(f["all"]["count"] for f in both.values())
    return {**both, "lost": samples.lost, "measured_wall_s": round(wall, 1),
            "messages_per_s": round(messages / wall, 2), "load_average_before": load_before,
            "load_average_after": load_after}


def fresh_schema(url: str, schema: str) -> str:
    """Create ``schema`` in the PostgreSQL database at ``url``; a URL that sees only that schema."""
    admin = create_engine(url, future=True)
    with admin.begin() as connection:
        connection.execute(sql(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url, future=True)
    with admin.begin() as connection:
        connection.execute(sql(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--telegram", type=int, default=10, help="how many of the conversations are on Telegram")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds (a message each way) per conversation")
    parser.add_argument("--warmup", type=int, default=1, help="rounds before those, not measured")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause in seconds before each message")
    parser.add_argument("--postgres", metavar="URL",
                        help="a PostgreSQL database to hold the tickets in a fresh schema (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    if not 0 <= args.telegram <= args.conversations or args.agents < 1:
        parser.error("need 0 <= --telegram <= --conversations and at least one agent")
    from scripts.train_model import model_path
    from tests.round_the_clock import round_the_clock_settings

    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    work = Path(tempfile.mkdtemp(prefix="bench-handoff-"))
    schema = f"bench_handoff_{secrets.token_hex(6)}" if args.postgres else None
    database_url = fresh_schema(args.postgres, schema) if args.postgres and schema else f"sqlite:///{work / 'tickets.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    accounts = AccountStore(make_sessionmaker(engine), Passwords(12))
    for n in range(args.agents):
        accounts.create(f"agent{n}", "agent", PASSWORD, now=datetime.now(timezone.utc), display_name=f"Agent {n}")
    engine.dispose()
    token, secret = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}", secrets.token_urlsafe(32)
    standin_url = f"http://127.0.0.1:{STANDIN_PORT}"
    # its own process, so the load generator here does not slow the stand-in down
    standin = subprocess.Popen([sys.executable, "-m", "scripts.telegram_standin", "--port", str(STANDIN_PORT),
                                "--token", token], cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    env = stack_environment({
        "RASA_PORT": str(RASA_PORT), "RASA_PROCESSES": "2", "ACTION_PORT": str(ACTION_PORT), "WEB_PORT": str(WEB_PORT),
        "REDIS_HOST": REDIS_HOST, "REDIS_PORT": str(REDIS_PORT), "REDIS_TRACKER_DB": TRACKER_DB,
        "REDIS_LOCK_DB": LOCK_DB, "WORKER_REDIS_DB": APP_DB, "WEBCHAT_REDIS_DB": APP_DB, "TELEGRAM_REDIS_DB": APP_DB,
        "DATABASE_URL": database_url, "COMPLAINTS_SPOOL_DIR": str(work / "spool"), "EVIDENCE_DIR": str(work / "files"),
        "COMPLAINTS_CONFIG_DIR": str(round_the_clock_settings(work)),
        "RASA_AUTH_TOKEN": secrets.token_urlsafe(24), "ACTION_TOKEN": secrets.token_urlsafe(24),
        "REST_CHANNEL_TOKEN": secrets.token_urlsafe(24), "TICKET_API_TOKEN": secrets.token_urlsafe(24),
        "TELEGRAM_TOKEN": token, "TELEGRAM_WEBHOOK_SECRET": secret, "TELEGRAM_API_BASE_URL": standin_url,
    })
    for db in (TRACKER_DB, LOCK_DB, APP_DB):
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=int(db)).flushdb()
    stack = Stack(env=env, log_dir=work / "logs", with_web=True, with_worker=True)
    try:
        stack.start(model)
        results = asyncio.run(run(Bench(stack, standin_url, StandinState(token=token), secret, database_url), args))
    finally:
        stack.stop()
        standin.terminate()
        standin.wait()
        if args.postgres and schema:
            drop_schema(args.postgres, schema)
    print(f"hand-off latency at {args.conversations} taken-over conversations ({args.telegram} on Telegram), "
          f"{args.rounds} rounds, {results['messages_per_s']} messages/s, load average "
          f"{results['load_average_before'][0]:.1f} -> {results['load_average_after'][0]:.1f}:")
    for way in ("customer_to_agent", "agent_to_customer"):
        for channel, numbers in results[way].items():
            print(f"  {way.replace('_', ' '):<18} {channel:<9} n={numbers['count']:<5} p50 {numbers['p50_ms']} ms  "
                  f"p99 {numbers['p99_ms']} ms  max {numbers['max_ms']} ms")
    print(f"  never arrived (within {ARRIVAL_TIMEOUT_S:.0f} s): {results['lost']}")
    met = all((results[way]["all"]["p99_ms"] or 1e9) < 1000 for way in ("customer_to_agent", "agent_to_customer"))
    print(f"  target p99 < 1 s each way: {'met' if met and not any(results['lost'].values()) else 'MISSED'}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"handoff-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"conversations": args.conversations, "telegram": args.telegram, "agents": args.agents,
                               "rounds": args.rounds, "think_s": args.think, "model": model.name,
                               "database": database_url.split(":", 1)[0], **results}, indent=2))
    print(f"written to {out}; logs in {work / 'logs'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
