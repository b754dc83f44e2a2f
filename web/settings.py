"""The web app's configuration, read once from the environment with documented defaults.

| variable | default | meaning |
|---|---|---|
| WEB_HOST | 127.0.0.1 | interface the web app binds |
| WEB_PORT | 8080 | port of the web app (page at ``/``, widget at ``/widget.js``) |
| WEB_ALLOWED_ORIGINS | http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT | origins allowed to open the WebSocket (the page's own origin; behind a proxy, its public origin) |
| WEB_FRAME_ANCESTORS | * | sites allowed to embed the page in a frame (CSP ``frame-ancestors``) |
| WEB_SECURE_COOKIES | 0 | 1: the session cookie is ``Secure`` (serve over HTTPS) |
| WEB_COOKIE_SAMESITE | Lax | ``None`` (with WEB_SECURE_COOKIES=1) lets the widget keep its session inside another site's page |
| WEBCHAT_SESSION_TTL_S | 604800 (a week) | session and history lifetime after the last activity (outlives the 72-hour survey and its reminder) |
| WEBCHAT_REDIS_DB | 2 | Redis database of sessions, histories, rate limits (REDIS_HOST/REDIS_PORT as the stack) |
| WEBCHAT_RATE_LIMIT / WEBCHAT_RATE_WINDOW_S | settings/channels.yml (20 / 10) | messages a session may send per window (more: ``utter_slow_down``) |
| RASA_HOST / RASA_PORT / RASA_PROCESSES | 127.0.0.1 / 5005 / 2 | the Rasa servers (as scripts/stack.py runs them) |
| REST_CHANNEL_TOKEN | (none) | bearer token the Rasa REST channel requires |
| TICKET_API_TOKEN | (none: the ticket API answers 503) | bearer token of the ticket API (``/api/v1``), at least 16 characters; ``make run`` generates one into var/secrets |
| RASA_TIMEOUT_S | 30 | longest wait for Rasa's reply |
| EVIDENCE_DIR / EVIDENCE_MAX_BYTES | var/files / 10 MB | see bot/evidence.py |
| CONSOLE_SESSION_IDLE_S | 1800 | an agent console session ends after this long without a request |
| CONSOLE_SESSION_MAX_S | 43200 | and this long after sign-in, however busy (then sign in again) |
| CONSOLE_CLIENT_ADDRESS_HEADER | (none: the peer address) | behind a proxy, the header holding the client address (its last entry counts), e.g. ``X-Forwarded-For``; for the sign-in lockout per address |

The console's sign-in policy (lockout counts and durations, password length) is data in
``settings/console.yml`` (in COMPLAINTS_CONFIG_DIR), read and validated here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError, conint

from bot.channel_policy import channel_policy
from bot.settings import MIN_TOKEN_LENGTH, PROJECT_ROOT, load_settings, rasa_urls
from bot.evidence import EvidenceSettings
from bot.outbound.webchat import MailboxSettings

JSON_BODY_MAX_BYTES = 64 * 1024
"""A message body larger than this is refused (413) before it is parsed (as settings/channels.yml)."""
MAX_MESSAGE_CHARS = 20_000
"""The page's limit: 20,000 characters fit the body limit in any script (at most 3 bytes each)."""
MULTIPART_OVERHEAD_BYTES = 16 * 1024


