"""Choosing and filling response texts that live in domain.yml.

Rasa sends the domain (with every response) to the action server, so an action can
pick a variation the customer has not yet seen in this conversation instead of
leaving it to chance, and can read short labels (option names, status words) that
must stay in the one catalogue of customer-facing text.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.types import DomainDict


class _KeepMissing(dict):
    """Leave an unknown ``{placeholder}`` visible rather than raise mid-conversation."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _condition_holds(variation: Mapping[str, Any], slots: Mapping[str, Any]) -> bool:
    for condition in variation.get("condition") or []:
        if condition.get("type") == "slot" and slots.get(condition.get("name")) != condition.get("value"):
            return False
    return True


def variations(domain: DomainDict, name: str, slots: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The variations of response ``name`` whose conditions hold for ``slots``."""
    candidates = [v for v in domain.get("responses", {}).get(name, []) if _condition_holds(v, slots)]
    conditional = [v for v in candidates if v.get("condition")]
    return conditional or candidates


def fill(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``{placeholders}`` from ``values``; unknown ones stay as they are."""
    return template.format_map(_KeepMissing({k: v for k, v in values.items() if v is not None}))


def response_text(domain: DomainDict, name: str, tracker: Tracker, **values: Any) -> str:
    """The first applicable variation of a response, filled from slots and ``values``."""
    slots = dict(tracker.slots)
    found = variations(domain, name, slots)
    if not found:
        raise KeyError(f"response {name!r} is missing from domain.yml")
    return fill(found[0].get("text", ""), {**slots, **values})


def fresh_text(domain: DomainDict, name: str, tracker: Tracker, rng: random.Random | None = None) -> str:
    """A variation of ``name`` not yet said in this conversation (any, once all were used).

    A variation counts as said when it appears inside an earlier message, because
    acknowledgements are sent as two sentences joined into one message.
    """
    slots = dict(tracker.slots)
    said = [e.get("text") or "" for e in tracker.events if e.get("event") == "bot"]
    texts = [fill(v.get("text", ""), slots) for v in variations(domain, name, slots)]
    if not texts:
        raise KeyError(f"response {name!r} is missing from domain.yml")
    unused = [t for t in texts if not any(t in message for message in said)]
    return (rng or random).choice(unused or texts)
