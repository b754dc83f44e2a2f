"""The one gate of every console route: who is signed in, in which role, and the CSRF check.

Every console handler (a route under ``/console``) is wrapped by :func:`require_agent`,
:func:`require_supervisor` or :func:`public`; :func:`check_every_route_guarded` refuses
to start an app with a route that is not. Without a session a page redirects to the
sign-in page, and an API call or a WebSocket gets 401; a signed-in agent asking for a
supervisor's route gets 403. Every request that may change something (any method but
GET, HEAD and OPTIONS), public or not, must carry the session's CSRF token: in the
``X-CSRF-Token`` header (API) or the ``csrf_token`` form field (forms), compared in
constant time.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_session import Session

from web import keys
from web.console.accounts import Account
from web.console.sessions import ACCOUNT, CSRF, PRESENCE

PREFIX = "/console"
API_PREFIX = f"{PREFIX}/api/"
SIGN_IN_PATH = f"{PREFIX}/sign-in"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
ROLE_ATTRIBUTE = "console_role"
"""Set on every guarded handler: ``agent``, ``supervisor`` or ``public``."""
ACCOUNT_KEY = "console.account"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_agent(handler: Handler) -> Handler:
    """Any signed-in account (agents and supervisors)."""
    return _guarded(handler, "agent")


def require_supervisor(handler: Handler) -> Handler:
    """Supervisors only."""
    return _guarded(handler, "supervisor")


def public(handler: Handler) -> Handler:
    """No account needed (the sign-in page, its stylesheet); writes still need the CSRF token."""
    return _guarded(handler, "public")


def signed_in(request: web.Request) -> Account:
    """The account a guarded handler runs for."""
    return request[ACCOUNT_KEY]


def check_every_route_guarded(app: web.Application) -> None:
    """Refuse an app one of whose console routes bypasses the guard (a programming error)."""
    bare = [route.resource.canonical for route in app.router.routes()
            if route.resource is not None and route.resource.canonical.startswith(PREFIX + "/")
            and not hasattr(route.handler, ROLE_ATTRIBUTE)]
    if bare:
        raise RuntimeError(f"console routes without require_agent/require_supervisor/public: {sorted(set(bare))}")


def _guarded(handler: Handler, role: str) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        sessions = request.config_dict[keys.CONSOLE_SESSIONS]
        session = await sessions.load(request)
        account = await _account(request, session)
        if role != "public":
            if account is None:
                raise _not_signed_in(request)
            if role == "supervisor" and not account.is_supervisor:
                raise _refused(request, "forbidden")
            sessions.touch(session)
            if PRESENCE in session:
                await request.config_dict[keys.PRESENCE].session_seen(account.id, session[PRESENCE], sessions.live_until(session))
        if request.method not in SAFE_METHODS and not await _csrf_matches(request, session):
            raise _refused(request, "bad_csrf_token")
        request[ACCOUNT_KEY] = account
        return await _saving_session(request, handler)

    setattr(guarded, ROLE_ATTRIBUTE, role)
    return guarded


async def _saving_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run ``handler`` and save the session into its answer, redirects raised as exceptions
    included. A WebSocket is under way by the time its handler returns, so a WebSocket
    handler saves the session itself before it prepares the socket."""
    sessions = request.config_dict[keys.CONSOLE_SESSIONS]
    try:
        response = await handler(request)
    except web.HTTPException as raised:
        await sessions.save(request, raised)
        raise
    if isinstance(response, web.Response) and not response.prepared:
        await sessions.save(request, response)
    return response


async def _account(request: web.Request, session: Session) -> Account | None:
    """The session's account while it exists and is active; a session whose account is gone
    or disabled is ended."""
    account_id = session.get(ACCOUNT)
    if account_id is None:
        return None
    account = await asyncio.to_thread(request.config_dict[keys.ACCOUNTS].get, int(account_id))
    if account is None or not account.active:
        await request.config_dict[keys.CONSOLE_SESSIONS].end(request, web.Response())
        return None
    return account


async def _csrf_matches(request: web.Request, session: Session) -> bool:
    expected = session.get(CSRF)
    if not isinstance(expected, str):
        return False
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in FORM_TYPES:
        field = (await request.post()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    return sent is not None and secrets.compare_digest(sent.encode(), expected.encode())


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(API_PREFIX) or request.headers.get("Upgrade", "").lower() == "websocket"


def _not_signed_in(request: web.Request) -> web.HTTPException:
    if _wants_json(request):
        return web.HTTPUnauthorized(text=json.dumps({"error": "not_signed_in"}), content_type="application/json")
    return web.HTTPSeeOther(SIGN_IN_PATH)


def _refused(request: web.Request, error: str) -> web.HTTPException:
    """403, as JSON for the API and a WebSocket, else the page saying why."""
    if _wants_json(request):
        return web.HTTPForbidden(text=json.dumps({"error": error}), content_type="application/json")
    page = request.config_dict[keys.PAGES].render("refused.html", status=403, reason=error)
    return web.HTTPForbidden(body=page.body, headers=page.headers)
