"""Telegram through the Bot API (python-telegram-bot as a library): the outbound transport, and
the pieces the Rasa input channel (``connectors/telegram.py``) shares with it.

Nothing here imports Rasa, so the worker, the agent console and the channel all send the same
way: plain text (no parse mode, so nothing needs escaping), split at Telegram's 4,096-character
limit on sentence boundaries, buttons as an inline keyboard, and python-telegram-bot's
``AIORateLimiter`` keeping under Telegram's flood limits.

A conversation's address is its Telegram chat id (the Rasa sender is ``tg:<chat_id>``).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot.outbound import Conversation, OutboundMessage, PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)

TELEGRAM_TEXT_LIMIT = 4096
"""Characters per message, counted as Telegram counts them (UTF-16 code units)."""
CALLBACK_DATA_LIMIT = 64
"""Bytes of callback data a button can carry; longer payloads are kept in Redis."""
STORED_PAYLOAD_PREFIX = "tgp:"
DEFAULT_API_BASE_URL = "https://api.telegram.org"
SENDER_PREFIX = "tg:"

_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|\n+")


class TelegramSettingsError(ValueError):
    """A Telegram setting has a value the channel cannot run with."""


@dataclass(frozen=True)
class TelegramSettings:
    """Telegram settings read from the environment by :func:`load_telegram_settings`.

    | variable | default | meaning |
    |---|---|---|
    | TELEGRAM_TOKEN | (none: channel off) | the bot's token from @BotFather |
    | TELEGRAM_WEBHOOK_SECRET | (required with a token) | ``secret_token`` given to setWebhook, 1-256 of A-Z a-z 0-9 _ - |
    | TELEGRAM_API_BASE_URL | https://api.telegram.org | Bot API root (tests: the local stand-in) |
    | TELEGRAM_REDIS_DB | REDIS_LOCK_DB, else 1 | Redis database for update/press/send dedupe keys, flood counters, long button payloads |
    | TELEGRAM_SEND_RETRIES | 3 | times a reply is retried after Telegram's 429 ``retry_after`` |
    | TELEGRAM_TYPING_AFTER_S | 0.5 | "typing…" is shown once a reply takes longer than this |
    | REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | shared with the rest of the stack |

    The body-size and flood limits are every channel's: ``settings/channels.yml``.
    """

    token: str
    webhook_secret: str
    api_base_url: str
    redis_host: str
    redis_port: int
    redis_db: int
    send_retries: int
    typing_after_s: float

    @property
    def enabled(self) -> bool:
        """Whether a token is configured (without one the webhook answers 503)."""
        return bool(self.token)


_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _whole(name: str, default: int, environ: dict[str, str]) -> int:
    raw = environ.get(name) or str(default)
    if not raw.isdigit():
        raise TelegramSettingsError(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


def _seconds(name: str, default: float, environ: dict[str, str]) -> float:
    raw = environ.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise TelegramSettingsError(f"{name} must be a number of seconds, got {raw!r}")
    return value


def load_telegram_settings(environ: dict[str, str] | None = None, **given: str | None) -> TelegramSettings:
    """Read the environment (values in ``given``, e.g. from credentials.yml, win when non-empty).

    A token without a valid webhook secret is refused: the webhook would accept forged calls.
    """
    env = dict(os.environ if environ is None else environ)
    for name, value in given.items():
        if value:
            env[name.upper()] = str(value)
    settings = TelegramSettings(
        token=env.get("TELEGRAM_TOKEN", "").strip(),
        webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", "").strip(),
        api_base_url=(env.get("TELEGRAM_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/"),
        redis_host=env.get("REDIS_HOST") or "127.0.0.1",
        redis_port=_whole("REDIS_PORT", 6379, env),
        redis_db=_whole("TELEGRAM_REDIS_DB", _whole("REDIS_LOCK_DB", 1, env), env),
        send_retries=_whole("TELEGRAM_SEND_RETRIES", 3, env),
        typing_after_s=_seconds("TELEGRAM_TYPING_AFTER_S", 0.5, env),
    )
    if settings.token and not _SECRET.fullmatch(settings.webhook_secret):
        raise TelegramSettingsError(
            "TELEGRAM_WEBHOOK_SECRET must be set with TELEGRAM_TOKEN: 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    return settings


def make_bot(settings: TelegramSettings, *, max_retries: int | None) -> ExtBot:
    """A Bot API client pointed at ``settings.api_base_url``; no network call until first use.

    ``max_retries`` is how often ``AIORateLimiter`` waits out a 429 ``retry_after`` and tries
    again (0: raise :class:`telegram.error.RetryAfter` to the caller). None gives a client
    without the limiter, for best-effort calls ("typing…") that must never take a place in
    the queue a reply needs; Telegram refuses them with 429 when over its limit.
    """
    return ExtBot(
        settings.token,
        base_url=f"{settings.api_base_url}/bot",
        base_file_url=f"{settings.api_base_url}/file/bot",
        rate_limiter=None if max_retries is None else AIORateLimiter(max_retries=max_retries),
    )


def make_redis(settings: TelegramSettings) -> aioredis.Redis:
    """The Redis client for Telegram's keys (connects on first command)."""
    return aioredis.Redis(host=settings.redis_host, port=settings.redis_port, db=settings.redis_db)


