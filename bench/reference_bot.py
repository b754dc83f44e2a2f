"""The reference bot: Rasa's own starter project ("moodbot"), built, served and driven.

Why a reference at all: the bench machine is small and noisy, so absolute latencies
mean little from one run to the next. Rasa's starter bot, trained with Rasa's default
config and served by the same Rasa version in the same run, gives a baseline that
suffers the same noise; our figures are reported as ratios against it.

Run as a script to build (or confirm) the cached reference model:
``python bench/reference_bot.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

log = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
CACHE_ROOT = BENCH_DIR / ".cache" / "moodbot"

#: The moodbot "sad path 1" story plus its goodbye rule: greet -> utter_greet,
#: mood_unhappy -> utter_cheer_up + utter_did_that_help, affirm -> utter_happy,
#: goodbye -> utter_goodbye. Every message is in the starter NLU data, so each
#: turn has a non-empty reply.
MOODBOT_CONVERSATION: tuple[str, ...] = ("hi", "I am sad", "yes", "bye")

REQUEST_TIMEOUT_S = 30.0
LOOPBACK = "127.0.0.1"


@dataclass
class ConversationResult:
    """Same shape as ``scripted.driver.ConversationResult`` so load.py treats both alike."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    turns: int = 0
    ticket_number: str | None = None


@dataclass
class RunningBot:
    """A reference server started by :func:`start`; stop it with :func:`stop`."""

    process: subprocess.Popen[bytes]
    url: str
    seconds_to_ready: float
    log_path: Path


def rasa_executable() -> str:
    """The ``rasa`` next to this interpreter, so the reference runs the venv's Rasa."""
    candidate = Path(sys.executable).with_name("rasa")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("rasa")
    if found is None:
        raise RuntimeError("no 'rasa' executable next to the interpreter or on PATH")
    return found


def rasa_version() -> str:
    """Installed Rasa version; the cache key, since a model only loads in its own version."""
    from importlib.metadata import version

    return version("rasa")


def project_dir() -> Path:
    """Where the reference project for the installed Rasa version lives."""
    return CACHE_ROOT / f"rasa-{rasa_version()}"


def cached_model(directory: Path | None = None) -> Path | None:
    """Newest trained model of the reference project, or None if it was never trained."""
    models = sorted((directory or project_dir()).glob("models/*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def _rasa_env() -> dict[str, str]:
    """Environment for Rasa subprocesses: no telemetry prompt or upload during a benchmark."""
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    return env


def build(timeout_s: float = 1800.0) -> Path:
    """Create and train the starter project unless a model for this Rasa version exists.

    ``rasa init --no-prompt`` scaffolds and trains in one go; if it leaves no model
    (e.g. it was interrupted after scaffolding), ``rasa train`` finishes the job.
    Returns the model path.
    """
    directory = project_dir()
    model = cached_model(directory)
    if model is not None:
        log.info("reference model cached at %s", model)
        return model
    directory.mkdir(parents=True, exist_ok=True)
    env = _rasa_env()
    if not (directory / "domain.yml").exists():
        log.info("scaffolding and training the starter bot in %s (takes minutes)", directory)
        subprocess.run(
            [rasa_executable(), "init", "--no-prompt", "--init-dir", str(directory)],
            cwd=directory, env=env, check=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
        )
    if cached_model(directory) is None:
        log.info("training the starter bot in %s", directory)
        subprocess.run(
            [rasa_executable(), "train"],
            cwd=directory, env=env, check=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
        )
    model = cached_model(directory)
    if model is None:
        raise RuntimeError(f"training finished but no model appeared under {directory / 'models'}")
    return model


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def wait_ready(url: str, token: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll ``GET /status`` until the model is loaded; fail early if the server died."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"reference server exited with code {process.returncode} before ready")
            try:
                async with session.get(f"{url}/status", params={"token": token}) as resp:
                    # /status answers 200 only once the agent has a loaded model.
                    if resp.status == 200 and (await resp.json()).get("model_file"):
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"reference server not ready within {timeout_s:.0f}s")


async def start(model: Path | None = None, port: int | None = None, ready_timeout_s: float = 300.0) -> RunningBot:
    """Start ``rasa run --enable-api`` on a loopback port and time it until ``/status`` is ready.

    Seconds-to-ready covers process start, imports and model loading: the same span
    our ``var/run/ready.json`` reports, so the two can be compared. Like ours, its API
    wants a token (one per run: nothing else needs it).
    """
    model = model or build()
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    token = secrets.token_urlsafe(24)
    log_path = project_dir() / f"rasa-run-{port}.log"
    log_file = log_path.open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        [rasa_executable(), "run", "--enable-api", f"--auth-token={token}", "-i", LOOPBACK, "-p", str(port),
         "-m", str(model)],
        cwd=project_dir(), env=_rasa_env(), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
    )
    log_file.close()  # the child holds its own descriptor
    try:
        await wait_ready(url, token, process, ready_timeout_s)
    except BaseException:
        stop_process(process)
        log.error("reference server failed; its log is %s", log_path)
        raise
    seconds = time.monotonic() - started
    log.info("reference server ready at %s after %.1fs", url, seconds)
    return RunningBot(process=process, url=url, seconds_to_ready=seconds, log_path=log_path)


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after a grace period; never leave a server behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


def stop(bot: RunningBot) -> None:
    """Stop a server started by :func:`start`."""
    stop_process(bot.process)


async def send_message(
    session: aiohttp.ClientSession, base_url: str, sender_id: str, text: str
) -> tuple[float, bool]:
    """POST one message to the REST channel; return (seconds, ok).

    ok is False for a non-200, a timeout, an exception or an empty reply list, which
    are all "errors" in the load report.
    """
    started = time.perf_counter()
    try:
        async with session.post(
            f"{base_url}/webhooks/rest/webhook",
            json={"sender": sender_id, "message": text},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as resp:
            body = await resp.json(content_type=None) if resp.status == 200 else None
            ok = resp.status == 200 and isinstance(body, list) and len(body) > 0
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        log.debug("reference message %r for %s failed: %r", text, sender_id, exc)
        ok = False
    return time.perf_counter() - started, ok


async def run_moodbot_conversation(
    session: aiohttp.ClientSession, base_url: str, sender_id: str
) -> ConversationResult:
    """Drive one complete moodbot conversation.

    Every turn's latency is kept, failed ones included, as ``scripted.driver`` does:
    the two targets' percentiles must be computed the same way to be compared.
    """
    result = ConversationResult()
    for text in MOODBOT_CONVERSATION:
        seconds, ok = await send_message(session, base_url, sender_id, text)
        result.turns += 1
        result.latencies.append(seconds)
        if not ok:
            result.errors += 1
    return result


def main() -> int:
    """Build (or confirm) the cached reference model and print its path."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(build())
    return 0


if __name__ == "__main__":
    sys.exit(main())
