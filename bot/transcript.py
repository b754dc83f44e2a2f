"""The customer's words, read back from a conversation's event log.

Rasa keeps every message in the tracker; these helpers turn that log (plain event
dicts, so no Rasa import) into the verbatim narrative of the current complaint and
the transcript stored with a ticket. Nothing is summarised or trimmed: a customer's
words are evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

INTAKE_START_ACTION = "action_acknowledge_complaint"
INTAKE_END_ACTIONS = frozenset({"action_create_ticket", "action_stop_complaint", "action_handoff"})


def _is_payload(text: str) -> bool:
    """Button payloads ('/affirm') are clicks, not words the customer wrote."""
    return text.startswith("/")


def transcript(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every customer and bot message in order, with its time in ISO 8601 UTC."""
    lines: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        text = event.get("text")
        if kind not in ("user", "bot") or not text:
            continue
        stamp = datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)
        sender = "customer" if kind == "user" else "assistant"
        lines.append({"sender": sender, "text": text, "timestamp": stamp.isoformat()})
    return lines


def intake_messages(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The customer's messages since the current complaint began, verbatim.

    A complaint begins with the message that triggered an acknowledgement while no
    intake form was running; it ends when it is filed, stopped or handed to a person.
    An intake abandoned half-way is superseded by the next complaint, not merged into it.
    """
    last_text: str | None = None
    collecting = form_active = False
    messages: list[str] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            text = event.get("text") or ""
            if not _is_payload(text):
                last_text = text
            if collecting and text and not _is_payload(text):
                messages.append(text)
        elif kind == "active_loop":
            form_active = bool(event.get("name"))
        elif kind == "action" and event.get("name") in INTAKE_END_ACTIONS:
            collecting, messages = False, []
        elif kind == "action" and event.get("name") == INTAKE_START_ACTION and not form_active:
            collecting = True
            messages = [last_text] if last_text else []
    return messages


def latest_user_time(events: Iterable[Mapping[str, Any]], timezone_name: str = "UTC") -> datetime:
    """When the customer last wrote, in the service's timezone.

    Relative dates ("yesterday") are resolved against it, so the calendar day must be
    the customer's, not UTC's.
    """
    stamp: float | None = None
    for event in events:
        if event.get("event") == "user" and event.get("timestamp"):
            stamp = float(event["timestamp"])
    zone = ZoneInfo(timezone_name)
    if stamp is None:
        return datetime.now(zone)
    return datetime.fromtimestamp(stamp, tz=zone)
