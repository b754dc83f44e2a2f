"""What the hand-off rules read from a conversation's event log (plain event dicts, no Rasa).

Only the stretch since the last hand-off counts: when an agent hands a conversation back,
the anger and the misunderstandings that brought the agent in must not bring one in again
at the customer's next word.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.handoff.policy import Facts

HANDOFF_ACTION = "action_handoff"
RESUMED_EVENT = "resume"

Event = Mapping[str, Any]


def _since_last_handoff(events: Sequence[Event]) -> list[Event]:
    start = 0
    for index, event in enumerate(events):
        if event.get("event") == RESUMED_EVENT or (event.get("event") == "action" and event.get("name") == HANDOFF_ACTION):
            start = index + 1
    return list(events[start:])


def _written(event: Event) -> str:
    """The words of a customer message; a button's payload ("/affirm") is a click, not words."""
    text = event.get("text") or ""
    return "" if text.startswith("/") else text


def replies_per_message(events: Sequence[Event]) -> list[frozenset[str]]:
    """For each customer message, oldest first, the responses the assistant answered it with."""
    turns: list[set[str]] = []
    for event in events:
        if event.get("event") == "user":
            turns.append(set())
        elif event.get("event") == "bot" and turns:
            name = (event.get("metadata") or {}).get("utter_action")
            if name:
                turns[-1].add(name)
    return [frozenset(turn) for turn in turns]


def conversation_facts(
    events: Sequence[Event],
    *,
    now: datetime,
    score: Callable[[str], float],
    emotion_window: int,
    misunderstood: bool = False,
    intent: str | None = None,
) -> Facts:
    """The facts of the latest customer message and the stretch of conversation before it.

    ``score`` rates one message's emotion (bot/triage.py); only the last ``emotion_window``
    written messages are scored. ``intent`` is left out by callers that must not hand off on
    the intent alone (the intake form reads "have a manager call me" as an answer).
    """
    recent = _since_last_handoff(events)
    messages = [event for event in recent if event.get("event") == "user"]
    written = [text for text in map(_written, messages) if text]
    return Facts(
        now=now,
        text=_written(messages[-1]) if messages else "",
        intent=intent,
        emotions=tuple(score(text) for text in written[-emotion_window:]) if emotion_window else (),
        misunderstood=misunderstood,
        earlier=tuple(replies_per_message(recent)[:-1]),
    )
