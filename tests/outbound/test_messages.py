"""The contract types: conversation identity, message validation, the errors' fields."""

from __future__ import annotations

import pytest

from bot.outbound import Button, Conversation, OutboundMessage, PermanentDeliveryError, TransientDeliveryError
from bot.outbound.settings import load_outbound_settings, rasa_auth_token
from bot.settings import SettingsError


@pytest.mark.parametrize(
    ("conversation", "sender_id"),
    [
        (Conversation("webchat", "Zq3-abc_def"), "web:Zq3-abc_def"),
        (Conversation("telegram", "-1001234567"), "tg:-1001234567"),
        (Conversation("rest", "crm-42"), "crm-42"),
    ],
)
def test_a_conversation_maps_to_its_rasa_sender_id_and_back(conversation: Conversation, sender_id: str) -> None:
    assert conversation.sender_id == sender_id
    assert Conversation.from_sender_id(sender_id) == conversation


def test_a_bare_prefix_is_a_rest_sender() -> None:
    assert Conversation.from_sender_id("web:") == Conversation("rest", "web:")


def test_unknown_channels_authors_and_empty_texts_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown channel 'email'"):
        Conversation("email", "a")
    with pytest.raises(ValueError, match="needs an address"):
        Conversation("webchat", "")
    with pytest.raises(ValueError, match="unknown author 'robot'"):
        OutboundMessage("hi", author="robot")
    with pytest.raises(ValueError, match="needs text"):
        OutboundMessage("  ")


def test_errors_carry_their_reason_and_delay() -> None:
    transient = TransientDeliveryError("rate_limited", retry_after=3.5)
    assert (transient.reason, transient.retry_after) == ("rate_limited", 3.5)
    assert TransientDeliveryError().retry_after is None
    assert PermanentDeliveryError(reason="blocked").reason == "blocked"
    assert OutboundMessage("pick", (Button("Yes", "/affirm"),)).buttons == (Button("Yes", "/affirm"),)


def test_settings_defaults_and_rasa_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RASA_HOST", "RASA_PORT", "RASA_PROCESSES", "WORKER_REDIS_DB", "OUTBOUND_MAX_ATTEMPTS",
                 "OUTBOUND_RETRY_BASE_S", "OUTBOUND_RETRY_MAX_S", "OUTBOUND_SEND_TIMEOUT_S", "OUTBOUND_CLAIM_LEASE_S",
                 "REDIS_HOST", "REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_outbound_settings()
    assert (settings.redis_host, settings.redis_port, settings.redis_db) == ("127.0.0.1", 6379, 2)
    assert (settings.max_attempts, settings.send_timeout_s, settings.claim_lease_s) == (8, 30.0, 300.0)
    assert settings.rasa_urls == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    assert [settings.backoff_s(n) for n in (1, 2, 3, 10)] == [2.0, 4.0, 8.0, 600.0]
    monkeypatch.setenv("RASA_HOST", "0.0.0.0")
    monkeypatch.setenv("RASA_PORT", "6005")
    monkeypatch.setenv("RASA_PROCESSES", "1")
    assert load_outbound_settings().rasa_urls == ("http://127.0.0.1:6005",)
    monkeypatch.setenv("OUTBOUND_CLAIM_LEASE_S", "30")
    with pytest.raises(SettingsError, match="OUTBOUND_CLAIM_LEASE_S must be longer than OUTBOUND_SEND_TIMEOUT_S"):
        load_outbound_settings()
    monkeypatch.setenv("OUTBOUND_MAX_ATTEMPTS", "0")
    with pytest.raises(SettingsError, match="OUTBOUND_MAX_ATTEMPTS must be at least 1"):
        load_outbound_settings()


def test_the_rasa_token_comes_from_the_environment_or_the_stack_s_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("RASA_AUTH_TOKEN", "from-env-0123456789")
    assert rasa_auth_token(tmp_path) == "from-env-0123456789"
    monkeypatch.delenv("RASA_AUTH_TOKEN")
    with pytest.raises(SettingsError, match="RASA_AUTH_TOKEN is not set"):
        rasa_auth_token(tmp_path)
    (tmp_path / "rasa_auth_token").write_text("from-file-0123456789\n")
    assert rasa_auth_token(tmp_path) == "from-file-0123456789"
