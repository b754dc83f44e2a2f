"""Every web.AppKey of the web app, so state lives on the app and not in globals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot.evidence import EvidenceStore
from bot.handoff.desk import HandoffDesk
from bot.outbound.delivery import Outbound
from bot.sla.notices import StatusNotices
from bot.sla.watch import SlaWatch
from bot.tickets import TicketStore
from bot.outbound.webchat import WebChatMailbox
from web.console.accounts import AccountStore
from web.console.live import ConsoleHub
from web.console.lockout import Lockout
from web.console.pages import Pages
from web.console.presence import Presence
from web.console.sessions import ConsoleSessions
from web.directories import CallbackDirectory, SurveyDirectory
from web.push import PushHub
from web.settings import WebSettings
from web.texts import Texts

SETTINGS = web.AppKey("settings", WebSettings)
TEXTS = web.AppKey("texts", Texts)
REDIS = web.AppKey("redis", aioredis.Redis)
MAILBOX = web.AppKey("mailbox", WebChatMailbox)
HUB = web.AppKey("hub", PushHub)
HTTP = web.AppKey("http", aiohttp.ClientSession)
EVIDENCE = web.AppKey("evidence", EvidenceStore)
PAGE = web.AppKey("page", bytes)
TICKETS = web.AppKey("tickets", TicketStore)
SLA = web.AppKey("sla", SlaWatch)
NOTICES = web.AppKey("notices", StatusNotices)
OUTBOUND = web.AppKey("outbound", Outbound)
CLOCK = web.AppKey("clock", Callable[[], datetime])
OPENAPI = web.AppKey("openapi", dict)
CALLBACKS = web.AppKey("callbacks", CallbackDirectory)
SURVEYS = web.AppKey("surveys", SurveyDirectory)
ACCOUNTS = web.AppKey("accounts", AccountStore)
"""The agent console's accounts (set on start-up)."""
CONSOLE_SESSIONS = web.AppKey("console_sessions", ConsoleSessions)
LOCKOUT = web.AppKey("lockout", Lockout)
PAGES = web.AppKey("pages", Pages)
HANDOFF_DESK = web.AppKey("handoff_desk", HandoffDesk)
"""What agents do with hand-offs (set on start-up, after the ticket store and outbound path)."""
CONSOLE_HUB = web.AppKey("console_hub", ConsoleHub)
PRESENCE = web.AppKey("presence", Presence)
"""Who is signed in or has a console open (the supervisors' view)."""
