"""Start and stop the whole stack: Redis (if none answers), the action server and
one or more Rasa servers sharing Redis tracker and lock stores.

``python -m scripts.stack`` runs it in the foreground until Ctrl-C; the tests and the
benchmarks use :class:`Stack` to run the same processes on their own ports.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

from scripts.train_model import main as train_main
from scripts.train_model import model_path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 180

logger = logging.getLogger("stack")


def stack_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every process of the stack gets, with documented defaults.

    | variable | default | meaning |
    |---|---|---|
    | RASA_PORT | 5005 | first Rasa server port (REST: /webhooks/rest/webhook) |
    | RASA_PROCESSES | 2 | Rasa server processes on consecutive ports |
    | ACTION_PORT | 5055 | action server port |
    | REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | Redis for trackers and locks |
    | REDIS_TRACKER_DB / REDIS_LOCK_DB | 0 / 1 | Redis databases |
    """
    env = dict(os.environ)
    env.update(overrides or {})
    env.setdefault("RASA_PORT", "5005")
    env.setdefault("RASA_PROCESSES", "2")
    env.setdefault("ACTION_PORT", "5055")
    env.setdefault("REDIS_HOST", "127.0.0.1")
    env.setdefault("REDIS_PORT", "6379")
    env.setdefault("REDIS_TRACKER_DB", "0")
    env.setdefault("REDIS_LOCK_DB", "1")
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{env['ACTION_PORT']}/webhook")
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


def _wait_http(url: str, deadline: float, process: subprocess.Popen) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready within {READY_TIMEOUT_S} s")


@dataclass
class Stack:
    """The action server and N Rasa servers as child processes."""

    env: dict[str, str]
    log_dir: Path
    run_dir: Path | None = None
    with_actions: bool = True
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: list = field(default_factory=list)
    seconds_to_ready: float = 0.0

    @property
    def rasa_ports(self) -> list[int]:
        first = int(self.env["RASA_PORT"])
        return [first + i for i in range(int(self.env["RASA_PROCESSES"]))]

    @property
    def rasa_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        self.logs.append(log)
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        if self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / f"{name}.pid").write_text(str(process.pid))
        return process

    def _ensure_redis(self) -> None:
        """Use the Redis that answers; otherwise run a local one (nothing on disk) as a child."""
        host, port = self.env["REDIS_HOST"], int(self.env["REDIS_PORT"])
        if redis_answers(host, port):
            return
        server = shutil.which("redis-server")
        if server is None or host not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"stack: no Redis answers at {host}:{port} and none can be started here")
        self._spawn("redis", [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"])
        for _ in range(50):
            if redis_answers(host, port):
                return
            time.sleep(0.1)
        raise SystemExit(f"stack: started redis-server on port {port} but it does not answer")

    def start(self, model: Path) -> None:
        """Start every process and wait until each answers; record the time it took."""
        self._ensure_redis()
        started = time.monotonic()
        deadline = started + READY_TIMEOUT_S
        action_port = self.env["ACTION_PORT"]
        if self.with_actions:
            actions = self._spawn(
                "actions", [str(BIN / "rasa"), "run", "actions", "--actions", "bot.actions", "--port", action_port]
            )
        servers = {
            port: self._spawn(
                f"rasa-{port}",
                [
                    str(BIN / "rasa"), "run", "--enable-api", "--model", str(model), "--port", str(port),
                    "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
                ],
            )
            for port in self.rasa_ports
        }
        if self.with_actions:
            _wait_http(f"http://127.0.0.1:{action_port}/health", deadline, actions)
        for port, process in servers.items():
            _wait_http(f"http://127.0.0.1:{port}/status", deadline, process)
        self.seconds_to_ready = time.monotonic() - started
        if self.run_dir:
            (self.run_dir / "ready.json").write_text(json.dumps({"seconds_to_ready": self.seconds_to_ready}))

    def stop(self) -> None:
        """Terminate every child, politely, in reverse start order: Redis (if started here) last."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.run_dir:
            for pid_file in self.run_dir.glob("*.pid"):
                pid_file.unlink()
        for log in self.logs:
            log.close()
        self.processes.clear()
        self.logs.clear()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if train_main() != 0:
        return 1
    stack = Stack(env=stack_environment(), log_dir=ROOT / "var" / "log", run_dir=ROOT / "var" / "run")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.start(model_path())
        logger.info("ready in %.1f s; REST: %s (POST /webhooks/rest/webhook); logs in var/log/",
                    stack.seconds_to_ready, ", ".join(stack.rasa_urls))
        logger.info("chat in a terminal with: make chat   (Ctrl-C here stops everything)")
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(1)
        logger.error("a process exited; stopping the stack (see var/log/)")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
