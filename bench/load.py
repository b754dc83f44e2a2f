"""Concurrent-conversation load test of our bot against Rasa's starter bot, in one run.

Usage: ``python bench/load.py [--levels 1,10,50,200] [--ours URL[,URL...]]
[--skip-reference] [--skip-ours] [--level-timeout S]``

For each level N, N complete conversations run at once against the reference
(moodbot, started here on a free loopback port) and then against our already-running
bot (URLs from ``--ours``, else env ``RASA_URLS``, else the servers ``make run`` starts,
from the same environment: ``RASA_PORT`` and the ``RASA_PROCESSES`` after it, 5005 and
5006 by default). Its HTTP API token is ``RASA_AUTH_TOKEN``, else the one ``make run``
generated in ``var/secrets/``.
Running both at every level in the same process keeps machine noise comparable, so
the ratios are the figures to trust; absolute numbers vary from run to run.

Figures are printed and written to ``bench/results/load-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(PROJECT_ROOT))  # run as a script: make ``bench`` and ``scripted`` importable

from bench import proc_stats, reference_bot  # noqa: E402
from scripts.stack import rasa_urls, stack_environment  # noqa: E402

log = logging.getLogger(__name__)

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
READY_FILE = PROJECT_ROOT / "var" / "run" / "ready.json"
DEFAULT_LEVELS = (1, 10, 50, 200)
REQUEST_TIMEOUT_S = 30.0
DEFAULT_LEVEL_TIMEOUT_S = 600.0
MIB = 2**20


class ConversationOutcome(Protocol):
    """What both drivers return: ``scripted.driver.ConversationResult`` and the reference's."""

    latencies: list[float]
    errors: int
    turns: int
    ticket_number: str | None


#: Drives conversation ``index`` on ``base_url`` with sender ``sender_id``.
Conversation = Callable[[aiohttp.ClientSession, str, str, int], Awaitable[ConversationOutcome]]


@dataclass
class LevelFigures:
    """One target at one concurrency level. Latencies in seconds; None when nothing succeeded."""

    target: str
    level: int
    conversations: int
    messages: int
    errors: int
    unfinished: int
    tickets: int
    wall_s: float
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    messages_per_s: float
    rss_mib: float | None


# --- pure helpers, covered by tests/unit/test_bench_stats.py ---------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default).

    None for no values: nothing was measured (every conversation failed before its first
    message), which the error count already says; a made-up zero would read as "instant".
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(ours: float | None, reference: float | None) -> float | None:
    """ours / reference, or None when either is missing or the reference is zero."""
    if ours is None or not reference:
        return None
    return ours / reference


def parse_levels(raw: str) -> list[int]:
    """``"1,10,50"`` -> [1, 10, 50]; each level must be a positive whole number."""
    try:
        levels = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"levels must be whole numbers separated by commas: {raw!r}") from exc
    if not levels or any(level < 1 for level in levels):
        raise argparse.ArgumentTypeError(f"levels must be positive: {raw!r}")
    return levels


def loopback_urls(raw: str) -> list[str]:
    """Split comma-separated base URLs and refuse any that is not on a loopback address.

    A load test aimed at a shared or remote host by mistake would be an attack on it,
    so only 127.0.0.0/8, ::1 and ``localhost`` are accepted.
    """
    urls = [part.strip().rstrip("/") for part in raw.split(",") if part.strip()]
    if not urls:
        raise argparse.ArgumentTypeError("no URL given")
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not _is_loopback(host):
            raise argparse.ArgumentTypeError(f"{url!r} is not an http(s) URL on a loopback address")
    return urls


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- running -------------------------------------------------------------------------


async def _guarded(
    conversation: Conversation, session: aiohttp.ClientSession, url: str, sender_id: str, index: int
) -> ConversationOutcome:
    """Run one conversation; an exception becomes one error so the level goes on."""
    try:
        return await conversation(session, url, sender_id, index)
    except Exception as exc:  # noqa: BLE001 - one broken conversation must not end the run
        log.warning("conversation %s on %s failed: %r", sender_id, url, exc)
        return reference_bot.ConversationResult(errors=1)


