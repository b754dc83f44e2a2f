"""Add the agent console to the web app: ``setup_console(app, settings)`` in ``create_app``.

Its routes are the app's own, under ``/console`` (not a sub-application: aiohttp 3.9's
sub-application routing reads ``request.url``, which the yarl this environment resolves
cannot build). Its accounts are on the ticket database (an engine of its own, opened on
start-up), its sessions and lockout counts on the web app's Redis client, its times from
the app's clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot.db import make_engine, make_sessionmaker, migrate
from bot.settings import load_settings
from web import keys
from web.console import views
from web.console.accounts import AccountStore
from web.console.guard import check_every_route_guarded
from web.console.lockout import Lockout
from web.console.pages import Pages
from web.console.passwords import Passwords
from web.console.sessions import ConsoleSessions
from web.settings import WebSettings


def setup_console(app: web.Application, settings: WebSettings) -> None:
    """Add the console to ``app``, which already holds the Redis client and the clock."""
    app[keys.CONSOLE_SESSIONS] = ConsoleSessions(
        app[keys.REDIS], settings.console, secure=settings.secure_cookies, clock=app[keys.CLOCK],
    )
    app[keys.LOCKOUT] = Lockout(app[keys.REDIS], settings.console.policy.lockout, app[keys.CLOCK])
    app[keys.PAGES] = Pages()
    app.cleanup_ctx.append(_accounts_ctx)
    app.add_routes(views.routes)
    check_every_route_guarded(app)


async def _accounts_ctx(app: web.Application) -> AsyncIterator[None]:
    """The account store on the ticket database (migrated: a no-op when another part of the
    app already did it, which keeps the console independent of start-up order)."""
    engine = make_engine(load_settings().database_url)
    migrate(engine)
    app[keys.ACCOUNTS] = AccountStore(
        make_sessionmaker(engine), Passwords(app[keys.SETTINGS].console.policy.password_min_chars),
    )
    yield
    engine.dispose()
