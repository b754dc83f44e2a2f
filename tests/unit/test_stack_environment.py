"""The stack's environment: where servers are reached, and the defaults every process gets."""

from __future__ import annotations

import pytest

from bot.settings import LOOPBACK, connect_host
from scripts.stack import stack_environment


@pytest.mark.parametrize(
    ("interface", "reached_at"),
    [("0.0.0.0", LOOPBACK), ("::", LOOPBACK), ("", LOOPBACK), ("127.0.0.1", "127.0.0.1"),
     ("::1", "::1"), ("10.1.2.3", "10.1.2.3"), ("actions.internal", "actions.internal")],
)
def test_a_server_bound_to_every_interface_is_reached_on_loopback(interface: str, reached_at: str) -> None:
    assert connect_host(interface) == reached_at


def test_every_process_gets_one_passive_openmp_thread_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    env = stack_environment({"RASA_AUTH_TOKEN": "t", "ACTION_TOKEN": "t"})
    assert (env["OMP_NUM_THREADS"], env["OMP_WAIT_POLICY"]) == ("1", "PASSIVE")
    assert stack_environment({"RASA_AUTH_TOKEN": "t", "ACTION_TOKEN": "t", "OMP_NUM_THREADS": "2"})["OMP_NUM_THREADS"] == "2"


def test_servers_bind_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RASA_HOST", raising=False)
    monkeypatch.delenv("ACTION_HOST", raising=False)
    env = stack_environment({"RASA_AUTH_TOKEN": "t", "ACTION_TOKEN": "t"})
    assert (env["RASA_HOST"], env["ACTION_HOST"]) == (LOOPBACK, LOOPBACK)
