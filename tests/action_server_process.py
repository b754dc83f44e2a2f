"""The real action server as a subprocess on loopback, for tests that drive an in-process Rasa agent."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120


@contextmanager
def running_action_server(port: int, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start ``connectors.action_server`` with ``env`` (plus a fresh ``ACTION_TOKEN``), wait until it
    answers, and yield the token; the server is stopped on exit."""
    token = secrets.token_urlsafe(24)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors.action_server", "--interface", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env={**env, "ACTION_TOKEN": token}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.5)
            else:
                pytest.fail(f"the action server did not start (log: {log_path})")
            yield token
        finally:
            process.terminate()
            process.wait(timeout=30)
