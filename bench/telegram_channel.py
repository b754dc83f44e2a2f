"""Telegram against REST on the same stack in the same run, and push latency to Telegram.

Usage: ``python bench/telegram_channel.py [--conversations 50] [--rounds 3] [--pushes 10] [--push-rate 20]``

Starts the stack (the current trained model, or ``E2E_MODEL``; two Rasa servers, the action
server, the real Redis) with the Telegram channel pointed at the local Bot API stand-in,
then, alternating REST and Telegram ``--rounds`` times each so machine noise hits both:
``--conversations`` customers at once, each sending the same four messages
(REST: ``POST /webhooks/rest/webhook``, latency = the request; Telegram: the update POSTed
to ``/webhooks/telegram/webhook`` with the secret, latency = until the webhook has answered,
which it does after the replies reached the stand-in). Then push latency:
``TelegramTransport.send`` to ``--conversations`` chats, ``--pushes`` times, timed from the
call to the stand-in receiving the message (p50, p99): once all at once (a burst, which
Telegram's 30 messages/s per bot, kept by AIORateLimiter, spreads over conversations/30
seconds), once paced at ``--push-rate`` per second (a steady flow under that limit).

Ports 15025/15026, 15075, 15070 plus ``E2E_PORT_OFFSET``; Redis ``E2E_REDIS_DBS`` and
``TELEGRAM_E2E_REDIS_DB`` (default 2). Figures are printed and written to
``bench/results/telegram-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import aiohttp

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.load import percentile  # noqa: E402
from bot.db import make_engine, migrate  # noqa: E402
from bot.outbound import Conversation, OutboundMessage  # noqa: E402
from bot.outbound.telegram import TelegramSettings, TelegramTransport, load_telegram_settings  # noqa: E402
from scripts.stack import Stack, stack_environment  # noqa: E402
from scripts.telegram_standin import SECRET_HEADER, StandinState, text_update  # noqa: E402

MESSAGES = (
    "I bought a toaster on your website on the 3rd, order 55120, and it stopped working after two days. "
    "I want a replacement.",
    "Sam Patel, sam.patel@example.com",
    "online, your website",
    "no toast for the children's breakfast all week",
)
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
OFFSET = int(os.environ.get("E2E_PORT_OFFSET", "0"))
REDIS_DBS = tuple(os.environ.get("E2E_REDIS_DBS", "13,14").split(","))
TELEGRAM_DB = os.environ.get("TELEGRAM_E2E_REDIS_DB", "2")

Send = Callable[[aiohttp.ClientSession, int, str], Awaitable[None]]

TELEGRAM_MESSAGES_PER_S = 30
"""Telegram's limit per bot (its Bot API FAQ), the rate AIORateLimiter keeps by default."""
TARGET_RATIO = 1.3
"""The issue's target: Telegram within 1.3x of REST, in msg/s and in p95."""


async def _timed_conversations(send: Send, conversations: int) -> tuple[list[float], float, int]:
    """``conversations`` customers at once, four messages each: latencies, wall time, errors."""
    latencies: list[float] = []
    errors = 0

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal errors
        for text in MESSAGES:
            started = time.monotonic()
            try:
                await send(session, index, text)
            except (aiohttp.ClientError, AssertionError, asyncio.TimeoutError):
                errors += 1
                return
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(one(session, i) for i in range(conversations)))
    return latencies, time.monotonic() - started, errors


def _rest(stack: Stack, run: str) -> Send:
    async def send(session: aiohttp.ClientSession, index: int, text: str) -> None:
        url = f"{stack.rasa_urls[index % len(stack.rasa_urls)]}/webhooks/rest/webhook"
        headers = {"Authorization": f"Bearer {stack.env['REST_CHANNEL_TOKEN']}"} if "REST_CHANNEL_TOKEN" in stack.env else {}
        async with session.post(url, json={"sender": f"bench-{run}-{index}", "message": text}, headers=headers) as reply:
            assert reply.status == 200 and await reply.json()

    return send


def _telegram(stack: Stack, updates: StandinState, secret: str, first_chat: int) -> Send:
    async def send(session: aiohttp.ClientSession, index: int, text: str) -> None:
        url = f"{stack.rasa_urls[index % len(stack.rasa_urls)]}/webhooks/telegram/webhook"
        update = text_update(updates, first_chat + index, text)
        async with session.post(url, json=update, headers={SECRET_HEADER: secret}) as reply:
            assert reply.status == 200

    return send


async def _pushes(
    standin_url: str, settings: TelegramSettings, conversations: int, rounds: int, rate: float | None = None
) -> list[float]:
    """Seconds from ``send`` to the stand-in's receipt (both on the machine's monotonic clock).

    ``rate`` None: each round pushes to every conversation at once (a burst, which Telegram's
    30 messages/s per bot, kept by AIORateLimiter, lets through 30 at once and then 30 a second),
    and the next round starts once the limit has had conversations/30 s to refill: back-to-back
    bursts would measure only the queue of a sender above Telegram's limit. Else the pushes
    start ``rate`` per second, as a steady flow of agent replies and reminders would.
    """
    transport = TelegramTransport(settings)
    first_chat = 900_000_000 + secrets.randbelow(10**6)
    started: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{standin_url}/_standin/sent") as reply:
                since = len(await reply.json())
            for round_ in range(rounds):
                round_started = time.monotonic()

                async def push(index: int) -> None:
                    if rate:
                        await asyncio.sleep(index / rate)
                    chat = first_chat + index
                    text = f"Update {round_} on your ticket, customer {index} ({rate or 'burst'})."
                    started[text] = time.monotonic()
                    key = f"bench:{chat}:{round_}:{rate}"
                    await transport.send(Conversation("telegram", str(chat)), OutboundMessage(text), key)

                await asyncio.gather(*(push(i) for i in range(conversations)))
                if not rate:
                    await asyncio.sleep(max(0.0, conversations / TELEGRAM_MESSAGES_PER_S - (time.monotonic() - round_started)))
            async with http.get(f"{standin_url}/_standin/sent", params={"since": since}) as reply:
                received = {c["params"].get("text"): c["at"] for c in await reply.json() if c["method"] == "sendMessage"}
    finally:
        await transport.close()
    return [received[text] - at for text, at in started.items()]


