"""Signing in and out of the console, its session cookie, rotation and expiry."""

from __future__ import annotations

import json

import pytest
import redis
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.db import write_session
from tests.console.conftest import (
    IDLE_S, MAX_S, PASSWORD, WRONG_PASSWORD_SENTENCE, Browser, Clock, console_settings, serve, session_keys,
)
from web.console.accounts import Account
from web.console.models import ConsoleAccountRow
from web.console.sessions import COOKIE_NAME


async def test_the_sign_in_page_is_an_accessible_form_with_a_console_cookie(browser: Browser, redis_client: redis.Redis) -> None:
    async with browser.request("GET", "/console/sign-in") as response:
        body = await response.text()
        cookies = response.headers.getall("Set-Cookie")
        assert response.status == 200
        assert response.content_type == "text/html"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert '<html lang="en">' in body
    assert '<label for="name">Name</label>' in body and 'id="name" name="name"' in body
    assert '<label for="password">Password</label>' in body and 'id="password" name="password" type="password"' in body
    assert 'autocomplete="current-password"' in body
    assert '<form method="post" action="/console/sign-in"' in body
    assert WRONG_PASSWORD_SENTENCE not in body
    assert len(cookies) == 1
    cookie = cookies[0]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    assert "webchat_session" not in cookie
    key = browser.cookie()
    assert key is not None and len(key) >= 40
    stored = json.loads(redis_client.get(f"{COOKIE_NAME}_{key}"))
    assert set(stored["session"]) == {"csrf"}
    assert f'name="csrf_token" value="{stored["session"]["csrf"]}"' in body
    assert 0 < redis_client.ttl(f"{COOKIE_NAME}_{key}") <= IDLE_S


async def test_the_right_password_signs_in_on_a_new_session(
    browser: Browser, supervisor: Account, db_sessions: sessionmaker, clock: Clock, redis_client: redis.Redis,
) -> None:
    await browser.form_token()
    before = browser.cookie()
    status, location, _ = await browser.sign_in("Sam", PASSWORD)
    after = browser.cookie()
    assert (status, location) == (303, "/console/")
    assert after is not None and before is not None and after != before
    assert session_keys(redis_client) == {f"{COOKIE_NAME}_{after}"}
    stored = json.loads(redis_client.get(f"{COOKIE_NAME}_{after}"))["session"]
    assert stored["account"] == supervisor.id
    assert stored["signed_in_at"] == stored["seen_at"] == clock().timestamp()
    status, _, page = await browser.page("/console/")
    assert status == 200
    assert "Signed in as <strong>Sam Supervisor</strong>" in page and "(supervisor)" in page
    assert "<h1 id=\"queue-heading\">Queue</h1>" in page and "No conversation is waiting for a person." in page
    with db_sessions() as session:
        row = session.execute(select(ConsoleAccountRow).where(ConsoleAccountRow.id == supervisor.id)).scalar_one()
    assert row.last_sign_in_at == clock()


async def test_the_old_session_key_is_worth_nothing_after_sign_in(
    browser: Browser, other_browser: Browser, supervisor: Account,
) -> None:
    """A key planted before sign-in (session fixation) does not become a signed-in session."""
    await browser.form_token()
    planted = browser.cookie()
    assert planted is not None
    await browser.sign_in("sam", PASSWORD)
    other_browser.http.cookie_jar.update_cookies({COOKIE_NAME: planted})
    status, location, _ = await other_browser.page("/console/")
    assert (status, location) == (303, "/console/sign-in")


@pytest.mark.parametrize("name", ["sam", "nobody"], ids=["wrong-password", "unknown-name"])
async def test_a_wrong_password_or_unknown_name_is_refused_alike(
    browser: Browser, supervisor: Account, name: str,
) -> None:
    status, location, body = await browser.sign_in(name, "not the password at all")
    assert (status, location) == (401, "")
    assert WRONG_PASSWORD_SENTENCE in body
    assert 'role="alert"' in body and 'aria-describedby="sign-in-error"' in body
    assert (await browser.page("/console/"))[:2] == (303, "/console/sign-in")


