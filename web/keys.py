"""Every web.AppKey of the web app, so state lives on the app and not in globals."""

from __future__ import annotations

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot.evidence import EvidenceStore
from bot.outbound.webchat import WebChatMailbox
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
