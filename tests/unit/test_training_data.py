"""The training data stays honest: no held-out sentence in it, every intent well covered."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import yaml
from rasa.shared.nlu.training_data.loading import load_data

ROOT = Path(__file__).resolve().parents[2]
MIN_EXAMPLES = 25


def _examples() -> list[tuple[str, str]]:
    data = load_data(str(ROOT / "data" / "nlu.yml"))
    return [(e.get("intent"), e.get("text")) for e in data.training_examples]


def test_no_held_out_sentence_is_trained_on() -> None:
    trained = {text.lower().strip() for _, text in _examples()}
    with (ROOT / "tests" / "data" / "nlu_heldout.csv").open(encoding="utf-8") as handle:
        held_out = {row["text"].lower().strip() for row in csv.DictReader(handle)}
    assert len(held_out) >= 140
    assert not trained & held_out


def test_every_intent_of_the_domain_has_enough_examples() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    counts = Counter(intent for intent, _ in _examples())
    for intent in domain["intents"]:
        assert counts[intent] >= MIN_EXAMPLES, (intent, counts[intent])


def test_no_sentence_is_taught_under_two_intents() -> None:
    by_text: dict[str, set[str]] = {}
    for intent, text in _examples():
        by_text.setdefault(text.lower().strip(), set()).add(intent)
    assert not {text: intents for text, intents in by_text.items() if len(intents) > 1}
