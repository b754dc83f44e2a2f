"""Tracker event dicts as Rasa sends them to the action server."""

from __future__ import annotations

import time
from typing import Any


def user_event(text: str, intent: str, confidence: float = 0.95, entities: list | None = None,
               timestamp: float | None = None) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp or time.time(),
        "parse_data": {"text": text, "intent": {"name": intent, "confidence": confidence},
                       "entities": entities or []},
    }


def bot_event(text: str) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": time.time()}


def action_event(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name, "timestamp": time.time()}