async def test_sign_out_ends_the_session_everywhere(
    browser: Browser, other_browser: Browser, supervisor: Account, redis_client: redis.Redis,
) -> None:
    await browser.sign_in("sam", PASSWORD)
    key = browser.cookie()
    token = await browser.api_token()
    async with browser.request("POST", "/console/sign-out", data={"csrf_token": token}) as response:
        assert (response.status, response.headers["Location"]) == (303, "/console/sign-in")
        removal = [c for c in response.headers.getall("Set-Cookie") if c.startswith(f"{COOKIE_NAME}=")]
    assert len(removal) == 1 and "Max-Age=0" in removal[0] and "Path=/console" in removal[0]
    assert session_keys(redis_client) == set()
    assert browser.cookie() is None
    other_browser.http.cookie_jar.update_cookies({COOKIE_NAME: key})
    assert (await other_browser.page("/console/"))[:2] == (303, "/console/sign-in")
    async with other_browser.request("GET", "/console/api/me") as response:
        assert response.status == 401


async def test_a_session_ends_after_its_idle_time_and_activity_renews_it(
    browser: Browser, supervisor: Account, clock: Clock, redis_client: redis.Redis,
) -> None:
    await browser.sign_in("sam", PASSWORD)
    for _ in range(3):
        clock.advance(IDLE_S - 1)
        status, _, _ = await browser.page("/console/")
        assert status == 200
    clock.advance(IDLE_S + 1)
    assert (await browser.page("/console/"))[:2] == (303, "/console/sign-in")
    assert session_keys(redis_client) == set()


async def test_a_busy_session_still_ends_after_its_longest_lifetime(browser: Browser, supervisor: Account, clock: Clock) -> None:
    await browser.sign_in("sam", PASSWORD)
    elapsed = 0
    while elapsed + IDLE_S - 1 <= MAX_S:
        clock.advance(IDLE_S - 1)
        elapsed += IDLE_S - 1
        assert (await browser.page("/console/"))[0] == 200
    clock.advance(MAX_S - elapsed + 1)
    assert (await browser.page("/console/"))[:2] == (303, "/console/sign-in")


async def test_a_signed_in_person_opening_the_sign_in_page_goes_to_the_queue(browser: Browser, agent: Account) -> None:
    await browser.sign_in("alex", PASSWORD)
    status, location, _ = await browser.page("/console/sign-in")
    assert (status, location) == (303, "/console/")


async def test_a_disabled_account_cannot_sign_in_and_its_session_ends(
    browser: Browser, other_browser: Browser, agent: Account, db_sessions: sessionmaker, clock: Clock,
) -> None:
    await browser.sign_in("alex", PASSWORD)
    with write_session(db_sessions) as session:
        session.get(ConsoleAccountRow, agent.id).disabled_at = clock()
    assert (await browser.page("/console/"))[:2] == (303, "/console/sign-in")
    status, _, body = await other_browser.sign_in("alex", PASSWORD)
    assert status == 401 and WRONG_PASSWORD_SENTENCE in body


async def test_a_hash_made_with_weaker_parameters_is_upgraded_at_sign_in(
    browser: Browser, agent: Account, db_sessions: sessionmaker,
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with write_session(db_sessions) as session:
        session.get(ConsoleAccountRow, agent.id).password_hash = weak
    assert (await browser.sign_in("alex", PASSWORD))[:2] == (303, "/console/")
    with db_sessions() as session:
        stored = session.get(ConsoleAccountRow, agent.id).password_hash
    current = PasswordHasher()
    assert stored != weak
    assert stored.startswith(f"$argon2id$v=19$m={current.memory_cost},t={current.time_cost},p={current.parallelism}$")
    assert current.verify(stored, PASSWORD)
    assert not current.check_needs_rehash(stored)


async def test_secure_cookies_are_marked_secure(
    app_env: str, redis_client: redis.Redis, clock: Clock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_SECURE_COOKIES", "1")
    server: TestServer = await serve(console_settings(), clock)
    browser = Browser(f"http://127.0.0.1:{server.port}")
    try:
        async with browser.request("GET", "/console/sign-in") as response:
            cookie = response.headers["Set-Cookie"]
    finally:
        await browser.close()
        await server.close()
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
