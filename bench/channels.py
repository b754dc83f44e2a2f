"""Channels against the REST channel on the same running stack, in one run; and push latency.

Usage: ``python bench/channels.py [--levels 10,50] [--web URL] [--push-conversations 50]
[--push-rounds 10]``

1. Throughput: at each level N, N complete scripted conversations (scripted/customers.yml,
   driven as scripted/driver.py drives them) run at once through each *target*, one target
   after the other on the same stack, in the order A B B A (each target measured twice, once
   early and once late, so neither gains from the other warming the embedding cache): the REST channel (``POST /webhooks/rest/webhook`` with
   ``Authorization: Bearer $REST_CHANNEL_TOKEN``) and the web chat (its page's session and
   WebSocket, through the web app). Messages per second and p95 reply latency per target,
   and each channel's ratio to REST (target: within 1.3x).
2. Push: N web chat conversations hold a WebSocket open; ``WebChatTransport.send`` (what the
   outbound path's ``deliver()`` calls for web chat) sends one message to each of them,
   round after round; the time from send to the item arriving on the socket, p50 and p99
   (target: p99 < 1 s).

A target is a small class with ``open()`` (a new conversation) returning an object with
``say(text) -> replies`` and ``close()``; add a channel by adding one (the Telegram webhook
goes beside these). The stack must be running (``make run``); the web app is ``--web``, else
one is started here on a free loopback port with the stack's environment.

Figures are printed and written to ``bench/results/channels-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import aiohttp

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(PROJECT_ROOT))  # run as a script: make ``bench`` and ``scripted`` importable

from bench.load import percentile, ratio  # noqa: E402
from bot.outbound import Conversation, OutboundMessage  # noqa: E402
from bot.outbound.webchat import MailboxSettings, WebChatMailbox, WebChatTransport  # noqa: E402
from scripted.driver import _answer, _choice, _read_replies, load_customers  # noqa: E402
from scripts.stack import answers_200, rasa_urls, stack_environment, stored_secret  # noqa: E402

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
REQUEST_TIMEOUT_S = 60.0
MAX_TURNS = 30
PUSH_WAIT_S = 5.0


class Talk(Protocol):
    """One open conversation on one channel."""

    async def say(self, text: str) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


class Target(Protocol):
    name: str

    async def open(self, http: aiohttp.ClientSession, index: int) -> Talk: ...


@dataclass
class RestTalk:
    http: aiohttp.ClientSession
    url: str
    token: str
    sender: str

    async def say(self, text: str) -> list[dict[str, Any]]:
        async with self.http.post(
            f"{self.url}/webhooks/rest/webhook", json={"sender": self.sender, "message": text},
            headers={"Authorization": f"Bearer {self.token}"}, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"REST answered {response.status}")
            return await response.json()

    async def close(self) -> None:
        return None


@dataclass
class RestTarget:
    """Rasa's REST channel, as a trusted back end uses it; conversations spread over the servers."""

    urls: list[str]
    token: str
    run: str
    name: str = "rest"
    opened: int = 0

    async def open(self, http: aiohttp.ClientSession, index: int) -> Talk:
        """A fresh sender every time, so a second run never continues a finished conversation."""
        self.opened += 1
        return RestTalk(http, self.urls[index % len(self.urls)], self.token, f"bench-{self.run}-rest-{self.opened}")


@dataclass
class WebChatTalk:
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse

    async def say(self, text: str) -> list[dict[str, Any]]:
        await self.ws.send_json({"type": "message", "text": text})
        while True:
            message = await self.ws.receive(timeout=REQUEST_TIMEOUT_S)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"web chat socket closed ({message.type.name})")
            frame = json.loads(message.data)
            if frame["type"] == "done":
                if frame.get("error"):
                    raise RuntimeError(f"web chat refused a message: {frame['error']}")
                return [item for item in frame["items"] if item["from"] != "customer"]

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


@dataclass
class WebChatTarget:
    """The web chat as a browser uses it: the page issues the session, messages go over the WebSocket."""

    url: str
    name: str = "webchat"

    async def open(self, http: aiohttp.ClientSession, index: int) -> WebChatTalk:
        own = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with own.get(f"{self.url}/") as page:
            await page.read()
        ws = await own.ws_connect(f"{self.url.replace('http', 'ws', 1)}/ws", origin=self.url)
        return WebChatTalk(own, ws)


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    ticket: bool = False


async def converse(talk: Talk, customer: dict[str, Any]) -> Outcome:
    """One scripted customer to a ticket, answering the question each reply ends on."""
    outcome, asked = Outcome(), {}

    async def timed(text: str) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            replies = await talk.say(text)
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
            outcome.errors += 1
            return []
        outcome.latencies.append(time.perf_counter() - started)
        return replies

    replies: list[dict[str, Any]] = []
    for text in customer["opening"]:
        replies = await timed(text)
    for _ in range(MAX_TURNS):
        requested, number = _read_replies(replies)
        if number:
            outcome.ticket = True
            break
        if requested == ("chosen_option",):
            message = _choice(customer, [b for r in replies for b in r.get("buttons") or []])
        elif requested == ("complaint_confirmed",):
            message = "yes"
        elif requested:
            message = _answer(customer, requested, asked)
        else:
            break
        replies = await timed(message)
    return outcome


@dataclass
class Figures:
    target: str
    level: int
    messages: int
    errors: int
    tickets: int
    wall_s: float
    msg_per_s: float
    p50_s: float | None
    p95_s: float | None


