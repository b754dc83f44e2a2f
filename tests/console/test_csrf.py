"""Every form POST and every console API write needs the session's own CSRF token."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from tests.console.conftest import PASSWORD, Browser
from tests.console.routes import console_routes, with_sample_parameters
from web.console.accounts import Account, AccountStore

EXPIRED_FORM = "This form has expired"


@pytest.mark.parametrize("token", [None, "", "forged-token"], ids=["missing", "empty", "wrong"])
async def test_the_sign_in_form_needs_the_sessions_token(browser: Browser, supervisor: Account, token: str | None) -> None:
    await browser.form_token()
    data = {"name": "sam", "password": PASSWORD} | ({} if token is None else {"csrf_token": token})
    async with browser.request("POST", "/console/sign-in", data=data) as response:
        assert response.status == 403
        assert EXPIRED_FORM in await response.text()
    assert (await browser.page("/console/"))[:2] == (303, "/console/sign-in")


async def test_another_sessions_token_does_not_count(browser: Browser, other_browser: Browser, supervisor: Account) -> None:
    """Login CSRF: a token from the attacker's own session is no good in the victim's."""
    foreign = await other_browser.form_token()
    await browser.form_token()
    data = {"csrf_token": foreign, "name": "sam", "password": PASSWORD}
    async with browser.request("POST", "/console/sign-in", data=data) as response:
        assert response.status == 403


async def test_a_sign_in_without_any_session_is_refused(browser: Browser, supervisor: Account) -> None:
    data = {"csrf_token": "anything", "name": "sam", "password": PASSWORD}
    async with browser.request("POST", "/console/sign-in", data=data) as response:
        assert response.status == 403


async def test_sign_out_needs_the_token(browser: Browser, supervisor: Account) -> None:
    await browser.sign_in("sam", PASSWORD)
    for data in ({}, {"csrf_token": "forged"}):
        async with browser.request("POST", "/console/sign-out", data=data) as response:
            assert response.status == 403
            assert EXPIRED_FORM in await response.text()
        assert (await browser.page("/console/"))[0] == 200


@pytest.mark.parametrize("headers", [{}, {"X-CSRF-Token": "forged"}], ids=["missing", "wrong"])
async def test_an_api_write_needs_the_token_header(
    browser: Browser, supervisor: Account, accounts: AccountStore, headers: dict[str, str],
) -> None:
    await browser.sign_in("sam", PASSWORD)
    body = {"name": "newcomer", "role": "agent", "password": "a fine long password"}
    async with browser.request("POST", "/console/api/accounts", json=body, headers=headers) as response:
        assert response.status == 403
        assert await response.json() == {"error": "bad_csrf_token"}
    assert [a.name for a in accounts.all()] == ["sam"]


async def test_a_form_field_token_does_not_pass_for_a_json_write(browser: Browser, supervisor: Account, accounts: AccountStore) -> None:
    await browser.sign_in("sam", PASSWORD)
    token = await browser.api_token()
    async with browser.request("POST", "/console/api/accounts?csrf_token=" + token,
                               json={"name": "newcomer", "role": "agent", "password": "a fine long password"}) as response:
        assert response.status == 403
    assert [a.name for a in accounts.all()] == ["sam"]


async def test_an_api_write_with_the_token_is_done(browser: Browser, supervisor: Account, accounts: AccountStore) -> None:
    await browser.sign_in("sam", PASSWORD)
    token = await browser.api_token()
    body = {"name": "Newcomer", "role": "agent", "password": "a fine long password", "display_name": "New Comer"}
    async with browser.request("POST", "/console/api/accounts", json=body, headers={"X-CSRF-Token": token}) as response:
        assert response.status == 201
        created = (await response.json())["account"]
    assert created == {"id": created["id"], "name": "newcomer", "display_name": "New Comer", "role": "agent", "active": True}
    assert [(a.name, a.role) for a in accounts.all()] == [("newcomer", "agent"), ("sam", "supervisor")]


async def test_every_write_route_refuses_a_missing_or_wrong_token(server: TestServer, browser: Browser, supervisor: Account) -> None:
    """Read from the router, so a write route added later is covered without editing this test."""
    await browser.sign_in("sam", PASSWORD)
    writes = [route for route in console_routes(server.app) if route.method not in ("GET", "HEAD", "OPTIONS")]
    assert {(r.method, r.path) for r in writes} >= {("POST", "/console/sign-in"), ("POST", "/console/sign-out"),
                                                    ("POST", "/console/api/accounts")}
    for route in writes:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            async with browser.request(route.method, with_sample_parameters(route.path), headers=headers,
                                       data={"csrf_token": "forged"}) as response:
                assert response.status == 403, (route, headers)
    assert (await browser.page("/console/"))[0] == 200
