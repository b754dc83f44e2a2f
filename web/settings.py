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
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bot.channel_policy import channel_policy
from bot.settings import MIN_TOKEN_LENGTH, rasa_urls
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
        )
