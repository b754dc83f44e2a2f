"""The web chat's routes: the page, the widget, the session's API and its WebSocket.

Identity is the server's: ``GET /`` issues a session (a random key in an HttpOnly
cookie, the data in Redis) holding the conversation's ``session_id``. Every API route
reads the session from the cookie and nothing else, so no URL or body can name another
customer's conversation. POSTs carry the session's CSRF token in a header; the WebSocket
checks the page's Origin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp_session import Session, get_session

from bot.channel_policy import RateLimit
from bot.evidence import EvidenceRejected
from bot.outbound.webchat import make_item
from bot.rate_limit import ConversationRateLimiter
from bot.time_zones import known_time_zone
from web import keys
from web.rasa import RasaSlowDown, RasaUnavailable, ask_rasa
from web.settings import JSON_BODY_MAX_BYTES, MAX_MESSAGE_CHARS, MULTIPART_OVERHEAD_BYTES

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CSRF_HEADER = "X-CSRF-Token"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_TITLE_CHARS = 200
CHUNK_BYTES = 64 * 1024
routes = web.RouteTableDef()


def json_error(status: int, error: str, text: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": error}
    if text is not None:
        body["text"] = text
    return web.json_response(body, status=status)


class Refused(Exception):
    """A request we answer with an error body (status, code, optional customer-facing text)."""

    def __init__(self, status: int, error: str, text: str | None = None) -> None:
        super().__init__(error)
        self.response = json_error(status, error, text)


async def issue_session(request: web.Request) -> str:
    """The session's conversation id, issuing a new session when there is none."""
    session = await get_session(request)
    if "session_id" not in session:
        session["session_id"] = secrets.token_urlsafe(24)
        session["csrf_token"] = secrets.token_urlsafe(24)
        await request.app[keys.MAILBOX].open(session["session_id"])
        logger.info("web chat session issued")
    return session["session_id"]


async def existing_session(request: web.Request) -> Session:
    """The caller's session, or 401: the API never creates one, only the page does."""
    session = await get_session(request)
    if "session_id" not in session:
        raise Refused(401, "no_session")
    return session


