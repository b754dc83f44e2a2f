"""Console sessions: server-side in Redis through aiohttp-session's RedisStorage.

The cookie (``console_session``, path ``/console``) is not the web chat's, and it holds
only a random key; the data (account id, CSRF token, times) stays in Redis. The cookie is
HttpOnly, SameSite=Strict, and Secure when WEB_SECURE_COOKIES=1.

The web chat's aiohttp-session middleware runs on every request of the app, and
aiohttp-session keeps one session per request, so the console does not use its
middleware or ``get_session``: :class:`ConsoleSessions` loads and saves through the
storage itself and keeps the session under a request key of its own (the guard saves it
into every answer). A session ends
after ``CONSOLE_SESSION_IDLE_S`` without a request (Redis expiry, and the app's clock
for a key Redis still holds) and ``CONSOLE_SESSION_MAX_S`` after sign-in. Signing in
replaces the session with a new key and a new CSRF token, so a key planted before
sign-in is worth nothing after it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timezone

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.redis_storage import RedisStorage

from web.console.presence import new_presence_id
from web.settings import ConsoleSettings

COOKIE_NAME = "console_session"
COOKIE_PATH = "/console"
REQUEST_KEY = "console.session"
CSRF = "csrf"
ACCOUNT = "account"
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
PRESENCE = "presence"
"""A random id naming the session in the presence set (:mod:`web.console.presence`), never its key."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


class ConsoleSessions:
    """Load, rotate, refresh and end console sessions."""

    def __init__(self, client: aioredis.Redis, settings: ConsoleSettings, *, secure: bool,
                 clock: Callable[[], datetime]) -> None:
        self._redis = client
        self._settings = settings
        self._clock = clock
        self.storage = RedisStorage(
            client, cookie_name=COOKIE_NAME, path=COOKIE_PATH, max_age=settings.session_idle_s,
            httponly=True, secure=secure, samesite="Strict", key_factory=new_token,
        )

    async def load(self, request: web.Request) -> Session:
        """The request's session (loaded once per request); a session past its idle or
        total lifetime is deleted and an empty one takes its place."""
        if REQUEST_KEY in request:
            return request[REQUEST_KEY]
        session = await self.storage.load_session(request)
        if not session.empty and self._expired(session):
            await self._forget(session)
            session = await self.storage.new_session()
        request[REQUEST_KEY] = session
        return session

    async def anonymous(self, request: web.Request) -> Session:
        """The request's session, given a CSRF token if it has none (the sign-in form needs one)."""
        session = await self.load(request)
        if CSRF not in session:
            session[CSRF] = new_token()
        return session

    async def rotate(self, request: web.Request, account_id: int) -> Session:
        """Sign ``account_id`` in: the old session is deleted and a new one, with a new key
        and CSRF token, is saved with the response."""
        await self._forget(await self.load(request))
        session = await self.storage.new_session()
        now = self._clock().timestamp()
        session.update({ACCOUNT: account_id, CSRF: new_token(), SIGNED_IN_AT: now, SEEN_AT: now,
                        PRESENCE: new_presence_id()})
        request[REQUEST_KEY] = session
        return session

    def touch(self, session: Session) -> None:
        """Mark activity, so the idle lifetime runs from now (saved with the response)."""
        session[SEEN_AT] = self._clock().timestamp()

    def live_until(self, session: Session) -> datetime:
        """When a signed-in session ends if nothing more happens: idle, or its total lifetime, whichever first."""
        ends = min(float(session.get(SEEN_AT, 0)) + self._settings.session_idle_s,
                   float(session.get(SIGNED_IN_AT, 0)) + self._settings.session_max_s)
        return datetime.fromtimestamp(ends, tz=timezone.utc)

    async def end(self, request: web.Request, response: web.StreamResponse) -> None:
        """Sign out: the data goes from Redis and the browser is told to drop the cookie."""
        await self._forget(await self.load(request))
        request[REQUEST_KEY] = await self.storage.new_session()
        response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)

    async def save(self, request: web.Request, response: web.StreamResponse) -> None:
        """Write the request's session to Redis (renewing its expiry) and set its cookie on
        ``response``, which must not be under way yet; an empty session is not kept."""
        session = request.get(REQUEST_KEY)
        if session is not None and not session.empty:
            await self.storage.save_session(request, response, session)

    def _expired(self, session: Session) -> bool:
        if ACCOUNT not in session:
            return False
        now = self._clock().timestamp()
        return (now - float(session.get(SEEN_AT, 0)) > self._settings.session_idle_s
                or now - float(session.get(SIGNED_IN_AT, 0)) > self._settings.session_max_s)

    async def _forget(self, session: Session) -> None:
        if session.identity is not None:
            await self._redis.delete(f"{COOKIE_NAME}_{session.identity}")
