"""Run the whole stack under supervisor: Redis (if none answers), the action server and
one or more Rasa servers sharing Redis tracker and lock stores.

supervisor restarts any process that dies while the others keep serving. Its
configuration is generated here from :func:`stack_environment`, so ports, interfaces and
databases are set in one place. Every process binds loopback unless told otherwise; the
Rasa HTTP API and the action server require tokens (generated into ``var/secrets/`` when
the environment has none).

``python -m scripts.stack`` (``make run``) runs it in the foreground until Ctrl-C; the
tests and the benchmarks use :class:`Stack` to run the same processes, under the same
supervisor, on their own ports.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from supervisor.xmlrpc import SupervisorTransport

from bot.settings import LOOPBACK, connect_host
from bot.settings import rasa_urls as settings_rasa_urls
from scripts.supervisor_conf import Program, render, socket_path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRETS_DIR = ROOT / "var" / "secrets"
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 60
MAX_STARTS_WHILE_WAITING = 3
PR_SET_PDEATHSIG = 1
WHOLE_NUMBERS = (
    "RASA_PORT", "RASA_PROCESSES", "ACTION_PORT", "REDIS_PORT", "REDIS_TRACKER_DB", "REDIS_LOCK_DB", "WORKER_REDIS_DB",
    "WEB_PORT", "WEBCHAT_REDIS_DB",
)
REDIS_HELP = (
    "install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) "
    "or set REDIS_HOST/REDIS_PORT to a Redis that runs"
)

logger = logging.getLogger("stack")


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do, in one line."""


