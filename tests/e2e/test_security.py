"""Nothing exposed: Rasa's HTTP API and the action server listen on loopback only and answer
nobody without their token; customers reach the REST webhook without one; no token is
written where other users of the machine can read it."""

from __future__ import annotations

import ipaddress
import json
import stat
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bot.settings import SettingsError
from connectors.action_server import token_matches
from connectors.rasa_server import rasa_arguments
from scripts.stack import Stack, programs, stack_environment, stored_secret
from scripts.supervisor_conf import render

API_ROUTES = [
    ("GET", "/status"),
    ("GET", "/conversations/security-probe/tracker"),
    ("POST", "/conversations/security-probe/tracker/events"),
    ("PUT", "/model"),
    ("GET", "/domain"),
]
ACTION_ROUTES = [("POST", "/webhook"), ("GET", "/actions")]
LISTEN = "0A"


def status_of(method: str, url: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
              body: object = None) -> int:
    """The HTTP status of one request (4xx/5xx included, never raised)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}{query}", data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("method,path", API_ROUTES)
@pytest.mark.parametrize("token", [None, "wrong-token-of-some-length"])
def test_the_api_refuses_a_missing_or_wrong_token(stack: Stack, method: str, path: str, token: str | None) -> None:
    params = {"token": token} if token else None
    body = [] if method != "GET" else None
    assert status_of(method, f"{stack.rasa_urls[0]}{path}", params=params, body=body) == 401


@pytest.mark.parametrize("path", ["/status", "/conversations/security-probe/tracker", "/domain"])
def test_the_api_answers_with_the_token(stack: Stack, path: str) -> None:
    assert status_of("GET", f"{stack.rasa_urls[0]}{path}", params={"token": stack.api_token}) == 200


def test_the_rest_channel_answers_a_back_end_with_its_bearer_token(stack: Stack) -> None:
    body = {"sender": "security-customer", "message": "My parcel never arrived"}
    headers = {"Authorization": f"Bearer {stack.channel_token}"}
    assert status_of("POST", f"{stack.rasa_urls[0]}/webhooks/rest/webhook", body=body, headers=headers) == 200
    assert status_of("POST", f"{stack.rasa_urls[0]}/webhooks/rest/webhook", body=body) == 401


@pytest.mark.parametrize("method,path", ACTION_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-of-some-length", "wrong-scheme"])
def test_the_action_server_refuses_a_missing_or_wrong_token(
    stack: Stack, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else None
    body = {} if method == "POST" else None
    assert status_of(method, f"{stack.action_url}{path}", headers=headers, body=body) == 401


def test_the_action_server_answers_rasa_s_token(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.env['ACTION_TOKEN']}"}
    request = urllib.request.Request(f"{stack.action_url}/actions", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        names = {action["name"] for action in json.load(response)}
    assert "validate_complaint_form" in names
    assert status_of("GET", f"{stack.action_url}/health") == 200


def _listening_addresses(port: int) -> list[str]:
    """Addresses with a listening TCP socket on ``port``, read from /proc/net/tcp and tcp6."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            raw, port_hex = local.split(":")
            if state == LISTEN and int(port_hex, 16) == port:
                # the kernel prints each 32-bit word of the address in host (little-endian) order
                packed = b"".join(bytes.fromhex(raw[i:i + 8])[::-1] for i in range(0, len(raw), 8))
                addresses.append(str(ipaddress.ip_address(packed)))
    return addresses


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def test_every_server_listens_on_loopback_only(stack: Stack) -> None:
    for port in [*stack.rasa_ports, int(stack.env["ACTION_PORT"])]:
        addresses = _listening_addresses(port)
        assert addresses, f"nothing listens on {port}"
        assert all(_is_loopback(a) for a in addresses), (port, addresses)


def test_no_token_on_a_command_line_or_in_the_supervisor_config(stack: Stack) -> None:
    tokens = [stack.env["RASA_AUTH_TOKEN"].encode(), stack.env["ACTION_TOKEN"].encode()]
    pids = [stack.supervisor.pid] + [stack.pid(name) for name in stack.programs]
    command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids]
    assert sum(b"connectors.rasa_server" in line for line in command_lines) == len(stack.rasa_ports)
    config = stack.config_path.read_bytes()
    for token in tokens:
        assert not any(token in line for line in command_lines)
        assert token not in config


def test_the_defaults_bind_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RASA_HOST", "ACTION_HOST", "ACTION_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    env = stack_environment({"RASA_AUTH_TOKEN": "a" * 20, "ACTION_TOKEN": "b" * 20})
    chosen = programs(env, tmp_path / "model.tar.gz", with_actions=True, with_redis=True)
    binds = {p.name: p.command[p.command.index("--interface" if "--interface" in p.command else "--bind") + 1]
             for p in chosen}
    assert len(binds) == 2 + int(env["RASA_PROCESSES"])
    assert set(binds.values()) == {"127.0.0.1"}
    assert "0.0.0.0" not in render(chosen, directory=tmp_path, log_dir=tmp_path, run_dir=tmp_path)
    assert env["ACTION_ENDPOINT_URL"] == f"http://127.0.0.1:{env['ACTION_PORT']}/webhook"


def test_a_generated_secret_is_private_and_kept(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    first = stored_secret("RASA_AUTH_TOKEN", directory)
    assert len(first) >= 32
    assert stored_secret("RASA_AUTH_TOKEN", directory) == first
    assert stored_secret("ACTION_TOKEN", directory) != first
    assert stat.S_IMODE((directory / "rasa_auth_token").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_rasa_token_is_added_inside_the_process_and_refused_on_the_command_line() -> None:
    token = "-starts-with-a-dash"
    assert rasa_arguments(["run", "--enable-api"], token) == ["rasa", "run", "--enable-api", f"--auth-token={token}"]
    for given in (["run", "--auth-token", "x"], ["run", "-t", "x"], ["run", "--auth-token=x"]):
        with pytest.raises(SettingsError):
            rasa_arguments(given, token)


@pytest.mark.parametrize(
    "authorization,expected",
    [(None, False), ("", False), ("Bearer right-token", True), ("Bearer right-token ", False),
     ("bearer right-token", False), ("right-token", False), ("Bearer wrong-token", False)],
)
def test_only_the_exact_bearer_token_passes(authorization: str | None, expected: bool) -> None:
    assert token_matches(authorization, "right-token") is expected
