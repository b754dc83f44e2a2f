"""Passwords, session keys and CSRF tokens never reach a log line, at any level, from any logger."""

from __future__ import annotations

import logging

import pytest
import redis

from bot.log_privacy import StructuredFormatter
from tests.console.conftest import ORIGIN, PASSWORD, Browser, session_keys
from web.console.accounts import Account
from web.console.sessions import COOKIE_NAME

NEW_PASSWORD = "another secret for the newcomer"
TYPO = "correct horse battery stapel"


def _rendered(records: list[logging.LogRecord]) -> str:
    """Each record as the app's handlers would write it, and every attribute it carries."""
    formatter = StructuredFormatter()
    return "\n".join(f"{formatter.format(record)} {vars(record)!r}" for record in records)


async def test_no_secret_is_logged(
    browser: Browser, supervisor: Account, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_seen: list[str] = []
    secrets_seen.append(await browser.form_token())
    secrets_seen.append(browser.cookie() or "")
    await browser.sign_in("sam", TYPO)
    await browser.sign_in(PASSWORD, PASSWORD)
    await browser.sign_in("sam", PASSWORD)
    secrets_seen.append(browser.cookie() or "")
    token = await browser.api_token()
    secrets_seen.append(token)
    body = {"name": "newcomer", "role": "agent", "password": NEW_PASSWORD}
    async with browser.request("POST", "/console/api/accounts", json=body, headers={"X-CSRF-Token": token}) as response:
        assert response.status == 201
    async with browser.http.ws_connect(browser.base + "/console/ws", origin=ORIGIN) as socket:
        await socket.receive_json(timeout=5)
    async with browser.request("POST", "/console/sign-out", data={"csrf_token": token}) as response:
        assert response.status == 303
    assert session_keys(redis_client) == set()

    logged = _rendered(caplog.records)
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("web.console")]
    assert messages.count("console sign-in failed") == 2
    assert messages.count("console sign-in") == 1 and messages.count("console sign-out") == 1
    assert "console account created" in messages
    assert all(secret for secret in secrets_seen)
    for secret in (PASSWORD, TYPO, NEW_PASSWORD, *secrets_seen):
        assert secret not in logged
    assert f"{COOKIE_NAME}_" not in logged
