"""The Telegram channel: a Rasa input channel built on python-telegram-bot as a library.

Webhook mode (production): Telegram POSTs each update to ``/webhooks/telegram/webhook``.
Every request must carry ``X-Telegram-Bot-Api-Secret-Token`` equal to
``TELEGRAM_WEBHOOK_SECRET`` (compared in constant time); a missing one is refused with 401,
a wrong one with 403, and neither is read further or logged with its body. A body over
``max_body_bytes`` (``settings/channels.yml``, every channel's limits) is refused (413)
before it is parsed, malformed JSON with 400.
A repeated ``update_id`` (Telegram retries when we are slow) is handled once: a Redis
``SET NX`` with a day's expiry, the time Telegram keeps an update.

Polling mode (development, no public URL): ``python -m connectors.telegram --poll`` fetches
updates with python-telegram-bot's ``Application`` and relays each one to the local webhook
with the secret, so both modes take the same path.

What the customer meets: text goes to the assistant; buttons are inline keyboards, a press
is answered, its keyboard removed (only the first press of a keyboard counts) and its payload
sent as the customer's message; a photo or document is fetched through the Bot API and kept
as evidence; voice, stickers and locations get their own reply; an edited message is taken
as the customer's corrected message. The replies to one customer message go out as one
Telegram message (paragraphs, the keyboard under it): Telegram lets a bot send about 30
messages a second in all, so two or three sends a turn would halve the conversations it can
serve, and the customer's phone would buzz for each. Replies are plain text (no parse mode,
so nothing needs escaping), split at 4,096 characters between sentences, with "typing…" shown while the
assistant works (once it takes longer than ``TELEGRAM_TYPING_AFTER_S``; best effort, sent
outside the rate limiter so that it never delays a reply). Every sentence
comes from the domain's responses; a message that produced no reply in a conversation not
paused for a person gets ``utter_technical_difficulty``.
The Rasa sender id is ``tg:<chat_id>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot import log_privacy
from bot.channel_policy import channel_policy
from bot.outbound.telegram import (
    SENDER_PREFIX,
    TelegramSettings,
    chat_id_of,
    inline_keyboard,
    load_telegram_settings,
    make_bot,
    make_redis,
    payload_of,
    split_text,
)
from bot.rate_limit import ConversationRateLimiter
from connectors import paused_conversations, rasa_speedups
from connectors.admission import admitted

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SILENCE_RESPONSE = "utter_technical_difficulty"
DEDUPE_TTL_S = 24 * 3600
TYPING_REPEAT_S = 4.5
"""Telegram shows "typing…" for five seconds or until the next message."""
UNREADABLE_FILES = ("video", "audio", "animation", "video_note")
OTHER_NON_TEXT = ("contact", "dice", "poll", "game", "story")
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024
"""Telegram's cloud Bot API lets a bot download files of up to 20 MB."""

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
_TYPING: set[asyncio.Task] = set()
"""Running "typing…" loops (a reference, so none is collected before it ends)."""


