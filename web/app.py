"""The web app factory: everything is built here, nothing at import."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import aiohttp
import aiohttp_session
from aiohttp import web
from aiohttp_session.redis_storage import RedisStorage

from bot.db import make_engine, make_sessionmaker, migrate
from bot.domain_config import load_domain_config
from bot.evidence import EvidenceStore, FileSystemStorage
from bot.outbound.delivery import Outbound
from bot.outbound.queue import create_queue
from bot.outbound.settings import load_outbound_settings
from bot.outbound.store import OutboundStore
from bot.outbound.webchat import WebChatMailbox
from bot.settings import load_settings
from bot.sla.notices import StatusNotices, load_notice_texts
from bot.sla.settings import load_sla_watch_settings
from bot.sla.watch import Clock, SlaWatch, utcnow
from bot.tickets import TicketStore
from web import api, keys
from web.chat import STATIC, refusals, routes
from web.console.setup import setup_console
from web.directories import open_directories
from web.push import PushHub, run_hub
from web.settings import JSON_BODY_MAX_BYTES, WebSettings
from web.texts import Texts

COOKIE_NAME = "webchat_session"


def create_app(settings: WebSettings, *, clock: Clock = utcnow) -> web.Application:
    """The web chat and the ticket API for ``settings``; Redis, Rasa and the store are opened on start-up.

    ``clock`` is the time the ticket API records state changes at.
    """
    app = web.Application(client_max_size=JSON_BODY_MAX_BYTES, middlewares=[refusals, api.api_guard])
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock
    app[keys.OPENAPI] = api.load_openapi()
    app[keys.TEXTS] = Texts.load()
    app[keys.PAGE] = (STATIC / "index.html").read_bytes()
    client = settings.mailbox.redis()
    app[keys.REDIS] = client
    app[keys.MAILBOX] = WebChatMailbox(client, settings.mailbox.session_ttl_s)
    app[keys.HUB] = PushHub()
    aiohttp_session.setup(app, RedisStorage(
        client, cookie_name=COOKIE_NAME, max_age=settings.mailbox.session_ttl_s, httponly=True,
        secure=settings.secure_cookies, samesite=settings.cookie_samesite,
        key_factory=lambda: secrets.token_urlsafe(32),
    ))
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_push_ctx)
    app.cleanup_ctx.append(_http_ctx)
    app.cleanup_ctx.append(_evidence_ctx)
    app.on_shutdown.append(_close_sockets)
    app.add_routes(routes)
    app.add_routes(api.routes)
    app.router.add_static("/static/", STATIC)
    setup_console(app, settings)
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[keys.REDIS].ping()
    yield
    await app[keys.REDIS].close()


async def _push_ctx(app: web.Application) -> AsyncIterator[None]:
    async for _ in run_hub(app, app[keys.HUB], app[keys.REDIS]):
        yield


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[keys.HTTP] = session
        yield


async def _evidence_ctx(app: web.Application) -> AsyncIterator[None]:
    """The evidence store, the ticket store, the SLA watcher's view, the callbacks and surveys, and
    the outbound path (for status notices) on the ticket database (migrated, as every process does at start)."""
    settings, process = app[keys.SETTINGS], load_settings()
    engine = make_engine(process.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    evidence = settings.evidence
    app[keys.EVIDENCE] = EvidenceStore(sessions, FileSystemStorage(evidence.directory), evidence.max_bytes)
    tickets = TicketStore(sessions, attempts=process.db_retry_attempts, delay_s=process.db_retry_delay_s)
    app[keys.TICKETS] = tickets
    app[keys.SLA] = SlaWatch(sessions, tickets, load_domain_config(process.config_dir).sla)
    app[keys.CALLBACKS], app[keys.SURVEYS] = open_directories(sessions)
    app[keys.NOTICES] = StatusNotices(sessions, load_notice_texts(), window=load_sla_watch_settings().notice_window)
    outbound_settings = load_outbound_settings()
    queue = await create_queue(outbound_settings)
    app[keys.OUTBOUND] = Outbound(OutboundStore(sessions), queue, outbound_settings)
    yield
    await queue.close(close_connection_pool=True)
    engine.dispose()


async def _close_sockets(app: web.Application) -> None:
    await app[keys.HUB].close_all()
