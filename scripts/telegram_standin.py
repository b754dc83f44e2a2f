"""A local stand-in for Telegram's Bot API, for development, tests and the benchmark.

Telegram's servers cannot be reached from here, so this aiohttp app answers, on loopback,
the Bot API methods the product calls (getMe, sendMessage, sendPhoto, sendChatAction,
answerCallbackQuery, editMessageReplyMarkup, getFile and the file download path,
setWebhook, deleteWebhook, getUpdates) with Telegram-shaped JSON, and records every call.
It can be told to answer a method's next call with 429 ``retry_after``, holds files to be
"downloaded", and builds updates and posts them to our webhook with the secret header.

Run it for development (python-telegram-bot's ``base_url`` goes to it through
``TELEGRAM_API_BASE_URL=http://127.0.0.1:8081``)::

    python -m scripts.telegram_standin --port 8081 --token "$TELEGRAM_TOKEN" \\
        --webhook http://127.0.0.1:5005/webhooks/telegram/webhook --secret "$TELEGRAM_WEBHOOK_SECRET"

then ``curl -d '{"chat_id": 42, "text": "hello"}' localhost:8081/_standin/say`` posts a customer
message and answers with what the bot sent back; ``GET /_standin/sent`` lists every call.
In Python, :class:`RunningStandin` runs it on a thread so synchronous tests can use it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
JSON_FIELDS = ("chat_id", "message_id", "reply_markup", "allowed_updates", "show_alert", "cache_time")
BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "Complaints", "username": "complaints_standin_bot"}


@dataclass(frozen=True)
class Call:
    """One Bot API call as received: the method, its parameters (JSON values decoded), when."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass
class StandinState:
    """Everything the stand-in knows; the app reads and writes it, tests inspect it."""

    token: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    failures: dict[str, list[int]] = field(default_factory=dict)
    refused: list[tuple[str, int, float]] = field(default_factory=list)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    """Chats whose customer blocked the bot: sends to them answer 403."""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _updates: Iterator[int] = field(default_factory=lambda: itertools.count(secrets.randbelow(2**30)))

    def next_message_id(self) -> int:
        return next(self._ids)

    def next_update_id(self) -> int:
        return next(self._updates)

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        """The recorded calls of one method (to one chat), in order."""
        return [c for c in self.calls if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)]

    def fail_next(self, method: str, retry_after: int) -> None:
        """Answer the next call of ``method`` with 429 Too Many Requests, ``retry_after`` seconds."""
        self.failures.setdefault(method, []).append(retry_after)

    def add_file(self, data: bytes) -> str:
        """Keep ``data`` to be fetched with getFile and the download path; its file_id."""
        file_id = "F" + secrets.token_hex(8)
        self.files[file_id] = data
        return file_id


