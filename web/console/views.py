"""The console's routes: sign-in and sign-out, the queue page, the account API, the WebSocket.

All under ``/console``. Every handler goes through
the guard (:mod:`web.console.guard`). Nothing here logs what a person typed: a name typed
into the sign-in form may be a password in the wrong field, so a refused sign-in is
logged without it, and a session key or CSRF token is never logged at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web
from multidict import MultiDictProxy

from web import keys
from web.console.accounts import AccountError
from web.console.bodies import bad_request, json_object
from web.console.guard import ACCOUNT_KEY, PREFIX, SIGN_IN_PATH, public, require_agent, require_supervisor, signed_in
from web.console.handoffs import queue_and_mine, readable
from web.console.lockout import client_address
from web.console.pages import SCRIPT, STYLESHEET
from web.console.passwords import PasswordRejected
from web.console.sessions import CSRF, PRESENCE, REQUEST_KEY
from web.settings import JSON_BODY_MAX_BYTES

logger = logging.getLogger(__name__)

HOME_PATH = f"{PREFIX}/"
ACCOUNT_FIELDS = frozenset({"name", "role", "password", "display_name"})
routes = web.RouteTableDef()


@routes.get(f"{PREFIX}/sign-in")
@public
async def sign_in_page(request: web.Request) -> web.StreamResponse:
    if request[ACCOUNT_KEY] is not None:
        raise web.HTTPSeeOther(HOME_PATH)
    session = await request.config_dict[keys.CONSOLE_SESSIONS].anonymous(request)
    return request.config_dict[keys.PAGES].render("sign_in.html", csrf_token=session[CSRF], failed=False)


@routes.post(f"{PREFIX}/sign-in")
@public
async def sign_in(request: web.Request) -> web.StreamResponse:
    """Check the name and password unless sign-in is paused for them; a wrong password and a
    pause get the same answer. Success replaces the session (new key, new CSRF token)."""
    app = request.config_dict
    form = await request.post()
    name, password = _field(form, "name"), _field(form, "password")
    lockout = app[keys.LOCKOUT]
    address = client_address(request, app[keys.SETTINGS].console.client_address_header)
    account = None
    if not await lockout.locked(name, address):
        account = await asyncio.to_thread(app[keys.ACCOUNTS].authenticate, name, password, now=app[keys.CLOCK]())
        if account is None:
            await lockout.failed(name, address)
    if account is None:
        logger.info("console sign-in failed")
        session = await app[keys.CONSOLE_SESSIONS].anonymous(request)
        return app[keys.PAGES].render("sign_in.html", status=401, csrf_token=session[CSRF], failed=True)
    await lockout.succeeded(name)
    session = await app[keys.CONSOLE_SESSIONS].rotate(request, account.id)
    await app[keys.PRESENCE].session_seen(account.id, session[PRESENCE], app[keys.CONSOLE_SESSIONS].live_until(session))
    logger.info("console sign-in", extra={"account_id": account.id, "role": account.role})
    raise web.HTTPSeeOther(HOME_PATH)


@routes.post(f"{PREFIX}/sign-out")
@require_agent
async def sign_out(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther(SIGN_IN_PATH)
    presence_id = request[REQUEST_KEY].get(PRESENCE)
    if presence_id is not None:
        await request.config_dict[keys.PRESENCE].session_ended(signed_in(request).id, presence_id)
    await request.config_dict[keys.CONSOLE_SESSIONS].end(request, response)
    logger.info("console sign-out", extra={"account_id": signed_in(request).id})
    raise response


@routes.get(f"{PREFIX}/")
@require_agent
async def queue_page(request: web.Request) -> web.StreamResponse:
    """The hand-off queue the account works from, and the conversations it holds, as SQL has them now;
    the page's script keeps both live over ``/console/ws``."""
    waiting, mine = await queue_and_mine(request)
    return request.config_dict[keys.PAGES].render(
        "queue.html", account=signed_in(request), csrf_token=request[REQUEST_KEY][CSRF], handoffs=waiting, mine=mine,
    )


@routes.get(f"{PREFIX}/accounts")
@require_supervisor
async def accounts_page(request: web.Request) -> web.StreamResponse:
    """Supervisors: everyone who can sign in."""
    accounts = await asyncio.to_thread(request.config_dict[keys.ACCOUNTS].all)
    return request.config_dict[keys.PAGES].render(
        "accounts.html", account=signed_in(request), csrf_token=request[REQUEST_KEY][CSRF], accounts=accounts,
    )