async def checked_post_session(request: web.Request) -> Session:
    """The session of a POST that proves it comes from our page (CSRF token header)."""
    session = await existing_session(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not secrets.compare_digest(sent.encode(), str(session["csrf_token"]).encode()):
        raise Refused(403, "bad_csrf_token")
    return session


@web.middleware
async def refusals(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn :class:`Refused` into its JSON answer, and add headers every answer needs."""
    try:
        response = await handler(request)
    except Refused as refused:
        response = refused.response
    except web.HTTPRequestEntityTooLarge:
        response = json_error(413, "too_large")
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@routes.get("/")
async def page(request: web.Request) -> web.StreamResponse:
    await issue_session(request)
    settings = request.app[keys.SETTINGS]
    # A Response, not a FileResponse: aiohttp-session saves a new session only into a Response.
    response = web.Response(body=request.app[keys.PAGE], content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"connect-src 'self'; frame-ancestors {settings.frame_ancestors}"
    )
    return response


@routes.get("/widget.js")
async def widget(_: web.Request) -> web.StreamResponse:
    response = web.FileResponse(STATIC / "widget.js")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@routes.get("/healthz")
async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/api/session")
async def session_info(request: web.Request) -> web.Response:
    """The page's start: the CSRF token and limits. Every page load renews the session's
    lifetime (cookie, session data and mailbox), so it runs from the last visit."""
    session = await existing_session(request)
    session.changed()
    await request.app[keys.MAILBOX].open(session["session_id"])
    return web.json_response({
        "csrf_token": session["csrf_token"],
        "max_message_chars": MAX_MESSAGE_CHARS,
        "max_upload_bytes": request.app[keys.EVIDENCE].max_bytes,
    })


@routes.get("/api/history")
async def history(request: web.Request) -> web.Response:
    session = await existing_session(request)
    return web.json_response({"items": await request.app[keys.MAILBOX].history(session["session_id"])})


@dataclass
class Outcome:
    """What a customer's message produced: the stored items, or a notice only they see."""

    status: int = 200
    items: list[dict[str, Any]] = field(default_factory=list)
    notice: dict[str, Any] | None = None
    error: str | None = None


def parse_message(body: Any) -> tuple[str, str | None]:
    """The text (and the pressed button's title) of a message body, or ValueError."""
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ValueError("the body must be a JSON object with a string 'text'")
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > MAX_TITLE_CHARS):
        raise ValueError("'title' must be a short string")
    return CONTROL_CHARACTERS.sub("", body["text"]).strip(), title


def parse_time_zone(body: Any) -> str | None:
    """The browser's IANA time zone a message body carries (``time_zone``), if the tz database
    knows it. Anything else is dropped, not refused: the message still counts, on the default zone."""
    sent = body.get("time_zone") if isinstance(body, dict) else None
    zone = known_time_zone(sent)
    if sent is not None and zone is None:
        logger.info("web chat message with an unknown time zone; the default applies")
    return zone


async def handle_message(
    app: web.Application, session_id: str, text: str, title: str | None, time_zone: str | None = None
) -> Outcome:
    """Store the customer's message, ask Rasa (with the browser's time zone), store its replies;
    each stored item is pushed to every open page of the session. A flood gets a notice
    instead, shown only to the sender."""
    settings, texts = app[keys.SETTINGS], app[keys.TEXTS]
    if not text:
        return Outcome(400, error="empty_message")
    limiter = ConversationRateLimiter(
        app[keys.REDIS], RateLimit(messages=settings.rate_limit, per_seconds=settings.rate_window_s)
    )
    if not await limiter.allow(f"web:{session_id}"):
        return Outcome(429, notice=make_item("system", texts.say("utter_slow_down")), error="rate_limited")
    mailbox = app[keys.MAILBOX]
    await mailbox.open(session_id)
    customer = make_item("customer", title or text)
    await mailbox.append(session_id, customer)
    try:
        replies = await ask_rasa(
            app[keys.HTTP], settings.rasa_urls, settings.rest_channel_token, session_id, text, settings.rasa_timeout_s,
            time_zone,
        )
    except RasaSlowDown:
        return Outcome(429, items=[customer], notice=make_item("system", texts.say("utter_slow_down")), error="rate_limited")
    except RasaUnavailable as error:
        logger.warning("Rasa did not answer a web chat message", extra={"reason": str(error)})
        replies = [{"text": texts.say("utter_technical_difficulty")}]
    items = [customer]
    for reply in replies:
        item = make_item("bot", reply["text"], buttons=_buttons(reply.get("buttons")))
        await mailbox.append(session_id, item)
        items.append(item)
    return Outcome(items=items)


def _buttons(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        return []
    return [
        {"title": str(b["title"]), "payload": str(b["payload"])}
        for b in raw if isinstance(b, dict) and "title" in b and "payload" in b
    ]


@routes.post("/api/messages")
async def post_message(request: web.Request) -> web.Response:
    session = await checked_post_session(request)
    if request.content_length is not None and request.content_length > JSON_BODY_MAX_BYTES:
        raise Refused(413, "too_large")
    try:
        body = await request.json()
        text, title = parse_message(body)
    except ValueError as error:
        raise Refused(400, "bad_request", None) from error
    outcome = await handle_message(request.app, session["session_id"], text, title, parse_time_zone(body))
    if outcome.notice is not None:
        return web.json_response({"error": outcome.error, "items": [outcome.notice]}, status=outcome.status)
    if outcome.error:
        raise Refused(outcome.status, outcome.error)
    return web.json_response({"items": outcome.items})


@routes.get("/ws")
async def socket(request: web.Request) -> web.WebSocketResponse:
    settings = request.app[keys.SETTINGS]
    if request.headers.get("Origin", "").rstrip("/") not in settings.allowed_origins:
        raise Refused(403, "origin_not_allowed")
    session_id = (await existing_session(request))["session_id"]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=JSON_BODY_MAX_BYTES)
    await ws.prepare(request)
    hub = request.app[keys.HUB]
    hub.add(session_id, ws)
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            reply = await _socket_message(request.app, session_id, message.data)
            await ws.send_str(json.dumps(reply))
    finally:
        hub.remove(session_id, ws)
    return ws


async def _socket_message(app: web.Application, session_id: str, data: str) -> dict[str, Any]:
    """Handle one frame. The stored items reach every socket of the session through the
    push; this socket also gets them in the answer, so they are on the page before its
    typing indicator stops, whatever the push's timing (the page shows an id once)."""
    try:
        body = json.loads(data)
        text, title = parse_message(body)
    except ValueError:
        return {"type": "error", "error": "bad_request"}
    outcome = await handle_message(app, session_id, text, title, parse_time_zone(body))
    answer: dict[str, Any] = {"type": "done", "ref": body.get("ref"), "items": outcome.items}
    if outcome.notice is not None:
        answer["notice"] = outcome.notice
    if outcome.error:
        answer["error"] = outcome.error
    return answer


@routes.post("/api/attachments")
async def attachment(request: web.Request) -> web.Response:
    """One file in a multipart body (field ``file``), read in chunks and refused as soon as it is too large."""
    session = await checked_post_session(request)
    app, texts = request.app, request.app[keys.TEXTS]
    store = app[keys.EVIDENCE]
    too_large = texts.say("utter_attachment_too_large", max_mb=_megabytes(store.max_bytes))
    if request.content_length is not None and request.content_length > store.max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise Refused(413, "too_large", too_large)
    try:
        reader = await request.multipart()
        part = await reader.next()
    except (ValueError, AssertionError) as error:
        raise Refused(400, "bad_request") from error
    if part is None or getattr(part, "name", None) != "file":
        raise Refused(400, "bad_request")
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK_BYTES):
        data.extend(chunk)
        if len(data) > store.max_bytes:
            raise Refused(413, "too_large", too_large)
    session_id = session["session_id"]
    name = (part.filename or "file")[:MAX_TITLE_CHARS]
    try:
        await asyncio.to_thread(store.store, f"web:{session_id}", bytes(data), source="webchat", original_name=name)
    except EvidenceRejected as rejected:
        if rejected.reason == "too_large":
            raise Refused(413, "too_large", too_large) from rejected
        raise Refused(415, "wrong_type", texts.say("utter_attachment_wrong_type")) from rejected
    mailbox = app[keys.MAILBOX]
    items = [make_item("customer", f"📎 {name}"), make_item("bot", texts.say("utter_attachment_received"))]
    for item in items:
        await mailbox.append(session_id, item)
    return web.json_response({"items": items})


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return str(int(value)) if value.is_integer() else f"{value:.1f}"
