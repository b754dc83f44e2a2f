"""The Telegram pieces that need no stack: splitting, button payloads, settings, the stand-in."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.asyncio as aioredis

from bot.outbound.telegram import (
    STORED_PAYLOAD_PREFIX,
    TelegramSettingsError,
    callback_data,
    chat_id_of,
    load_telegram_settings,
    payload_of,
    split_text,
)
from tests.telegram.conftest import TELEGRAM_REDIS_DB


def test_a_short_text_is_one_message() -> None:
    assert split_text("Thank you. We will call you.") == ["Thank you. We will call you."]


def test_a_long_text_is_split_between_sentences_under_the_limit() -> None:
    sentences = [f"This is sentence {n}, about the parcel." for n in range(300)]
    text = " ".join(sentences)
    parts = split_text(text)
    assert len(parts) == 3
    assert all(len(p) <= 4096 and p.endswith("parcel.") for p in parts)
    assert " ".join(parts) == text


def test_a_sentence_longer_than_a_message_is_cut_at_spaces() -> None:
    text = "word " * 2000
    parts = split_text(text.strip())
    assert [len(p) <= 4096 for p in parts] == [True, True, True]
    assert " ".join(parts) == text.strip()


def test_the_limit_counts_as_telegram_does() -> None:
    """An emoji outside the basic plane is two UTF-16 units for Telegram."""
    text = "\U0001F600" * 3000
    parts = split_text(text)
    assert [len(p) for p in parts] == [2048, 952]


def test_sender_ids() -> None:
    assert chat_id_of("tg:123456789") == 123456789
    assert chat_id_of("tg:-100123") == -100123
    with pytest.raises(ValueError):
        chat_id_of("web:abc")


def test_settings_need_a_secret_with_a_token() -> None:
    assert not load_telegram_settings({}).enabled
    with pytest.raises(TelegramSettingsError):
        load_telegram_settings({"TELEGRAM_TOKEN": "1:abc"})
    with pytest.raises(TelegramSettingsError):
        load_telegram_settings({"TELEGRAM_TOKEN": "1:abc", "TELEGRAM_WEBHOOK_SECRET": "has space"})
    settings = load_telegram_settings({"TELEGRAM_TOKEN": "", "TELEGRAM_WEBHOOK_SECRET": ""},
                                      telegram_token="1:abc", telegram_webhook_secret="s3cret_-")
    assert (settings.token, settings.webhook_secret, settings.api_base_url) == ("1:abc", "s3cret_-", "https://api.telegram.org")


def test_long_button_payloads_travel_by_reference() -> None:
    async def roundtrip() -> tuple[str, str | None, str, str | None]:
        client = aioredis.Redis(db=int(TELEGRAM_REDIS_DB))
        try:
            short = await callback_data(client, "/affirm")
            long_payload = "/choose_option" + '{"chosen_option": "' + secrets.token_hex(40) + '"}'
            stored = await callback_data(client, long_payload)
            return short, await payload_of(client, short), stored, await payload_of(client, stored)
        finally:
            await client.close()

    short, short_back, stored, stored_back = asyncio.run(roundtrip())
    assert (short, short_back) == ("/affirm", "/affirm")
    assert stored.startswith(STORED_PAYLOAD_PREFIX) and len(stored.encode()) <= 64
    assert stored_back is not None and stored_back.startswith("/choose_option")


def test_the_worker_gets_no_telegram_transport_while_the_channel_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.outbound.telegram import TelegramTransport, create_transport

    monkeypatch.setenv("TELEGRAM_TOKEN", "")
    assert create_transport() is None
    monkeypatch.setenv("TELEGRAM_TOKEN", "123456:test-token-of-some-length")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "a-webhook-secret-of-some-length")
    assert isinstance(create_transport(), TelegramTransport)