def _figures(latencies: Sequence[float], wall: float, errors: int) -> dict[str, float | int | None]:
    p95 = percentile(latencies, 95)
    return {"messages": len(latencies), "errors": errors, "msg_per_s": round(len(latencies) / wall, 2),
            "p95_ms": round(p95 * 1000) if p95 is not None else None}


def channel_ratios(results: dict[str, list[dict[str, float | int | None]]]) -> dict[str, object]:
    """Per round, REST's msg/s over Telegram's and Telegram's p95 over REST's (both > 1 when
    Telegram is slower), their medians across the rounds, and whether each median is within
    :data:`TARGET_RATIO`. Rounds alternate on one machine, so a round's ratio is fair and the
    median keeps one noisy round from deciding."""
    rounds = list(zip(results["rest"], results["telegram"]))
    slower = [rest["msg_per_s"] / telegram["msg_per_s"] for rest, telegram in rounds]
    p95 = [telegram["p95_ms"] / rest["p95_ms"] for rest, telegram in rounds]
    medians = {"msg_per_s": statistics.median(slower), "p95": statistics.median(p95)}
    return {
        "per_round": {"msg_per_s": [round(r, 2) for r in slower], "p95": [round(r, 2) for r in p95]},
        "median": {name: round(value, 2) for name, value in medians.items()},
        "within_target": {name: value <= TARGET_RATIO for name, value in medians.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--push-rate", type=float, default=20.0, help="pushes per second in the paced measurement")
    args = parser.parse_args(argv)
    from scripts.train_model import model_path

    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    work = Path(tempfile.mkdtemp(prefix="bench-telegram-"))
    database_url = f"sqlite:///{work / 'tickets.db'}"
    migrate(make_engine(database_url))
    port, token = 15070 + OFFSET, f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
    standin_url = f"http://127.0.0.1:{port}"
    # its own process, so the load generator here does not slow the stand-in down
    standin = subprocess.Popen([sys.executable, "-m", "scripts.telegram_standin", "--port", str(port), "--token", token],
                               cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    updates = StandinState(token=token)
    secret = secrets.token_urlsafe(32)
    env = stack_environment({
        "RASA_PORT": str(15025 + OFFSET), "RASA_PROCESSES": "2", "ACTION_PORT": str(15075 + OFFSET),
        "REDIS_TRACKER_DB": REDIS_DBS[0], "REDIS_LOCK_DB": REDIS_DBS[1], "DATABASE_URL": database_url,
        "COMPLAINTS_SPOOL_DIR": str(work / "spool"), "EVIDENCE_DIR": str(work / "files"),
        "RASA_AUTH_TOKEN": secrets.token_urlsafe(24), "ACTION_TOKEN": secrets.token_urlsafe(24),
        "TELEGRAM_TOKEN": token, "TELEGRAM_WEBHOOK_SECRET": secret,
        "TELEGRAM_API_BASE_URL": standin_url, "TELEGRAM_REDIS_DB": TELEGRAM_DB,
    })
    stack = Stack(env=env, log_dir=work / "logs")
    results: dict[str, list[dict[str, float | int | None]]] = {"rest": [], "telegram": []}
    try:
        stack.start(model)
        for round_ in range(args.rounds):
            run = f"{round_}-{secrets.token_hex(3)}"
            results["rest"].append(_figures(*asyncio.run(_timed_conversations(_rest(stack, run), args.conversations))))
            chats = 800_000_000 + secrets.randbelow(10**7) * 100
            sender = _telegram(stack, updates, secret, chats)
            results["telegram"].append(_figures(*asyncio.run(_timed_conversations(sender, args.conversations))))
            print(f"round {round_ + 1}: REST {results['rest'][-1]}  Telegram {results['telegram'][-1]}", flush=True)
        settings = load_telegram_settings(env)
        pushes = asyncio.run(_pushes(standin_url, settings, args.conversations, args.pushes))
        paced = asyncio.run(_pushes(standin_url, settings, args.conversations, args.pushes, args.push_rate))
    finally:
        stack.stop()
        standin.terminate()
        standin.wait()
    push = {"count": len(pushes), "p50_ms": round(percentile(pushes, 50) * 1000, 1),
            "p99_ms": round(percentile(pushes, 99) * 1000, 1)}
    paced_push = {"count": len(paced), "rate_per_s": args.push_rate, "p50_ms": round(percentile(paced, 50) * 1000, 1),
                  "p99_ms": round(percentile(paced, 99) * 1000, 1)}
    ratios = channel_ratios(results)
    print(f"Telegram against REST (REST msg/s / Telegram msg/s, Telegram p95 / REST p95; target <= {TARGET_RATIO}): "
          f"per round {ratios['per_round']}, median {ratios['median']}, within target {ratios['within_target']}")
    print(f"push to the stand-in at {args.conversations} conversations, all at once, each burst after the limit refilled: {push}")
    print(f"push to the stand-in at {args.conversations} conversations, {args.push_rate:g} per second: {paced_push}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"telegram-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"conversations": args.conversations, "model": model.name, **results, "ratios": ratios,
                              "push": push, "push_paced": paced_push},
                              indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
