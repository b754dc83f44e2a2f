"""Intent groups the actions reason about, named once."""

from __future__ import annotations

COMPLAINT_PREFIX = "complain_"

INTERRUPTIONS = frozenset(
    {"bot_challenge", "greet", "goodbye", "thank", "out_of_scope", "ask_why", "ask_human", "stop", "ticket_status"}
)
"""Intents that ask something of the assistant instead of answering its question."""

INTERRUPTION_MIN_CONFIDENCE = 0.5
"""Below this the message is more likely an answer the classifier did not recognise."""


def is_complaint(intent: str | None) -> bool:
    """Whether the intent is one of the complain_<category> intents."""
    return bool(intent) and intent.startswith(COMPLAINT_PREFIX)


def is_interruption(intent: str | None, confidence: float) -> bool:
    """Whether a message asks something of the assistant rather than answering it."""
    return intent in INTERRUPTIONS and confidence >= INTERRUPTION_MIN_CONFIDENCE
