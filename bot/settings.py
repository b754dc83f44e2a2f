"""Process settings read once from the environment, with documented defaults.

Every knob an operator may turn lives here, so the action server, the web services,
the worker and the tests agree on one source. Domain policy (SLA hours, the option
catalogue, triage lexicons) is data under ``settings/`` and is loaded by
``bot.domain_config``; this module only says where that folder is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    )
    if settings.db_retry_attempts < 1:
        raise SettingsError("DB_RETRY_ATTEMPTS must be at least 1")
    if len(settings.phone_region) != 2:
        raise SettingsError(f"PHONE_REGION must be a two-letter region code, got {settings.phone_region!r}")
    return settings
