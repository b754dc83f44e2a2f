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
from redis.asyncio import Redis

from bot.callbacks.jobs import domain_texts
from bot.callbacks.policy import callback_policy
from bot.callbacks.service import Callbacks
from bot.callbacks.store import CallbackStore
from bot.db import make_engine, make_sessionmaker, migrate
from bot.handoff.desk import CALLBACK_BOOKED_RESPONSE, HandoffDesk
from bot.handoff.next_steps import next_steps_policy
from bot.handoff.notices import HandoffNotices
from bot.handoff.store import HandoffStore
from bot.outbound.queue import create_queue
from bot.outbound.settings import load_outbound_settings, rasa_auth_token
from bot.settings import load_settings, redis_location
from web import keys
from web.console import handoffs, supervisors, views
from web.console.assistant import RasaAssistant
from web.console.live import ConsoleHub, run_console_hub
from web.console.accounts import AccountStore
from web.console.guard import check_every_route_guarded
from web.console.lockout import Lockout
from web.console.pages import Pages
from web.console.presence import Presence
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
    app[keys.CONSOLE_HUB] = ConsoleHub()
    app[keys.PRESENCE] = Presence(app[keys.REDIS], app[keys.CLOCK])
    next_steps_policy()  # a bad settings/next_steps.yml stops start-up here, not on an agent's page
    app.cleanup_ctx.append(_accounts_ctx)
    app.cleanup_ctx.append(_desk_ctx)
    app.cleanup_ctx.append(_hub_ctx)
    app.on_shutdown.append(_close_console_sockets)
    app.add_routes(views.routes)
    app.add_routes(handoffs.routes)
    app.add_routes(supervisors.routes)
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


async def _desk_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hand-off desk, on the ticket store, outbound path and HTTP client the app opened before, with
    the call backs agents book (the assistant's own slots and store; their jobs on the outbound queue)."""
    engine = make_engine(load_settings().database_url)
    sessions = make_sessionmaker(engine)
    redis = redis_location()
    policy = callback_policy()
    callbacks = Callbacks(CallbackStore(sessions, capacity=policy.capacity_per_slot), policy,
                          lambda: create_queue(load_outbound_settings()))
    app[keys.HANDOFF_DESK] = HandoffDesk(
        HandoffStore(sessions), app[keys.TICKETS], sessions, app[keys.OUTBOUND],
        HandoffNotices(lambda: Redis(host=redis.host, port=redis.port, socket_connect_timeout=2, socket_timeout=2)),
        RasaAssistant(app[keys.HTTP], app[keys.SETTINGS].rasa_urls, rasa_auth_token),
        callbacks, domain_texts((CALLBACK_BOOKED_RESPONSE,)),
    )
    yield
    engine.dispose()


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    async for _ in run_console_hub(app[keys.CONSOLE_HUB], app[keys.REDIS]):
        yield


async def _close_console_sockets(app: web.Application) -> None:
    await app[keys.CONSOLE_HUB].close_all()