@routes.get(f"{PREFIX}/console.css")
@public
async def stylesheet(_: web.Request) -> web.StreamResponse:
    return web.FileResponse(STYLESHEET)


@routes.get(f"{PREFIX}/console.js")
@require_agent
async def script(_: web.Request) -> web.StreamResponse:
    """The signed-in pages' script: only a signed-in browser needs it."""
    return web.FileResponse(SCRIPT)


@routes.get(f"{PREFIX}/api/me")
@require_agent
async def me(request: web.Request) -> web.Response:
    """Who is signed in, and the CSRF token the page's scripts send with every write."""
    return web.json_response({"account": signed_in(request).public(), "csrf_token": request[REQUEST_KEY][CSRF]})


@routes.get(f"{PREFIX}/api/accounts")
@require_supervisor
async def list_accounts(request: web.Request) -> web.Response:
    accounts = await asyncio.to_thread(request.config_dict[keys.ACCOUNTS].all)
    return web.json_response({"accounts": [account.public() for account in accounts]})


@routes.post(f"{PREFIX}/api/accounts")
@require_supervisor
async def create_account(request: web.Request) -> web.Response:
    """A supervisor adds an agent or supervisor: JSON ``name``, ``role``, ``password``, ``display_name``."""
    body = await json_object(request)
    if not set(body) <= ACCOUNT_FIELDS or not all(isinstance(body.get(f), str) for f in ("name", "role", "password")) \
            or not isinstance(body.get("display_name", ""), str):
        raise bad_request("bad_request", "send a JSON object with string name, role and password (display_name optional)")
    store = request.config_dict[keys.ACCOUNTS]
    try:
        account = await asyncio.to_thread(
            store.create, body["name"], body["role"], body["password"],
            now=request.config_dict[keys.CLOCK](), display_name=body.get("display_name") or None,
        )
    except (AccountError, PasswordRejected) as error:
        raise bad_request("account_refused", str(error)) from error
    return web.json_response({"account": account.public()}, status=201)


@routes.get(f"{PREFIX}/ws")
@require_agent
async def socket(request: web.Request) -> web.WebSocketResponse:
    """The console's live channel: it greets the account, then forwards every queue notice and the
    messages of each conversation the page asks to ``{"type": "watch", "handoff_id": N}`` (when the
    access rule lets the account read it; otherwise it answers ``not_found``). While it is open the
    account counts as online in the supervisors' view (:mod:`web.console.presence`)."""
    if request.headers.get("Origin", "").rstrip("/") not in request.config_dict[keys.SETTINGS].allowed_origins:
        raise web.HTTPForbidden(text=json.dumps({"error": "origin_not_allowed"}), content_type="application/json")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=JSON_BODY_MAX_BYTES)
    await request.config_dict[keys.CONSOLE_SESSIONS].save(request, ws)
    await ws.prepare(request)
    hub, presence = request.config_dict[keys.CONSOLE_HUB], request.config_dict[keys.PRESENCE]
    hub.add(ws)
    present = await presence.socket_opened(signed_in(request).id)
    renewing = asyncio.create_task(presence.keep_socket(present))
    try:
        await ws.send_json({"type": "hello", "account": signed_in(request).public()})
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
            if message.type == WSMsgType.TEXT:
                await _watch(request, ws, message.data)
    finally:
        hub.remove(ws)
        renewing.cancel()
        await presence.socket_closed(present)
    return ws


async def _watch(request: web.Request, ws: web.WebSocketResponse, data: str) -> None:
    try:
        asked = json.loads(data)
    except ValueError:
        return
    handoff_id = asked.get("handoff_id") if isinstance(asked, dict) and asked.get("type") == "watch" else None
    if not isinstance(handoff_id, int):
        return
    try:
        await readable(request, handoff_id)
    except web.HTTPNotFound:
        await ws.send_json({"type": "not_found", "handoff_id": handoff_id})
        return
    request.config_dict[keys.CONSOLE_HUB].watch(ws, handoff_id)
    await ws.send_json({"type": "watching", "handoff_id": handoff_id})


def _field(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
