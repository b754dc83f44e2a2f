"""Settings of the outbound path, read once from the environment with documented defaults.

Kept beside the package until the lead folds them into :mod:`bot.settings`. The Rasa
token is read here (environment first, then the file ``make run`` generates) and kept
out of :class:`OutboundSettings`, so it never shows in a repr or a log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bot.settings import LOOPBACK, PROJECT_ROOT, SettingsError, _float, _int, rasa_urls
SECRETS_DIR = PROJECT_ROOT / "var" / "secrets"


@dataclass(frozen=True)
class OutboundSettings:
    """Where the job queue and Rasa are, and how hard delivery tries.

    | variable | default | meaning |
    |---|---|---|
    | REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | Redis holding the job queue |
    | WORKER_REDIS_DB | 2 | Redis database of the job queue (Rasa uses 0 and 1) |
    | OUTBOUND_MAX_ATTEMPTS | 8 | sends tried before a message is marked failed |
    | OUTBOUND_RETRY_BASE_S | 2 | first back-off after a transient failure (doubles each time) |
    | OUTBOUND_RETRY_MAX_S | 600 | longest back-off |
    | OUTBOUND_SEND_TIMEOUT_S | 30 | a send taking longer counts as a transient failure |
    | OUTBOUND_SWEEP_BATCH | 500 | unfinished rows the sweep re-enqueues per run |
    | OUTBOUND_CLAIM_LEASE_S | 300 | how long a job holds the messages it took; a worker that dies mid-send leaves them to another after this |
    | RASA_HOST / RASA_PORT / RASA_PROCESSES | 127.0.0.1 / 5005 / 2 | the Rasa servers whose trackers get each sent message |
    | RASA_AUTH_TOKEN | var/secrets/rasa_auth_token | token of Rasa's HTTP API |
    """

    redis_host: str
    redis_port: int
    redis_db: int
    max_attempts: int
    retry_base_s: float
    retry_max_s: float
    send_timeout_s: float
    sweep_batch: int
    rasa_urls: tuple[str, ...]
    claim_lease_s: float = 300.0

    def backoff_s(self, attempts: int) -> float:
        """How long to wait after the ``attempts``-th failed try: doubling, capped."""
        return min(self.retry_base_s * 2 ** max(attempts - 1, 0), self.retry_max_s)


def load_outbound_settings() -> OutboundSettings:
    """Read the environment; raise :class:`SettingsError` naming the first bad value."""
    settings = OutboundSettings(
        redis_host=os.environ.get("REDIS_HOST", LOOPBACK),
        redis_port=_int("REDIS_PORT", 6379),
        redis_db=_int("WORKER_REDIS_DB", 2),
        max_attempts=_int("OUTBOUND_MAX_ATTEMPTS", 8),
        retry_base_s=_float("OUTBOUND_RETRY_BASE_S", 2.0),
        retry_max_s=_float("OUTBOUND_RETRY_MAX_S", 600.0),
        send_timeout_s=_float("OUTBOUND_SEND_TIMEOUT_S", 30.0),
        sweep_batch=_int("OUTBOUND_SWEEP_BATCH", 500),
        rasa_urls=rasa_urls(),
        claim_lease_s=_float("OUTBOUND_CLAIM_LEASE_S", 300.0),
    )
    if settings.max_attempts < 1:
        raise SettingsError("OUTBOUND_MAX_ATTEMPTS must be at least 1")
    if settings.retry_base_s <= 0 or settings.retry_max_s < settings.retry_base_s:
        raise SettingsError("OUTBOUND_RETRY_BASE_S must be positive and at most OUTBOUND_RETRY_MAX_S")
    if settings.claim_lease_s <= settings.send_timeout_s:
        raise SettingsError("OUTBOUND_CLAIM_LEASE_S must be longer than OUTBOUND_SEND_TIMEOUT_S")
    return settings


def rasa_auth_token(secrets_dir: Path = SECRETS_DIR) -> str:
    """The token of Rasa's HTTP API: ``RASA_AUTH_TOKEN``, else the file ``make run`` keeps.

    Only read, never created: the stack creates it before any process starts.
    """
    token = os.environ.get("RASA_AUTH_TOKEN", "").strip()
    if token:
        return token
    path = secrets_dir / "rasa_auth_token"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise SettingsError(f"RASA_AUTH_TOKEN is not set and {path} does not exist ('make run' creates it)") from exc
