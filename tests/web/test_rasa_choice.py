"""Every message of one conversation goes to the same Rasa server; conversations spread over all."""

from __future__ import annotations

import secrets
from collections import Counter

from web.rasa import pick_url

URLS = ("http://127.0.0.1:5005", "http://127.0.0.1:5006")


def test_a_session_always_reaches_the_same_server() -> None:
    session_id = secrets.token_urlsafe(24)
    assert len({pick_url(URLS, session_id) for _ in range(50)}) == 1
    assert pick_url(URLS, "fixed-session") == pick_url(URLS, "fixed-session")


def test_sessions_spread_over_every_server() -> None:
    counts = Counter(pick_url(URLS, f"session-{n}") for n in range(1000))
    assert set(counts) == set(URLS)
    assert min(counts.values()) > 400