async def run_level(
    target: str,
    conversation: Conversation,
    urls: Sequence[str],
    level: int,
    run_id: str,
    level_timeout_s: float,
) -> tuple[LevelFigures, list[ConversationOutcome]]:
    """Start ``level`` conversations at once, round-robin over ``urls``, and wait at most ``level_timeout_s``.

    Conversations still running at the cap are cancelled and counted as ``unfinished``
    (and as errors); their partial latencies are lost, which is why the cap is generous.
    """
    connector = aiohttp.TCPConnector(limit=level)  # one connection per conversation: no client-side queueing
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(
                _guarded(conversation, session, urls[i % len(urls)], f"bench-{run_id}-{target}-{level}-{i}", i)
            )
            for i in range(level)
        ]
        done, pending = await asyncio.wait(tasks, timeout=level_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        wall = time.perf_counter() - started
    if pending:
        log.warning("%s level %d: %d conversations still running after %.0fs were cancelled",
                    target, level, len(pending), level_timeout_s)
    outcomes = [task.result() for task in done]
    latencies = [s for o in outcomes for s in o.latencies]
    messages = sum(o.turns for o in outcomes)
    figures = LevelFigures(
        target=target,
        level=level,
        conversations=level,
        messages=messages,
        errors=sum(o.errors for o in outcomes) + len(pending),
        unfinished=len(pending),
        tickets=sum(1 for o in outcomes if o.ticket_number),
        wall_s=wall,
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        p99_s=percentile(latencies, 99),
        messages_per_s=messages / wall if wall > 0 else 0.0,
        rss_mib=None,
    )
    return figures, outcomes


def reference_conversation() -> Conversation:
    """The moodbot conversation, in the shape :func:`run_level` drives."""

    async def drive(session: aiohttp.ClientSession, url: str, sender_id: str, index: int) -> ConversationOutcome:
        return await reference_bot.run_moodbot_conversation(session, url, sender_id)

    return drive


def ours_conversation(api_token: str, channel_token: str) -> Conversation:
    """Conversation i plays customer script i % len(customers) with the lead's driver
    (``api_token`` lets it read a tracker when it cannot place a reply)."""
    from scripted.driver import load_customers, run_scripted_conversation

    customers = load_customers()
    if not customers:
        raise RuntimeError("scripted.driver.load_customers() returned no customers")

    async def drive(session: aiohttp.ClientSession, url: str, sender_id: str, index: int) -> ConversationOutcome:
        return await run_scripted_conversation(session, url, sender_id, customers[index % len(customers)], api_token, channel_token)

    return drive


async def check_up(urls: Sequence[str], token: str) -> list[str]:
    """The URLs whose ``GET /status`` does not answer 200 (so the run can stop before it starts)."""
    down = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for url in urls:
            try:
                async with session.get(f"{url}/status", params={"token": token}) as resp:
                    if resp.status != 200:
                        down.append(url)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                down.append(url)
    return down


def ours_seconds_to_ready(path: Path = READY_FILE) -> float | None:
    """Model load time the lead's run script recorded, if it did."""
    try:
        return float(json.loads(path.read_text())["seconds_to_ready"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %r", path, exc)
        return None


def ours_rss_mib() -> float | None:
    """Our processes' RSS from ``var/run/*.pid`` trees, or None when there are no pid files."""
    figure = proc_stats.ours_rss_bytes()
    return None if figure is None else figure[0] / MIB


# --- output --------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def print_level(rows: Sequence[LevelFigures]) -> dict[str, float | None]:
    """Print one level's rows and, when both targets ran, the ratios; return the ratios."""
    print(f"\n== level {rows[0].level} ==")
    print(f"{'target':<10} {'conv':>5} {'msgs':>6} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'msg/s':>7} {'wall s':>7} {'tickets':>7} {'RSS MiB':>8}")
    for r in rows:
        print(f"{r.target:<10} {r.conversations:>5} {r.messages:>6} {r.errors:>6} {_ms(r.p50_s):>7} "
              f"{_ms(r.p95_s):>7} {_ms(r.p99_s):>7} {r.messages_per_s:>7.1f} {r.wall_s:>7.1f} "
              f"{r.tickets if r.target == 'ours' else '-':>7} {_num(r.rss_mib, '.0f'):>8}")
    by_target = {r.target: r for r in rows}
    if "ours" not in by_target or "reference" not in by_target:
        return {}
    ours, ref = by_target["ours"], by_target["reference"]
    ratios = {
        "throughput_ours_over_reference": ratio(ours.messages_per_s, ref.messages_per_s),
        "p95_ours_over_reference": ratio(ours.p95_s, ref.p95_s),
    }
    print(f"ratios: msg/s ours/reference = {_num(ratios['throughput_ours_over_reference'])}   "
          f"p95 ours/reference = {_num(ratios['p95_ours_over_reference'])}")
    return ratios


def write_results(payload: dict[str, Any]) -> Path:
    """Save the run as JSON under bench/results/ (a new file per run, never overwritten)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"load-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


# --- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line; URLs are validated as loopback here, before anything starts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=parse_levels, default=list(DEFAULT_LEVELS),
                        help="comma-separated concurrent conversation counts (default 1,10,50,200)")
    parser.add_argument("--ours", type=loopback_urls, default=None,
                        help="our bot's base URL(s), comma-separated (default: $RASA_URLS, else make run's)")
    parser.add_argument("--skip-reference", action="store_true", help="do not start or load the reference bot")
    parser.add_argument("--skip-ours", action="store_true", help="load only the reference bot")
    parser.add_argument("--level-timeout", type=float, default=DEFAULT_LEVEL_TIMEOUT_S,
                        help="cap in seconds per level and target; unfinished conversations count as errors")
    args = parser.parse_args(argv)
    if args.skip_reference and args.skip_ours:
        parser.error("--skip-reference and --skip-ours leave nothing to measure")
    if args.ours is None and not args.skip_ours:
        try:
            args.ours = loopback_urls(os.environ.get("RASA_URLS") or ",".join(rasa_urls(stack_environment())))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"RASA_URLS: {exc}")
    return args


async def run(args: argparse.Namespace) -> int:
    """Warm up, run every level on each target, print and save the figures."""
    run_id = datetime.now(timezone.utc).strftime("%H%M%S")
    targets: list[tuple[str, Conversation, list[str]]] = []
    ref_bot: reference_bot.RunningBot | None = None

    if not args.skip_ours:
        environment = stack_environment()
        api_token = environment["RASA_AUTH_TOKEN"]
        down = await check_up(args.ours, api_token)
        if down:
            print(f"error: our bot does not answer GET /status at {', '.join(down)} "
                  "(start it with 'make run', pass --ours, or use --skip-ours; a RASA_AUTH_TOKEN set here must be the stack's)",
                  file=sys.stderr)
            return 2
        try:
            ours = ours_conversation(api_token, environment["REST_CHANNEL_TOKEN"])
        except Exception as exc:  # noqa: BLE001 - the driver is another module; say what broke, no traceback
            print(f"error: cannot load the scripted driver: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2

    payload: dict[str, Any] = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rasa_version": reference_bot.rasa_version(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "levels": args.levels,
        "ours_urls": None if args.skip_ours else args.ours,
        "level_timeout_s": args.level_timeout,
        "request_timeout_s": REQUEST_TIMEOUT_S,
        "results": [],
        "ratios": {},
    }
    try:
        if not args.skip_reference:
            try:
                ref_bot = await reference_bot.start(model=await asyncio.to_thread(reference_bot.build))
            except Exception as exc:  # noqa: BLE001 - build/start failures are reported, not thrown
                print(f"error: reference bot did not start: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 1
            targets.append(("reference", reference_conversation(), [ref_bot.url]))
            payload["reference_seconds_to_ready"] = ref_bot.seconds_to_ready
        if not args.skip_ours:
            targets.append(("ours", ours, args.ours))
            payload["ours_seconds_to_ready"] = ours_seconds_to_ready()

        # One untimed conversation per target first: lazy imports, JIT-ish TF graph
        # tracing and first-connection costs would otherwise land in level 1's p99.
        for name, conversation, urls in targets:
            await run_level(name, conversation, urls, 1, f"{run_id}w", args.level_timeout)

        for level in args.levels:
            rows = []
            for name, conversation, urls in targets:
                figures, _ = await run_level(name, conversation, urls, level, run_id, args.level_timeout)
                if name == "reference" and ref_bot is not None:
                    figures.rss_mib = proc_stats.tree_rss_bytes([ref_bot.process.pid])[0] / MIB
                else:
                    figures.rss_mib = ours_rss_mib()
                rows.append(figures)
            payload["results"].extend(asdict(r) for r in rows)
            payload["ratios"][str(level)] = print_level(rows)
    finally:
        if ref_bot is not None:
            reference_bot.stop(ref_bot)

    print()
    if "reference_seconds_to_ready" in payload:
        print(f"reference seconds-to-ready (start + model load): {payload['reference_seconds_to_ready']:.1f}")
    if not args.skip_ours:
        ready = payload.get("ours_seconds_to_ready")
        print(f"ours seconds-to-ready (var/run/ready.json):       {_num(ready, '.1f')}")
        if ready is not None and "reference_seconds_to_ready" in payload:
            print(f"ratio ours/reference seconds-to-ready:            "
                  f"{_num(ratio(ready, payload['reference_seconds_to_ready']))}")
    print(f"results written to {write_results(payload)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn a Ctrl-C into a clean exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