def chat_id_of(sender_id: str) -> int:
    """The chat id in a ``tg:<chat_id>`` sender id (ValueError for anything else)."""
    if not sender_id.startswith(SENDER_PREFIX):
        raise ValueError("not a Telegram sender id")
    return int(sender_id[len(SENDER_PREFIX):])


def _telegram_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(piece: str, limit: int) -> Iterable[str]:
    """A piece longer than the limit, cut at spaces where possible, else anywhere."""
    while _telegram_length(piece) > limit:
        cut = limit
        while _telegram_length(piece[:cut]) > limit:
            cut -= 1
        space = piece.rfind(" ", 0, cut)
        cut = space if space > 0 else cut
        yield piece[:cut]
        piece = piece[cut:].lstrip(" ")
    if piece:
        yield piece


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """The text as messages of at most ``limit`` characters, split between sentences.

    Sentences are kept whole and packed greedily; a sentence longer than a message is cut
    at spaces. Every character of the text except the whitespace at a cut is kept.
    """
    if _telegram_length(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    position = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = match.start() if match else len(text)
        sentence = text[position:end]
        separator = match.group() if match else ""
        position = match.end() if match else len(text)
        candidate = current + sentence
        if _telegram_length(candidate) <= limit:
            current = candidate + separator
            continue
        if current.strip():
            parts.append(current.rstrip())
        pieces = list(_cut(sentence, limit))
        parts.extend(pieces[:-1])
        current = (pieces[-1] if pieces else "") + separator
    if current.strip():
        parts.append(current.rstrip())
    return parts


async def callback_data(redis: aioredis.Redis, payload: str, *, ttl_s: int = 30 * 24 * 3600) -> str:
    """What a button carries: the payload itself when it fits Telegram's 64 bytes, else a
    short reference to the payload kept in Redis (``tgp:<token>``)."""
    if len(payload.encode()) <= CALLBACK_DATA_LIMIT and not payload.startswith(STORED_PAYLOAD_PREFIX):
        return payload
    reference = STORED_PAYLOAD_PREFIX + secrets.token_urlsafe(12)
    await redis.set(f"telegram:payload:{reference}", payload, ex=ttl_s)
    return reference


async def payload_of(redis: aioredis.Redis, data: str) -> str | None:
    """The payload a pressed button carries (None when a stored payload has expired)."""
    if not data.startswith(STORED_PAYLOAD_PREFIX):
        return data
    stored = await redis.get(f"telegram:payload:{data}")
    return stored.decode() if stored is not None else None


async def inline_keyboard(redis: aioredis.Redis, buttons: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    """(title, payload) pairs as an inline keyboard, one button a row (titles are long)."""
    if not buttons:
        return None
    rows = [[InlineKeyboardButton(title, callback_data=await callback_data(redis, payload))] for title, payload in buttons]
    return InlineKeyboardMarkup(rows)


def retry_after_seconds(error: RetryAfter) -> float:
    """Seconds to wait, whichever type this python-telegram-bot gives (int or timedelta)."""
    value = error._retry_after  # a timedelta in every v22 release; the public property warns
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramTransport:
    """The outbound :class:`bot.outbound.Transport` for Telegram.

    Idempotent by key: each part of a message is claimed in Redis (SET NX, "pending" for a
    minute) before it is sent and marked "sent" for 30 days after, so a second send with the
    same key sends nothing, and a crash between claim and send only delays the retry.
    """

    channel = "telegram"
    PENDING_S = 60
    SENT_TTL_S = 30 * 24 * 3600

    def __init__(self, settings: TelegramSettings) -> None:
        if not settings.enabled:
            raise TelegramSettingsError("TELEGRAM_TOKEN is not set: Telegram messages cannot be sent")
        self._settings = settings
        self._bot: ExtBot | None = None
        self._redis: aioredis.Redis | None = None

    def _clients(self) -> tuple[ExtBot, aioredis.Redis]:
        """Built on first use, inside the running event loop."""
        if self._bot is None or self._redis is None:
            self._bot = make_bot(self._settings, max_retries=0)
            self._redis = make_redis(self._settings)
        return self._bot, self._redis

    async def close(self) -> None:
        """Release the HTTP and Redis connections."""
        if self._bot is not None:
            await self._bot.shutdown()
        if self._redis is not None:
            await self._redis.close()
        self._bot = self._redis = None

    async def send(self, conversation: Conversation, message: OutboundMessage, key: str) -> None:
        """Send ``message`` to the chat; a repeat with the same ``key`` is a no-op.

        Raises:
            TransientDeliveryError: Telegram's flood limit (with its ``retry_after``), a network
                failure, or the same key being sent right now by another process.
            PermanentDeliveryError: "blocked" when the customer blocked the bot, "bad_request"
                when Telegram refuses the message itself (e.g. the chat does not exist).
        """
        bot, redis = self._clients()
        chat_id = int(conversation.address)
        parts = split_text(_with_author(message))
        for index, part in enumerate(parts):
            claim = f"telegram:sent:{key}:{index}"
            if not await redis.set(claim, "pending", nx=True, ex=self.PENDING_S):
                if (await redis.get(claim)) == b"sent":
                    continue
                raise TransientDeliveryError("in_flight", retry_after=float(max(await redis.ttl(claim), 1)))
            last = index == len(parts) - 1
            try:
                keyboard = await inline_keyboard(redis, [(b.title, b.payload) for b in message.buttons]) if last else None
                await bot.send_message(chat_id, part, reply_markup=keyboard)
            except TelegramError as exc:
                await redis.delete(claim)
                raise _delivery_error(exc) from exc
            except BaseException:
                await redis.delete(claim)
                raise
            await redis.set(claim, "sent", ex=self.SENT_TTL_S)
        logger.info("telegram message delivered", extra={"key": key, "parts": len(parts)})


def _with_author(message: OutboundMessage) -> str:
    """An agent's message is marked as coming from a person (Telegram shows only the bot's name)."""
    if message.author == "agent" and message.author_name:
        return f"{message.author_name}:\n{message.text}"
    return message.text


def _delivery_error(error: TelegramError) -> Exception:
    """Telegram's errors in the outbound path's terms (BadRequest before its NetworkError base)."""
    if isinstance(error, RetryAfter):
        return TransientDeliveryError("flood_limit", retry_after=retry_after_seconds(error))
    if isinstance(error, Forbidden):
        return PermanentDeliveryError("blocked")
    if isinstance(error, BadRequest):
        return PermanentDeliveryError("bad_request")
    return TransientDeliveryError("network")


def create_transport() -> TelegramTransport | None:
    """The outbound worker's factory (``worker/main.py``): settings from the environment.

    None when ``TELEGRAM_TOKEN`` is empty: the channel is off by configuration (``make run``'s
    default), which is not an error; other bad settings raise :class:`TelegramSettingsError`.
    """
    settings = load_telegram_settings()
    return TelegramTransport(settings) if settings.token else None
