"""The web app's settings: documented defaults, derived values, one clear error per bad value."""

from __future__ import annotations

import pytest

from web.settings import WebSettings

NAMES = ("WEB_HOST", "WEB_PORT", "WEB_ALLOWED_ORIGINS", "WEB_SECURE_COOKIES", "WEB_COOKIE_SAMESITE", "RASA_HOST",
         "RASA_PORT", "RASA_PROCESSES", "WEBCHAT_RATE_LIMIT", "WEBCHAT_SESSION_TTL_S", "REST_CHANNEL_TOKEN",
         "CONSOLE_SESSION_IDLE_S", "CONSOLE_SESSION_MAX_S", "CONSOLE_CLIENT_ADDRESS_HEADER")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_bind_loopback_and_follow_the_stack() -> None:
    settings = WebSettings.from_env()
    assert (settings.host, settings.port, settings.secure_cookies, settings.cookie_samesite) == (
        "127.0.0.1", 8080, False, "Lax",
    )
    assert settings.allowed_origins == ("http://127.0.0.1:8080", "http://localhost:8080")
    assert settings.rasa_urls == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    assert (settings.rate_limit, settings.rate_window_s, settings.mailbox.session_ttl_s) == (20, 10, 604800)
    assert "rest_channel_token" not in repr(settings)


def test_the_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "9000")
    monkeypatch.setenv("WEB_ALLOWED_ORIGINS", "https://chat.example.com/, https://shop.example.com")
    monkeypatch.setenv("WEB_SECURE_COOKIES", "1")
    monkeypatch.setenv("RASA_HOST", "0.0.0.0")
    monkeypatch.setenv("RASA_PORT", "6000")
    monkeypatch.setenv("RASA_PROCESSES", "3")
    settings = WebSettings.from_env()
    assert settings.port == 9000 and settings.secure_cookies
    assert settings.allowed_origins == ("https://chat.example.com", "https://shop.example.com")
    assert settings.rasa_urls == ("http://127.0.0.1:6000", "http://127.0.0.1:6001", "http://127.0.0.1:6002")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("WEB_PORT", "eighty", "WEB_PORT must be a whole number, got 'eighty'"),
     ("WEB_COOKIE_SAMESITE", "lax-ish", "WEB_COOKIE_SAMESITE must be Lax, Strict or None, got 'lax-ish'"),
     ("WEBCHAT_SESSION_TTL_S", "0", "WEBCHAT_SESSION_TTL_S must be a positive whole number, got '0'"),
     ("CONSOLE_SESSION_IDLE_S", "soon", "CONSOLE_SESSION_IDLE_S must be a whole number, got 'soon'"),
     ("CONSOLE_SESSION_IDLE_S", "0", "CONSOLE_SESSION_IDLE_S must be positive and at most CONSOLE_SESSION_MAX_S"),
     ("CONSOLE_SESSION_IDLE_S", "50000", "CONSOLE_SESSION_IDLE_S must be positive and at most CONSOLE_SESSION_MAX_S"),
     ("CONSOLE_CLIENT_ADDRESS_HEADER", "X Forwarded",
      "CONSOLE_CLIENT_ADDRESS_HEADER must be a header name, got 'X Forwarded'")],
)
def test_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as error:
        WebSettings.from_env()
    assert str(error.value) == message