async def run_once(target: Target, level: int, customers: list[dict[str, Any]]) -> tuple[list[Outcome], float]:
    """``level`` conversations at once through ``target``: their outcomes and the wall time."""
    async with aiohttp.ClientSession() as http:
        talks = [await target.open(http, index) for index in range(level)]
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(converse(t, customers[i % len(customers)]) for i, t in enumerate(talks)))
        wall = time.perf_counter() - started
        for talk in talks:
            await talk.close()
    return list(outcomes), wall


def pooled(name: str, level: int, runs: list[tuple[list[Outcome], float]]) -> Figures:
    """A target's figures over its runs: every message's latency, messages over total wall time."""
    outcomes = [o for run, _ in runs for o in run]
    wall = sum(w for _, w in runs)
    latencies = [x for o in outcomes for x in o.latencies]
    return Figures(
        name, level, len(latencies), sum(o.errors for o in outcomes), sum(o.ticket for o in outcomes),
        wall, len(latencies) / wall, percentile(latencies, 50), percentile(latencies, 95),
    )


async def push_latency(web_url: str, conversations: int, rounds: int) -> dict[str, Any]:
    """Send to ``conversations`` open sockets from this process, ``rounds`` times; seconds to arrive."""
    async with aiohttp.ClientSession() as http:
        sockets = [await WebChatTarget(web_url).open(http, i) for i in range(conversations)]
    session_ids = []
    for talk in sockets:
        cookie = talk.http.cookie_jar.filter_cookies(web_url)["webchat_session"].value
        session_ids.append(await _session_id(cookie))
    settings = MailboxSettings.from_env()
    client = settings.redis()
    transport = WebChatTransport(WebChatMailbox(client, settings.session_ttl_s))
    samples: list[float] = []
    lost = 0

    async def one(talk: WebChatTalk, session_id: str, key: str) -> None:
        nonlocal lost
        sent = time.perf_counter()
        await transport.send(Conversation("webchat", session_id), OutboundMessage("Bench push"), key=key)
        try:
            while True:
                frame = json.loads((await talk.ws.receive(timeout=PUSH_WAIT_S)).data)
                if frame.get("type") == "item" and frame["item"]["id"] == key:
                    samples.append(time.perf_counter() - sent)
                    return
        except asyncio.TimeoutError:
            lost += 1

    for round_ in range(rounds):
        await asyncio.gather(*(one(t, s, f"bench-push-{round_}-{i}") for i, (t, s) in enumerate(zip(sockets, session_ids))))
    for talk in sockets:
        await talk.close()
    await client.close()
    return {"conversations": conversations, "rounds": rounds, "samples": len(samples), "lost": lost,
            "p50_s": percentile(samples, 50), "p99_s": percentile(samples, 99), "max_s": max(samples, default=None)}


async def _session_id(cookie: str) -> str:
    """The server-side session's conversation id (the bench reads Redis as the transport does)."""
    client = MailboxSettings.from_env().redis()
    raw = await client.get(f"webchat_session_{cookie}")
    await client.close()
    return json.loads(raw)["session"]["session_id"]


def start_web(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A web app for the bench, on a free loopback port, with the stack's environment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "web"], cwd=PROJECT_ROOT, env=env | {"WEB_PORT": str(port)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not answers_200(f"{url}/healthz"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the web app did not start (run 'python -m web' to see why)")
        time.sleep(0.2)
    return process, url


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


async def main_async(args: argparse.Namespace, web_url: str, env: dict[str, str]) -> dict[str, Any]:
    token = env["REST_CHANNEL_TOKEN"]
    run = datetime.now(timezone.utc).strftime("%H%M%S")
    targets: list[Target] = [RestTarget(rasa_urls(env), token, run), WebChatTarget(web_url)]
    customers = load_customers()
    results: list[Figures] = []
    for level in args.levels:
        runs: dict[str, list[tuple[list[Outcome], float]]] = {t.name: [] for t in targets}
        for target in [*targets, *reversed(targets)]:
            runs[target.name].append(await run_once(target, level, customers))
        by_target = {name: pooled(name, level, target_runs) for name, target_runs in runs.items()}
        results.extend(by_target.values())
        rest = by_target["rest"]
        print(f"\n{level} concurrent conversations")
        print("| target | msg/s | p50 | p95 | errors | tickets | msg/s ratio to REST | p95 ratio to REST |")
        print("|---|---|---|---|---|---|---|---|")
        for name, f in by_target.items():
            print(f"| {name} | {f.msg_per_s:.1f} | {fmt(f.p50_s)} | {fmt(f.p95_s)} | {f.errors} | {f.tickets}/{2 * level} "
                  f"| {fmt_ratio(ratio(f.msg_per_s, rest.msg_per_s))} | {fmt_ratio(ratio(f.p95_s, rest.p95_s))} |")
    push = await push_latency(web_url, args.push_conversations, args.push_rounds)
    print(f"\npush to the web chat at {push['conversations']} open conversations, {push['samples']} sends "
          f"({push['lost']} lost): p50 {fmt(push['p50_s'])}, p99 {fmt(push['p99_s'])}, max {fmt(push['max_s'])}")
    return {"levels": [asdict(r) for r in results], "push": push}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=lambda raw: [int(x) for x in raw.split(",")], default=[10, 50])
    parser.add_argument("--web", help="a running web app's URL (default: start one here)")
    parser.add_argument("--push-conversations", type=int, default=50)
    parser.add_argument("--push-rounds", type=int, default=10)
    args = parser.parse_args()
    env = stack_environment()
    env["REST_CHANNEL_TOKEN"] = env.get("REST_CHANNEL_TOKEN") or stored_secret("REST_CHANNEL_TOKEN")
    process, web_url = (None, args.web) if args.web else start_web(env)
    try:
        figures = asyncio.run(main_async(args, web_url, env))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"channels-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {out.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
