"""Every console page, API call and WebSocket is refused without a session, and a supervisor's
routes are refused to agents. The routes are read from the app's router, so a route added
later is covered by these tests without editing them."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.console.conftest import ORIGIN, PASSWORD, Browser
from tests.console.routes import Route, console_routes, with_sample_parameters
from web.console.accounts import Account
from web.console.guard import check_every_route_guarded, public

PUBLIC = {
    ("GET", "/console/sign-in"), ("HEAD", "/console/sign-in"), ("POST", "/console/sign-in"),
    ("GET", "/console/console.css"), ("HEAD", "/console/console.css"),
}
"""The only routes open without a session; adding one means adding it here, on purpose."""


def _protected(server: TestServer) -> list[Route]:
    return [route for route in console_routes(server.app) if (route.method, route.path) not in PUBLIC]


def _is_socket(route: Route) -> bool:
    return route.path == "/console/ws"


async def test_every_console_route_is_guarded_and_only_the_sign_in_is_public(server: TestServer) -> None:
    routes = console_routes(server.app)
    assert {r.role for r in routes} <= {"agent", "supervisor", "public"}
    assert {(r.method, r.path) for r in routes if r.role == "public"} == PUBLIC
    assert {r.path for r in routes} >= {"/console/", "/console/api/me", "/console/api/accounts", "/console/ws"}


@pytest.mark.parametrize("cookie", [None, "a-key-redis-never-issued"], ids=["no-cookie", "unknown-cookie"])
async def test_without_a_session_pages_redirect_and_the_api_and_socket_answer_401(
    server: TestServer, browser: Browser, cookie: str | None,
) -> None:
    if cookie is not None:
        browser.http.cookie_jar.update_cookies({"console_session": cookie})
    checked = []
    for route in _protected(server):
        if _is_socket(route):
            continue
        async with browser.request(route.method, with_sample_parameters(route.path)) as response:
            if route.path.startswith("/console/api/"):
                assert response.status == 401, route
                if route.method != "HEAD":
                    assert await response.json() == {"error": "not_signed_in"}
            else:
                assert (response.status, response.headers.get("Location")) == (303, "/console/sign-in"), route
        checked.append(route)
    assert len(checked) >= 5
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await browser.http.ws_connect(browser.base + "/console/ws", origin=ORIGIN)
    assert refused.value.status == 401


async def test_supervisor_routes_are_refused_to_agents(server: TestServer, browser: Browser, agent: Account) -> None:
    await browser.sign_in("alex", PASSWORD)
    token = await browser.api_token()
    supervisors_only = [route for route in console_routes(server.app) if route.role == "supervisor"]
    assert {(r.method, r.path) for r in supervisors_only} >= {
        ("GET", "/console/accounts"), ("GET", "/console/api/accounts"), ("POST", "/console/api/accounts"),
    }
    for route in supervisors_only:
        async with browser.request(route.method, with_sample_parameters(route.path), headers={"X-CSRF-Token": token},
                                   json={}) as response:
            assert response.status == 403, route
            if route.method == "HEAD":
                continue
            if route.path.startswith("/console/api/"):
                assert await response.json() == {"error": "forbidden"}
            else:
                assert "This page is for supervisors." in await response.text()
    assert (await browser.page("/console/"))[0] == 200


async def test_agents_open_every_agent_page(server: TestServer, browser: Browser, agent: Account) -> None:
    await browser.sign_in("alex", PASSWORD)
    for route in console_routes(server.app):
        if route.role == "agent" and route.method == "GET" and not _is_socket(route):
            async with browser.request("GET", with_sample_parameters(route.path)) as response:
                # a sample id names nothing: the guard let the agent in, and the route found no hand-off 1
                assert response.status == (404 if "{" in route.path else 200), route


async def test_a_supervisor_lists_the_accounts(browser: Browser, supervisor: Account, agent: Account) -> None:
    await browser.sign_in("sam", PASSWORD)
    async with browser.request("GET", "/console/api/accounts") as response:
        assert response.status == 200
        listed = await response.json()
    assert listed == {"accounts": [
        {"id": agent.id, "name": "alex", "display_name": "Alex Agent", "role": "agent", "active": True},
        {"id": supervisor.id, "name": "sam", "display_name": "Sam Supervisor", "role": "supervisor", "active": True},
    ]}


async def test_a_supervisor_sees_the_accounts_page(browser: Browser, supervisor: Account, agent: Account) -> None:
    await browser.sign_in("sam", PASSWORD)
    status, _, page = await browser.page("/console/accounts")
    assert status == 200
    assert "<caption>Accounts</caption>" in page
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>", page)
    assert rows == [("alex", "Alex Agent", "agent", "active"), ("sam", "Sam Supervisor", "supervisor", "active")]


def test_an_unguarded_route_stops_the_app_from_being_built() -> None:
    app = web.Application()

    async def bare(_: web.Request) -> web.Response:
        return web.Response(text="open to all")

    @public
    async def fine(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/console/fine", fine)
    app.router.add_get("/console/bare/{id}", bare)
    app.router.add_get("/elsewhere", bare)
    with pytest.raises(RuntimeError) as refused:
        check_every_route_guarded(app)
    assert str(refused.value) == "console routes without require_agent/require_supervisor/public: ['/console/bare/{id}']"


async def test_the_socket_greets_a_signed_in_account(browser: Browser, agent: Account) -> None:
    await browser.sign_in("alex", PASSWORD)
    async with browser.http.ws_connect(browser.base + "/console/ws", origin=ORIGIN) as socket:
        hello = await socket.receive_json(timeout=5)
    assert hello == {"type": "hello", "account": {
        "id": agent.id, "name": "alex", "display_name": "Alex Agent", "role": "agent", "active": True,
    }}


async def test_the_socket_refuses_another_origin(browser: Browser, agent: Account) -> None:
    await browser.sign_in("alex", PASSWORD)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await browser.http.ws_connect(browser.base + "/console/ws", origin="https://evil.example")
    assert refused.value.status == 403