def _whole(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


CONSOLE_POLICY_FILE = "console.yml"
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


class LockoutRule(BaseModel):
    """``failures`` wrong passwords within ``window_s`` seconds lock sign-in for ``lock_s`` seconds."""

    failures: conint(ge=1)  # type: ignore[valid-type]
    window_s: conint(ge=1)  # type: ignore[valid-type]
    lock_s: conint(ge=1)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False


class Lockouts(BaseModel):
    """One rule per account (the name typed) and one per client address."""

    account: LockoutRule
    address: LockoutRule

    class Config:
        extra = "forbid"
        allow_mutation = False


class ConsolePolicy(BaseModel):
    """settings/console.yml."""

    lockout: Lockouts
    password_min_chars: conint(ge=8, le=1024)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False


def load_console_policy(path: Path) -> ConsolePolicy:
    """Read and validate ``path``; the error names the file and the bad key."""
    try:
        return ConsolePolicy.parse_obj(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: {error}") from error
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ValueError(f"{path}: {problems}") from error


def _default_console_policy() -> ConsolePolicy:
    return load_console_policy(PROJECT_ROOT / "settings" / CONSOLE_POLICY_FILE)


@dataclass(frozen=True)
class ConsoleSettings:
    """The agent console's sessions and sign-in policy."""

    session_idle_s: int = 1800
    session_max_s: int = 43200
    client_address_header: str = ""
    policy: ConsolePolicy = field(default_factory=_default_console_policy)

    @classmethod
    def from_env(cls) -> "ConsoleSettings":
        idle, longest = _whole("CONSOLE_SESSION_IDLE_S", 1800), _whole("CONSOLE_SESSION_MAX_S", 43200)
        if not 0 < idle <= longest:
            raise ValueError("CONSOLE_SESSION_IDLE_S must be positive and at most CONSOLE_SESSION_MAX_S")
        header = os.environ.get("CONSOLE_CLIENT_ADDRESS_HEADER", "").strip()
        if header and not HEADER_NAME.fullmatch(header):
            raise ValueError(f"CONSOLE_CLIENT_ADDRESS_HEADER must be a header name, got {header!r}")
        return cls(
            session_idle_s=idle,
            session_max_s=longest,
            client_address_header=header,
            policy=load_console_policy(load_settings().config_dir / CONSOLE_POLICY_FILE),
        )


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    allowed_origins: tuple[str, ...] = ()
    frame_ancestors: str = "*"
    secure_cookies: bool = False
    cookie_samesite: str = "Lax"
    rate_limit: int = 20
    rate_window_s: int = 10
    rasa_urls: tuple[str, ...] = ("http://127.0.0.1:5005",)
    rest_channel_token: str = field(default="", repr=False)
    ticket_api_token: str = field(default="", repr=False)
    rasa_timeout_s: float = 30.0
    mailbox: MailboxSettings = MailboxSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    @classmethod
    def from_env(cls) -> "WebSettings":
        port = _whole("WEB_PORT", 8080)
        origins = os.environ.get("WEB_ALLOWED_ORIGINS") or f"http://127.0.0.1:{port},http://localhost:{port}"
        samesite = os.environ.get("WEB_COOKIE_SAMESITE", "Lax")
        if samesite not in ("Lax", "Strict", "None"):
            raise ValueError(f"WEB_COOKIE_SAMESITE must be Lax, Strict or None, got {samesite!r}")
        api_token = os.environ.get("TICKET_API_TOKEN", "").strip()
        if api_token and len(api_token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"TICKET_API_TOKEN must hold a secret of at least {MIN_TOKEN_LENGTH} characters")
        return cls(
            host=os.environ.get("WEB_HOST", "127.0.0.1"),
            port=port,
            allowed_origins=tuple(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
            frame_ancestors=os.environ.get("WEB_FRAME_ANCESTORS", "*"),
            secure_cookies=os.environ.get("WEB_SECURE_COOKIES", "0") == "1",
            cookie_samesite=samesite,
            rate_limit=_whole("WEBCHAT_RATE_LIMIT", channel_policy().rate_limit.messages),
            rate_window_s=_whole("WEBCHAT_RATE_WINDOW_S", channel_policy().rate_limit.per_seconds),
            rasa_urls=rasa_urls(),
            rest_channel_token=os.environ.get("REST_CHANNEL_TOKEN", ""),
            ticket_api_token=api_token,
            rasa_timeout_s=float(os.environ.get("RASA_TIMEOUT_S", "30")),
            mailbox=MailboxSettings.from_env(),
            evidence=EvidenceSettings.from_env(),
            console=ConsoleSettings.from_env(),
        )