def _decode(params: dict[str, str]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for key, value in params.items():
        if key in JSON_FIELDS:
            try:
                decoded[key] = json.loads(value)
                continue
            except ValueError:
                pass
        decoded[key] = value
    return decoded


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": "Customer"}


STATE = web.AppKey("state", StandinState)


async def _method(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.match_info["token"] != state.token:
        return _error(401, "Unauthorized")
    method = request.match_info["method"]
    raw: dict[str, str] = {}
    if request.content_type == "application/json":
        raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (await request.json()).items()}
    elif request.can_read_body:
        raw = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    params = _decode(raw)
    waits = state.failures.get(method)
    if waits:
        retry_after = waits.pop(0)
        state.refused.append((method, retry_after, time.monotonic()))
        return _error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
    if method.startswith("send") and params.get("chat_id") in state.blocked:
        return _error(403, "Forbidden: bot was blocked by the user")
    state.calls.append(Call(method, params, time.monotonic()))
    return _answer(state, method, params)


def _answer(state: StandinState, method: str, params: dict[str, Any]) -> web.Response:
    """Telegram-shaped results for the methods the product calls."""
    now = int(time.time())
    if method == "getMe":
        return _ok(BOT_USER)
    if method in ("sendMessage", "sendPhoto"):
        message = {"message_id": state.next_message_id(), "date": now, "chat": _chat(int(params["chat_id"])),
                   "from": BOT_USER}
        if method == "sendMessage":
            message["text"] = params.get("text", "")
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        params["message_id"] = message["message_id"]  # recorded, so a test can press this message's buttons
        return _ok(message)
    if method == "editMessageReplyMarkup":
        return _ok({"message_id": int(params["message_id"]), "date": now, "chat": _chat(int(params["chat_id"])),
                    "from": BOT_USER, "text": ""})
    if method in ("sendChatAction", "answerCallbackQuery", "deleteWebhook"):
        return _ok(True)
    if method == "setWebhook":
        state.webhook_url, state.webhook_secret = params.get("url"), params.get("secret_token")
        return _ok(True)
    if method == "getWebhookInfo":
        return _ok({"url": state.webhook_url or "", "has_custom_certificate": False, "pending_update_count": 0})
    if method == "getFile":
        file_id = params.get("file_id", "")
        if file_id not in state.files:
            return _error(400, "Bad Request: invalid file_id")
        return _ok({"file_id": file_id, "file_unique_id": file_id[:8], "file_size": len(state.files[file_id]),
                    "file_path": f"documents/{file_id}"})
    if method == "getUpdates":
        updates, state.pending_updates[:] = list(state.pending_updates), []
        return _ok(updates)
    return _error(404, "Not Found: method not found")


async def _file(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.match_info["token"] != state.token:
        return _error(401, "Unauthorized")
    file_id = request.match_info["path"].rsplit("/", 1)[-1]
    if file_id not in state.files:
        return web.Response(status=404)
    return web.Response(body=state.files[file_id], content_type="application/octet-stream")


async def _say(request: web.Request) -> web.Response:
    """Development helper: post a customer's text, answer with the bot's replies to it."""
    state = request.app[STATE]
    body = await request.json()
    chat_id = int(body["chat_id"])
    before = len(state.calls)
    status = await post_update(state, text_update(state, chat_id, str(body["text"])))
    replies = [c.params.get("text") for c in state.calls[before:] if c.method == "sendMessage"
               and c.params.get("chat_id") == chat_id]
    return web.json_response({"webhook_status": status, "replies": replies})


async def _sent(request: web.Request) -> web.Response:
    """Every recorded call from index ``?since=`` on, with its arrival time (``time.monotonic``,
    the machine's monotonic clock, so another process can time its sends against it)."""
    state = request.app[STATE]
    since = int(request.query.get("since", "0"))
    return web.json_response([{"method": c.method, "params": c.params, "at": c.at} for c in state.calls[since:]])


def create_app(state: StandinState) -> web.Application:
    """The stand-in app over ``state`` (Bot API at /bot<token>/<method>, files at /file/bot<token>/)."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    app.router.add_route("*", "/bot{token}/{method}", _method)
    app.router.add_get("/file/bot{token}/{path:.+}", _file)
    app.router.add_post("/_standin/say", _say)
    app.router.add_get("/_standin/sent", _sent)
    return app


# Updates, shaped as Telegram sends them.

def _from(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Customer", "language_code": "en"}


def _message(state: StandinState, chat_id: int, **content: Any) -> dict[str, Any]:
    return {"message_id": state.next_message_id(), "date": int(time.time()), "chat": _chat(chat_id),
            "from": _from(chat_id), **content}


def text_update(state: StandinState, chat_id: int, text: str) -> dict[str, Any]:
    """A customer's text message."""
    return {"update_id": state.next_update_id(), "message": _message(state, chat_id, text=text)}


def edited_update(state: StandinState, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
    """A customer's edit of an earlier message."""
    edited = _message(state, chat_id, text=text, edit_date=int(time.time()))
    edited["message_id"] = message_id
    return {"update_id": state.next_update_id(), "edited_message": edited}


def callback_update(state: StandinState, bot_message: Call, data: str) -> dict[str, Any]:
    """A press of the button carrying ``data`` on a message the bot sent (a recorded sendMessage)."""
    chat_id = int(bot_message.params["chat_id"])
    pressed = {"message_id": bot_message.params["message_id"], "date": int(time.time()), "chat": _chat(chat_id),
               "from": BOT_USER, "text": bot_message.params.get("text", "")}
    query = {"id": secrets.token_hex(8), "from": _from(chat_id), "chat_instance": str(chat_id), "data": data,
             "message": pressed}
    return {"update_id": state.next_update_id(), "callback_query": query}


def photo_update(state: StandinState, chat_id: int, data: bytes, caption: str | None = None) -> dict[str, Any]:
    """A photo: a thumbnail and the full size (the bot should fetch the largest)."""
    thumb_id, full_id = state.add_file(data[: max(1, len(data) // 10)]), state.add_file(data)
    sizes = [{"file_id": thumb_id, "file_unique_id": thumb_id[:8], "width": 90, "height": 90,
              "file_size": len(state.files[thumb_id])},
             {"file_id": full_id, "file_unique_id": full_id[:8], "width": 1280, "height": 960, "file_size": len(data)}]
    content: dict[str, Any] = {"photo": sizes}
    if caption:
        content["caption"] = caption
    return {"update_id": state.next_update_id(), "message": _message(state, chat_id, **content)}


def document_update(state: StandinState, chat_id: int, data: bytes, file_name: str, mime_type: str) -> dict[str, Any]:
    """A file sent as a document."""
    file_id = state.add_file(data)
    document = {"file_id": file_id, "file_unique_id": file_id[:8], "file_name": file_name, "mime_type": mime_type,
                "file_size": len(data)}
    return {"update_id": state.next_update_id(), "message": _message(state, chat_id, document=document)}


def message_update(state: StandinState, chat_id: int, **content: Any) -> dict[str, Any]:
    """Any other message content (voice, sticker, location...), as Telegram shapes it."""
    return {"update_id": state.next_update_id(), "message": _message(state, chat_id, **content)}


def bot_message(state: StandinState, message_id: int) -> Call:
    """The recorded sendMessage whose answer carried ``message_id``."""
    for call in state.sent():
        if call.params.get("message_id") == message_id:
            return call
    raise KeyError(message_id)


async def post_update(state: StandinState, update: dict[str, Any], *, secret: str | None = None,
                      url: str | None = None, session: ClientSession | None = None) -> int:
    """POST an update to the webhook as Telegram does (secret header unless ``secret=""``); the status."""
    target = url or state.webhook_url
    if not target:
        raise RuntimeError("no webhook: call setWebhook or pass url")
    chosen = state.webhook_secret if secret is None else secret
    headers = {SECRET_HEADER: chosen} if chosen else {}
    own = session is None
    session = session or ClientSession(timeout=ClientTimeout(total=120))
    try:
        async with session.post(target, json=update, headers=headers) as answer:
            await answer.read()
            return answer.status
    finally:
        if own:
            await session.close()


class RunningStandin:
    """The stand-in served on a thread of its own, for synchronous tests and scripts."""

    def __init__(self, port: int, token: str, *, host: str = "127.0.0.1") -> None:
        self.state = StandinState(token=token)
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-standin", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "RunningStandin":
        self._thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        app = create_app(self.state)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    def run(self, coroutine: Any, timeout: float = 180) -> Any:
        """Run a coroutine on the stand-in's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def post(self, update: dict[str, Any], **kwargs: Any) -> int:
        return self.run(post_update(self.state, update, **kwargs))

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="local Telegram Bot API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", required=True)
    parser.add_argument("--webhook", help="our webhook URL, for /_standin/say")
    parser.add_argument("--secret", help="the webhook secret, for /_standin/say")
    args = parser.parse_args(argv)
    state = StandinState(token=args.token, webhook_url=args.webhook, webhook_secret=args.secret)
    app = create_app(state)
    web.run_app(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