class TelegramOutput(OutputChannel):
    """Sends the assistant's replies to one Telegram chat; built without any network call,
    so Rasa's proactive endpoints (``output_channel=latest``) work from any process."""

    def __init__(self, bot: ExtBot, redis: aioredis.Redis) -> None:
        self._bot = bot
        self._redis = redis
        self.sent = 0

    @classmethod
    def name(cls) -> str:
        return "telegram"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, text, [])

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        pairs = [(str(b.get("title", "")), str(b.get("payload", ""))) for b in buttons if b.get("payload")]
        await self._send(recipient_id, text or "", pairs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._bot.send_photo(chat_id_of(recipient_id), image)
        self.sent += 1

    async def _send(self, recipient_id: str, text: str, buttons: list[tuple[str, str]]) -> None:
        """Plain text (no parse mode), split between sentences; the keyboard on the last part."""
        chat_id = chat_id_of(recipient_id)
        parts = split_text(text) if text.strip() else []
        keyboard = await inline_keyboard(self._redis, buttons)
        if keyboard and not parts:
            parts = ["\u2026"]
        for index, part in enumerate(parts):
            await self._bot.send_message(chat_id, part, reply_markup=keyboard if index == len(parts) - 1 else None)
            self.sent += 1


class TelegramTurn(TelegramOutput):
    """The replies to one customer message, kept until the turn ends and then sent as one.

    Texts become paragraphs of one message; the keyboard of the last reply that has buttons
    goes under it (a turn's buttons answer its last question). An image is sent at once.
    """

    def __init__(self, bot: ExtBot, redis: aioredis.Redis) -> None:
        super().__init__(bot, redis)
        self._texts: list[str] = []
        self._buttons: list[tuple[str, str]] = []

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self._texts.append(text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self._texts.append(text or "")
        self._buttons = [(str(b.get("title", "")), str(b.get("payload", ""))) for b in buttons if b.get("payload")]

    async def flush(self, recipient_id: str) -> None:
        """Send what the turn said, as one message; nothing when it said nothing."""
        text = "\n\n".join(part.strip() for part in self._texts if part.strip())
        self._texts, buttons, self._buttons = [], self._buttons, []
        if text or buttons:
            await self._send(recipient_id, text, buttons)


class TelegramInput(InputChannel):
    """Rasa input channel for Telegram (webhook; polling relays into it)."""

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self._bot: ExtBot | None = None
        self._unlimited_bot: ExtBot | None = None
        self._redis: aioredis.Redis | None = None

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "TelegramInput":
        """Settings from the environment; non-empty values in credentials.yml (``token``,
        ``webhook_secret``, ``api_base_url``, normally ``${TELEGRAM_...}``) take precedence."""
        given = {f"telegram_{key}": value for key, value in (credentials or {}).items()}
        return cls(load_telegram_settings(**given))

    def clients(self) -> tuple[ExtBot, aioredis.Redis]:
        """The Bot API client and Redis, made on first use inside the server's event loop."""
        if self._bot is None or self._redis is None:
            self._bot = make_bot(self.settings, max_retries=self.settings.send_retries)
            self._redis = make_redis(self.settings)
        return self._bot, self._redis

    def typing_bot(self) -> ExtBot:
        """The Bot API client for "typing…", outside the rate limiter (see :func:`make_bot`)."""
        if self._unlimited_bot is None:
            self._unlimited_bot = make_bot(self.settings, max_retries=None)
        return self._unlimited_bot

    def get_output_channel(self) -> OutputChannel | None:
        if not self.settings.enabled:
            return None
        return TelegramOutput(*self.clients())

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """``GET /webhooks/telegram/`` (health) and ``POST /webhooks/telegram/webhook``."""
        log_privacy.install()
        rasa_speedups.install()
        paused_conversations.install()
        on_new_message = admitted(on_new_message)
        webhook = Blueprint(f"telegram_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings.enabled else "not_configured"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.settings.enabled:
                return response.json({"error": "telegram_not_configured"}, status=503)
            refused = self._refuse(request)
            if refused is not None:
                return refused
            try:
                update = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                return response.json({"error": "bad_request", "reason": "the body is not valid JSON"}, status=400)
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return response.json({"error": "bad_request", "reason": "not a Telegram update"}, status=400)
            await Handling(self, on_new_message, request.app.ctx.agent).update(update)
            return response.json({"ok": True})

        return webhook

    def _refuse(self, request: Request) -> HTTPResponse | None:
        """The answer to a request that is not from Telegram or too large; None to go on."""
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(given.encode(), self.settings.webhook_secret.encode()):
            status = 401 if given is None else 403
            logger.warning("telegram webhook call without the right secret", extra={"status": status, "peer": request.ip})
            return response.json({"error": "unauthorized" if status == 401 else "forbidden"}, status=status)
        limit = channel_policy().max_body_bytes
        if len(request.body or b"") > limit:
            return response.json({"error": "payload_too_large", "max_bytes": limit}, status=413)
        return None


class Handling:
    """One update, from de-duplication to the last reply."""

    def __init__(self, channel: TelegramInput, on_new_message: OnNewMessage, agent: Any) -> None:
        self.channel = channel
        self.on_new_message = on_new_message
        self.agent = agent
        self.bot, self.redis = channel.clients()
        self.typing_bot = channel.typing_bot()

    async def update(self, data: dict[str, Any]) -> None:
        """Handle an update once; never raise (Telegram would retry a failure forever)."""
        update_id = data["update_id"]
        try:
            if not await self.redis.set(f"telegram:update:{update_id}", 1, nx=True, ex=DEDUPE_TTL_S):
                logger.warning("telegram update already handled", extra={"update_id": update_id})
                return
            update = Update.de_json(data, self.bot)
        except Exception:
            logger.exception("telegram update could not be read", extra={"update_id": update_id})
            return
        try:
            if update.callback_query is not None:
                await self._callback(update)
            elif update.edited_message is not None:
                await self._edited(update.edited_message)
            elif update.message is not None:
                await self._message(update.message)
            else:
                kinds = sorted(k for k in data if k != "update_id")
                logger.warning("telegram update of an unhandled type ignored", extra={"update_id": update_id, "kinds": kinds})
        except Exception:
            logger.exception("telegram update failed", extra={"update_id": update_id})
            if update.effective_chat is not None:
                with contextlib.suppress(Exception):
                    await self._say(update.effective_chat.id, SILENCE_RESPONSE)

    async def _message(self, message: Message) -> None:
        chat_id = message.chat_id
        if await self._flooded(chat_id):
            return
        if message.text is not None:
            await self._converse(chat_id, message.text, {"telegram_message_id": message.message_id})
        elif message.photo or message.document:
            await self._attachment(message)
        elif message.voice:
            await self._say(chat_id, "utter_voice_not_supported")
        elif message.location:
            where = f"{message.location.latitude},{message.location.longitude}"
            await self._say(chat_id, "utter_location_received")
            await self._converse(chat_id, where, {"location": where}, answered=True)
        elif any(getattr(message, kind, None) for kind in UNREADABLE_FILES):
            await self._say(chat_id, "utter_attachment_wrong_type")
        elif message.sticker or any(getattr(message, kind, None) for kind in OTHER_NON_TEXT):
            await self._say(chat_id, "utter_sticker_received")
        else:
            logger.warning("telegram service message ignored", extra={"chat": chat_id})

    async def _edited(self, message: Message) -> None:
        """The corrected text is the customer's newest message: said so, then read as usual."""
        if message.text is None or await self._flooded(message.chat_id):
            return
        await self._say(message.chat_id, "utter_edit_noted")
        metadata = {"telegram_message_id": message.message_id, "edited": True}
        await self._converse(message.chat_id, message.text, metadata, answered=True)

    async def _callback(self, update: Update) -> None:
        """A button press: answered at once; only the first press of a keyboard counts."""
        query = update.callback_query
        await query.answer()
        message = query.message
        if message is None or query.data is None:
            return
        claim = f"telegram:keyboard:{message.chat.id}:{message.message_id}"
        if not await self.redis.set(claim, query.id, nx=True, ex=DEDUPE_TTL_S):
            logger.warning("telegram button pressed again; ignored", extra={"chat": message.chat.id})
            return
        with contextlib.suppress(TelegramError):
            await self.bot.edit_message_reply_markup(message.chat.id, message.message_id, reply_markup=None)
        if await self._flooded(message.chat.id):
            return
        payload = await payload_of(self.redis, query.data)
        if payload is None:
            await self._say(message.chat.id, SILENCE_RESPONSE)
            return
        await self._converse(message.chat.id, payload, {"telegram_callback": True})

    async def _attachment(self, message: Message) -> None:
        """Keep the largest photo size or the document as evidence; then read any caption."""
        from bot.evidence import EvidenceRejected, store_evidence  # the evidence store's SQL set-up is lazy

        chat_id = message.chat_id
        name = message.document.file_name if message.document else None
        async with self._typing(chat_id):
            source = message.document or message.photo[-1]
            if (source.file_size or 0) > BOT_API_DOWNLOAD_LIMIT:
                await self._say(chat_id, "utter_attachment_too_large", max_mb=_evidence_max_mb())
                return
            data = bytes(await (await source.get_file()).download_as_bytearray())
            try:
                await asyncio.to_thread(store_evidence, f"{SENDER_PREFIX}{chat_id}", data, source="telegram", original_name=name)
            except EvidenceRejected as rejected:
                if rejected.reason == "too_large":
                    await self._say(chat_id, "utter_attachment_too_large", max_mb=rejected.max_bytes // (1024 * 1024))
                else:
                    await self._say(chat_id, "utter_attachment_wrong_type")
                return
        await self._say(chat_id, "utter_attachment_received")
        if message.caption:
            await self._converse(chat_id, message.caption, {"telegram_message_id": message.message_id}, answered=True)

    async def _converse(self, chat_id: int, text: str, metadata: dict[str, Any], *, answered: bool = False) -> None:
        """The text to the assistant, its replies to the chat; never silence unless paused
        (or the channel has already answered this message itself: ``answered``)."""
        sender = f"{SENDER_PREFIX}{chat_id}"
        output = TelegramTurn(self.bot, self.redis)
        async with self._typing(chat_id):
            try:
                await self.on_new_message(
                    UserMessage(text, output, sender, input_channel=TelegramInput.name(), metadata=metadata)
                )
            except Exception:
                logger.exception("message handling failed", extra={"channel": "telegram"})
        await output.flush(sender)
        if output.sent == 0 and not answered and not await self._is_paused(sender):
            await self._say(chat_id, SILENCE_RESPONSE)

    async def _flooded(self, chat_id: int) -> bool:
        """Over the per-conversation limit of settings/channels.yml: one ``utter_slow_down`` a
        window, and the message is dropped. Each chat has its own counter, so others go on."""
        limit = channel_policy().rate_limit
        if await ConversationRateLimiter(self.redis, limit).allow(f"{SENDER_PREFIX}{chat_id}"):
            return False
        if await self.redis.set(f"telegram:slowed:{chat_id}", 1, nx=True, ex=limit.per_seconds):
            logger.warning("telegram chat rate-limited", extra={"chat": chat_id})
            await self._say(chat_id, "utter_slow_down")
        return True

    async def _say(self, chat_id: int, response_name: str, **values: Any) -> None:
        """A channel reply, in the domain's words."""
        text = self.agent.domain.responses[response_name][0]["text"]
        await self.bot.send_message(chat_id, text.format(**values) if values else text)

    async def _is_paused(self, sender: str) -> bool:
        """A paused conversation is with a person: silence from the assistant is right."""
        try:
            tracker = await self.agent.tracker_store.retrieve(sender)
        except Exception:
            logger.exception("could not read the tracker to check for a pause")
            return False
        return bool(tracker and tracker.is_paused())

    @contextlib.asynccontextmanager
    async def _typing(self, chat_id: int) -> AsyncIterator[None]:
        """Show "typing…" once the work takes longer than ``typing_after_s`` (a quick reply needs
        none, which saves a Bot API call) until the block ends; repeated, since Telegram
        clears it after 5 s."""

        stop = asyncio.Event()

        async def keep_typing() -> None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.channel.settings.typing_after_s)
            while not stop.is_set():
                with contextlib.suppress(TelegramError):
                    await self.typing_bot.send_chat_action(chat_id, ChatAction.TYPING)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), TYPING_REPEAT_S)

        # Stopped by the event, never cancelled: python-telegram-bot turns a cancelled request
        # into a NetworkError, which would swallow the cancellation and keep the loop going.
        task = asyncio.create_task(keep_typing())
        _TYPING.add(task)
        task.add_done_callback(_TYPING.discard)
        try:
            yield
        finally:
            stop.set()


def _evidence_max_mb() -> int:
    """The evidence store's size limit in MB, for a file too large even to fetch."""
    from bot.evidence import EvidenceSettings

    return EvidenceSettings.from_env().max_bytes // (1024 * 1024)


async def _relay_updates(settings: TelegramSettings, webhook_url: str) -> None:
    """Polling for development: fetch updates and POST each to our own webhook."""
    import aiohttp
    from telegram.ext import Application, TypeHandler

    async with aiohttp.ClientSession() as http:

        async def relay(update: Update, _: Any) -> None:
            headers = {SECRET_HEADER: settings.webhook_secret}
            async with http.post(webhook_url, json=update.to_dict(), headers=headers) as reply:
                if reply.status != 200:
                    logger.warning("webhook refused a relayed update", extra={"status": reply.status})

        application = (
            Application.builder()
            .token(settings.token)
            .base_url(f"{settings.api_base_url}/bot")
            .base_file_url(f"{settings.api_base_url}/file/bot")
            .build()
        )
        application.add_handler(TypeHandler(Update, relay))
        async with application:
            await application.bot.delete_webhook()
            await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
            await application.start()
            logger.info("polling Telegram; relaying to %s (Ctrl-C stops)", webhook_url)
            try:
                await asyncio.Event().wait()
            finally:
                await application.updater.stop()
                await application.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.telegram --poll [--webhook-url URL]``: development polling."""
    parser = argparse.ArgumentParser(description="Telegram polling for development (relays to the local webhook)")
    parser.add_argument("--poll", action="store_true", required=True, help="poll Telegram instead of a webhook")
    parser.add_argument("--webhook-url", default="http://127.0.0.1:5005/webhooks/telegram/webhook")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    log_privacy.install()
    settings = load_telegram_settings()
    if not settings.enabled:
        print("telegram: set TELEGRAM_TOKEN and TELEGRAM_WEBHOOK_SECRET first", flush=True)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_relay_updates(settings, args.webhook_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
