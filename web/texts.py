"""The sentences the web chat says by itself, read from domain.yml (their only home)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

CHANNEL_RESPONSES = (
    "utter_attachment_received",
    "utter_attachment_too_large",
    "utter_attachment_wrong_type",
    "utter_slow_down",
    "utter_technical_difficulty",
)


@dataclass(frozen=True)
class Texts:
    """Each response's variations; a missing one fails at start-up, not in front of a customer."""

    variations: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, domain_path: Path = PROJECT_ROOT / "domain.yml") -> "Texts":
        responses = yaml.safe_load(domain_path.read_text(encoding="utf-8"))["responses"]
        missing = [name for name in CHANNEL_RESPONSES if name not in responses]
        if missing:
            raise ValueError(f"domain.yml lacks the web chat's responses: {', '.join(missing)}")
        return cls({name: tuple(v["text"] for v in responses[name]) for name in CHANNEL_RESPONSES})

    def say(self, name: str, **values: object) -> str:
        return random.choice(self.variations[name]).format(**values)
