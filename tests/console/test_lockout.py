"""Repeated wrong passwords pause sign-in per account and per client address (settings/console.yml),
answered exactly like a wrong password, until the app's clock passes the lock."""

from __future__ import annotations

import redis
from aiohttp.test_utils import TestServer

from tests.console.conftest import PASSWORD, POLICY, WRONG_PASSWORD_SENTENCE, Browser, Clock, console_settings, serve
from web.console.accounts import Account

ACCOUNT_RULE = POLICY.lockout.account
ADDRESS_RULE = POLICY.lockout.address


async def _wrong(browser: Browser, name: str, times: int, headers: dict[str, str] | None = None) -> str:
    body = ""
    for _ in range(times):
        status, _, body = await browser.sign_in(name, "a wrong password", headers=headers)
        assert status == 401
    return body


async def test_an_account_is_locked_after_its_count_and_the_answer_is_a_wrong_passwords(
    browser: Browser, other_browser: Browser, agent: Account, clock: Clock,
) -> None:
    wrong_answer = await _wrong(browser, "alex", ACCOUNT_RULE.failures)
    status, location, body = await other_browser.sign_in("alex", PASSWORD)
    assert (status, location) == (401, "")
    assert body == wrong_answer.replace(await browser.form_token(), await other_browser.form_token())
    assert WRONG_PASSWORD_SENTENCE in body
    clock.advance(ACCOUNT_RULE.lock_s - 1)
    assert (await other_browser.sign_in("alex", PASSWORD))[0] == 401
    clock.advance(2)
    assert (await other_browser.sign_in("alex", PASSWORD))[:2] == (303, "/console/")


async def test_a_lock_does_not_touch_other_accounts(browser: Browser, agent: Account, supervisor: Account) -> None:
    await _wrong(browser, "alex", ACCOUNT_RULE.failures)
    assert (await browser.sign_in("sam", PASSWORD))[:2] == (303, "/console/")


async def test_failures_older_than_the_window_do_not_count(browser: Browser, agent: Account, clock: Clock) -> None:
    await _wrong(browser, "alex", ACCOUNT_RULE.failures - 1)
    clock.advance(ACCOUNT_RULE.window_s + 1)
    await _wrong(browser, "alex", ACCOUNT_RULE.failures - 1)
    assert (await browser.sign_in("alex", PASSWORD))[:2] == (303, "/console/")


async def test_a_right_password_clears_the_accounts_count(browser: Browser, other_browser: Browser, agent: Account) -> None:
    await _wrong(browser, "alex", ACCOUNT_RULE.failures - 1)
    assert (await browser.sign_in("alex", PASSWORD))[0] == 303
    await _wrong(other_browser, "alex", ACCOUNT_RULE.failures - 1)
    assert (await other_browser.sign_in("alex", PASSWORD))[:2] == (303, "/console/")


async def test_a_name_without_an_account_gets_the_same_answers(browser: Browser, agent: Account) -> None:
    """Nobody learns which names exist: every answer, before and after the lock, is the same
    for a real account's name as for a made-up one."""
    known = [(await browser.sign_in("alex", "a wrong password"))[:3] for _ in range(ACCOUNT_RULE.failures + 1)]
    unknown = [(await browser.sign_in("nobody-here", "a wrong password"))[:3] for _ in range(ACCOUNT_RULE.failures + 1)]
    assert known == unknown
    assert {status for status, _, _ in known} == {401}


async def test_an_address_is_locked_after_its_count_across_names(
    browser: Browser, agent: Account, supervisor: Account, clock: Clock,
) -> None:
    names = [f"guess-{n}" for n in range(ADDRESS_RULE.failures)]
    for name in names:
        await _wrong(browser, name, 1)
    assert (await browser.sign_in("sam", PASSWORD))[0] == 401
    clock.advance(ADDRESS_RULE.lock_s + 1)
    assert (await browser.sign_in("sam", PASSWORD))[:2] == (303, "/console/")


async def test_behind_a_proxy_each_forwarded_address_has_its_own_count(
    app_env: str, redis_client: redis.Redis, agent: Account, supervisor: Account, clock: Clock,
) -> None:
    server: TestServer = await serve(console_settings(client_address_header="X-Forwarded-For"), clock)
    attacker, colleague = Browser(f"http://127.0.0.1:{server.port}"), Browser(f"http://127.0.0.1:{server.port}")
    try:
        bad = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
        for n in range(ADDRESS_RULE.failures):
            await _wrong(attacker, f"guess-{n}", 1, headers=bad)
        assert (await attacker.sign_in("sam", PASSWORD, headers=bad))[0] == 401
        good = {"X-Forwarded-For": "203.0.113.10"}
        assert (await colleague.sign_in("sam", PASSWORD, headers=good))[:2] == (303, "/console/")
    finally:
        await attacker.close()
        await colleague.close()
        await server.close()