def stored_secret(name: str, directory: Path = SECRETS_DIR) -> str:
    """The secret kept in ``directory/<name>`` (mode 0600), made at first use.

    ``make run`` then needs no configuration, and the secret survives restarts so a
    client that read it once keeps working.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / name.lower()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="ascii").strip()


def stack_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every process of the stack gets, with documented defaults.

    | variable | default | meaning |
    |---|---|---|
    | RASA_HOST | 127.0.0.1 | interface the Rasa servers bind |
    | RASA_PORT | 5005 | first Rasa server port (REST: /webhooks/rest/webhook) |
    | RASA_PROCESSES | 2 | Rasa server processes on consecutive ports |
    | RASA_MESSAGES_IN_PROGRESS | 3 | messages one Rasa process works on at once; the rest wait in arrival order (0: no limit) |
    | RASA_AUTH_TOKEN | generated, var/secrets/rasa_auth_token | token of Rasa's HTTP API (``?token=``) |
    | ACTION_HOST | 127.0.0.1 | interface the action server binds |
    | ACTION_PORT | 5055 | action server port |
    | ACTION_TOKEN | generated, var/secrets/action_token | token Rasa sends the action server |
    | REST_CHANNEL_TOKEN | generated, var/secrets/rest_channel_token | bearer token of the REST channel (trusted back ends) |
    | TICKET_API_TOKEN | generated, var/secrets/ticket_api_token | bearer token of the web app's ticket API (/api/v1) |
    | REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | Redis for trackers and locks |
    | REDIS_TRACKER_DB / REDIS_LOCK_DB | 0 / 1 | Redis databases |
    | WORKER_REDIS_DB | 2 | Redis database of the job queue (outbound delivery) |
    | WEB_HOST / WEB_PORT | 127.0.0.1 / 8080 | web chat (page, widget.js, API, WebSocket) |
    | WEBCHAT_REDIS_DB | 2 | web chat sessions, histories, rate limits |
    | TELEGRAM_TOKEN | (empty: the Telegram channel is off) | the bot's token from @BotFather |
    | TELEGRAM_WEBHOOK_SECRET | generated, var/secrets/telegram_webhook_secret | X-Telegram-Bot-Api-Secret-Token the webhook requires |
    | TELEGRAM_API_BASE_URL | https://api.telegram.org | Bot API server (a local one, or the tests' stand-in) |
    | OMP_NUM_THREADS / OMP_WAIT_POLICY | 1 / PASSIVE | OpenMP of the sentence-embedding engine |

    OpenMP sizes its pool when the first library using it loads (Rasa's imports load one
    before our featurizer does), so the pool is fixed here, for every process: two Rasa
    processes on two cores, each spinning two OpenMP threads, starve each other.
    """
    env = dict(os.environ)
    env.update(overrides or {})
    env.setdefault("RASA_HOST", LOOPBACK)
    env.setdefault("RASA_PORT", "5005")
    env.setdefault("RASA_PROCESSES", "2")
    env.setdefault("ACTION_HOST", LOOPBACK)
    env.setdefault("ACTION_PORT", "5055")
    env.setdefault("REDIS_HOST", LOOPBACK)
    env.setdefault("REDIS_PORT", "6379")
    env.setdefault("REDIS_TRACKER_DB", "0")
    env.setdefault("REDIS_LOCK_DB", "1")
    env.setdefault("WORKER_REDIS_DB", "2")
    env.setdefault("WEB_HOST", LOOPBACK)
    env.setdefault("WEB_PORT", "8080")
    env.setdefault("WEBCHAT_REDIS_DB", "2")
    env.setdefault("TELEGRAM_TOKEN", "")
    env.setdefault("TELEGRAM_API_BASE_URL", "https://api.telegram.org")
    env.setdefault(
        "ACTION_ENDPOINT_URL", f"http://{connect_host(env['ACTION_HOST'])}:{env['ACTION_PORT']}/webhook"
    )
    for name in WHOLE_NUMBERS:
        if not env[name].isdigit():
            raise StackError(f"{name} must be a whole number, got {env[name]!r}")
    for name in ("RASA_AUTH_TOKEN", "ACTION_TOKEN", "REST_CHANNEL_TOKEN", "TICKET_API_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
        if not env.get(name):
            env[name] = stored_secret(name)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("PYTHONPATH", str(ROOT))
    return env


def redis_answers(host: str, port: int) -> bool:
    """Whether a Redis server answers PING at host:port."""
    client = redis.Redis(host=host, port=port, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port (so our server would fail to bind)."""
    try:
        with socket.create_connection((connect_host(host), port), timeout=1):
            return True
    except OSError:
        return False


def _stop_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies (Linux), so a test run or
    ``make run`` killed with -9 does not leave a stack holding its ports."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def rasa_ports(env: dict[str, str]) -> list[int]:
    """The Rasa servers' ports: RASA_PROCESSES consecutive ports from RASA_PORT."""
    first = int(env["RASA_PORT"])
    return [first + i for i in range(int(env["RASA_PROCESSES"]))]


def rasa_urls(env: dict[str, str]) -> list[str]:
    """Base URLs of the Rasa servers, as reached from this machine."""
    return list(settings_rasa_urls(env))


def programs(
    env: dict[str, str], model: Path, *, with_actions: bool, with_redis: bool, with_web: bool = False,
    with_worker: bool = False,
) -> list[Program]:
    """What supervisor runs for this environment: Redis first (when ours), then the action
    server, then the Rasa servers, then the web app and the worker, each on the interface
    and port the environment names."""
    python = str(BIN / "python")
    chosen = []
    if with_redis:
        chosen.append(Program("redis", (
            shutil.which("redis-server") or "redis-server", "--bind", LOOPBACK, "--port", env["REDIS_PORT"],
            "--save", "", "--appendonly", "no",
        ), priority=10))
    if with_actions:
        chosen.append(Program("actions", (
            python, "-m", "connectors.action_server", "--interface", env["ACTION_HOST"], "--port", env["ACTION_PORT"],
        ), priority=20))
    for port in rasa_ports(env):
        # --enable-api with Rasa's --auth-token, which connectors.rasa_server adds from
        # RASA_AUTH_TOKEN inside the process so the token is never on a command line.
        chosen.append(Program(f"rasa-{port}", (
            python, "-m", "connectors.rasa_server", "run", "--enable-api", "--interface", env["RASA_HOST"],
            "--port", str(port), "--model", str(model), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
        ), priority=30))
    if with_web:
        chosen.append(Program("web", (python, "-m", "web"), priority=40))
    if with_worker:
        chosen.append(Program("worker", (python, "-m", "worker"), priority=40))
    return chosen


def answers_200(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 now (a server that is down or starting does not)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@dataclass
class Stack:
    """The action server and N Rasa servers (and Redis, when none answers) under supervisord."""

    env: dict[str, str]
    log_dir: Path
    run_dir: Path | None = None
    with_actions: bool = True
    with_web: bool = False
    with_worker: bool = False
    echo: bool = False
    supervisor: subprocess.Popen | None = None
    programs: list[str] = field(default_factory=list)
    seconds_to_ready: float = 0.0

    @property
    def rasa_ports(self) -> list[int]:
        return rasa_ports(self.env)

    @property
    def rasa_urls(self) -> list[str]:
        return rasa_urls(self.env)

    @property
    def action_url(self) -> str:
        return f"http://{connect_host(self.env['ACTION_HOST'])}:{self.env['ACTION_PORT']}"

    @property
    def api_token(self) -> str:
        """Token for Rasa's HTTP API: pass it as the ``token`` query parameter."""
        return self.env["RASA_AUTH_TOKEN"]

    @property
    def web_url(self) -> str:
        return f"http://{connect_host(self.env['WEB_HOST'])}:{self.env['WEB_PORT']}"

    @property
    def channel_token(self) -> str:
        """Bearer token of the REST channel: ``Authorization: Bearer <token>``."""
        return self.env["REST_CHANNEL_TOKEN"]

    @property
    def _state_dir(self) -> Path:
        return self.run_dir or self.log_dir

    @property
    def config_path(self) -> Path:
        """supervisord's generated configuration."""
        return self._state_dir / "supervisord.conf"

    def _needs_redis(self) -> bool:
        """False when a Redis answers; True when one can be run here; else a clear StackError."""
        host, port = self.env["REDIS_HOST"], int(self.env["REDIS_PORT"])
        if redis_answers(host, port):
            return False
        if host not in (LOOPBACK, "localhost"):
            raise StackError(f"no Redis answers at {host}:{port}; start it or point REDIS_HOST/REDIS_PORT at one")
        if shutil.which("redis-server") is None:
            raise StackError(f"no Redis answers at {host}:{port} and there is no redis-server to start: {REDIS_HELP}")
        return True

    def _check_ports_free(self) -> None:
        wanted = [("RASA_PORT", self.env["RASA_HOST"], port) for port in self.rasa_ports]
        if self.with_actions:
            wanted.append(("ACTION_PORT", self.env["ACTION_HOST"], int(self.env["ACTION_PORT"])))
        if self.with_web:
            wanted.append(("WEB_PORT", self.env["WEB_HOST"], int(self.env["WEB_PORT"])))
        for variable, host, port in wanted:
            if port_in_use(host, port):
                raise StackError(f"port {port} is already in use (another 'make run'?); stop it or set {variable}")

    def rpc(self) -> Any:
        """supervisord's XML-RPC interface (``supervisor.getProcessInfo(name)`` and the rest)."""
        socket_url = f"unix://{socket_path(self._state_dir)}"
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(None, None, socket_url))

    def pid(self, program: str) -> int:
        """The process id of a running program (0 when it is not running)."""
        return int(self.rpc().supervisor.getProcessInfo(program)["pid"])

    def preflight(self) -> bool:
        """Check what would stop a start (Redis, ports) before anything slow; whether to run a Redis."""
        with_redis = self._needs_redis()
        self._check_ports_free()
        return with_redis

    def start(self, model: Path) -> None:
        """Start supervisord with every program and wait until each answers; record the time it took."""
        with_redis = self.preflight()
        for directory in (self.log_dir, self._state_dir):
            directory.mkdir(parents=True, exist_ok=True)
        chosen = programs(
            self.env, model, with_actions=self.with_actions, with_redis=with_redis, with_web=self.with_web,
            with_worker=self.with_worker,
        )
        config = self.config_path
        config.write_text(render(chosen, directory=ROOT, log_dir=self.log_dir, run_dir=self._state_dir))
        self.programs = [program.name for program in chosen]
        started = time.monotonic()
        self.supervisor = subprocess.Popen(
            [str(BIN / "supervisord"), "-n", "-c", str(config)], cwd=ROOT, env=self.env,
            stdout=None if self.echo else subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=_stop_with_parent,
        )
        self.wait_ready(started + READY_TIMEOUT_S)
        self.seconds_to_ready = time.monotonic() - started
        if self.run_dir:
            (self.run_dir / "ready.json").write_text(json.dumps({"seconds_to_ready": self.seconds_to_ready}))

    def _checks(self) -> dict[str, str]:
        """Per program, the URL that answers 200 once it serves."""
        token = urllib.parse.urlencode({"token": self.api_token})
        checks = {f"rasa-{port}": f"{url}/status?{token}" for port, url in zip(self.rasa_ports, self.rasa_urls)}
        if self.with_actions:
            checks["actions"] = f"{self.action_url}/health"
        if self.with_web:
            checks["web"] = f"{self.web_url}/healthz"
        return checks

    def wait_ready(self, deadline: float) -> None:
        """Wait until Redis and every server answer; fail early with the log to read."""
        waiting = dict(self._checks())
        if "redis" in self.programs:
            waiting["redis"] = ""
        pids: dict[str, set[int]] = {name: set() for name in waiting}
        while waiting and time.monotonic() < deadline:
            if self.supervisor is None or self.supervisor.poll() is not None:
                raise StackError(f"supervisord exited; see {self.log_dir / 'supervisord.log'}")
            for name, url in list(waiting.items()):
                ready = redis_answers(self.env["REDIS_HOST"], int(self.env["REDIS_PORT"])) if name == "redis" \
                    else answers_200(url)
                if ready:
                    del waiting[name]
                    continue
                pids[name].add(self._pid_or_zero(name))
                if self._fatal(name) or len(pids[name] - {0}) > MAX_STARTS_WHILE_WAITING:
                    raise StackError(f"{name} keeps failing to start; see {self.log_dir / f'{name}.log'}")
            time.sleep(0.3)
        if waiting:
            raise StackError(f"not ready within {READY_TIMEOUT_S} s: {', '.join(waiting)}; see {self.log_dir}")

    def _pid_or_zero(self, program: str) -> int:
        try:
            return self.pid(program)
        except (OSError, xmlrpc.client.Fault):
            return 0

    def _fatal(self, program: str) -> bool:
        try:
            return self.rpc().supervisor.getProcessInfo(program)["statename"] == "FATAL"
        except (OSError, xmlrpc.client.Fault):
            return False

    def stop(self) -> None:
        """Stop supervisord, which stops every program in reverse start order (Redis last)."""
        if self.supervisor is None:
            return
        if self.supervisor.poll() is None:
            self.supervisor.terminate()
        try:
            self.supervisor.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.supervisor.kill()
            self.supervisor.wait()
        self.supervisor = None


def check(stack: Stack) -> int:
    """``--check``: say in one line whether the stack could get its Redis here (set-up runs it)."""
    try:
        starts_redis = stack._needs_redis()
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    where = f"{stack.env['REDIS_HOST']}:{stack.env['REDIS_PORT']}"
    print(f"stack: Redis {'will be started by make run' if starts_redis else 'answers'} at {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that Redis answers or can be started")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        stack = Stack(
            env=stack_environment(), log_dir=ROOT / "var" / "log", run_dir=ROOT / "var" / "run", echo=True,
            with_web=True, with_worker=True,
        )
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"stack: cannot keep the generated tokens in {SECRETS_DIR}: {exc}", file=sys.stderr)
        return 1
    if args.check:
        return check(stack)
    from scripts.train_model import main as train_main, model_path  # imports Rasa: only when running

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.preflight()
        if train_main() != 0:
            return 1
        stack.start(model_path())
        logger.info("ready in %.1f s; REST: %s (POST /webhooks/rest/webhook); logs in var/log/",
                    stack.seconds_to_ready, ", ".join(stack.rasa_urls))
        logger.info("web chat: %s/ (embed on a page: <script src=\"%s/widget.js\" defer></script>)",
                    stack.web_url, stack.web_url)
        logger.info("the HTTP API wants ?token=$RASA_AUTH_TOKEN (when unset: the one in var/secrets/rasa_auth_token)")
        logger.info("chat in a terminal with: make chat   (Ctrl-C here stops everything)")
        code = stack.supervisor.wait() if stack.supervisor else 1
        if code == 0:
            logger.info("stopped")
            return 0
        logger.error("supervisord exited with %s; see var/log/supervisord.log", code)
        return 1
    except StackError as exc:
        logger.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
