"""The training data stays honest: no held-out or evaluation text in it, every intent well covered.

The held-out sets in tests/data/heldout/ are frozen (their hashes are in MANIFEST.sha256):
a figure measured on a file that was edited after training, or whose texts were trained on,
is not a held-out result. The evaluation texts the product is judged on are known here only
by hash (../shared/evaluation/heldout-texts.sha256); none may be anywhere in the repository's
data.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

import yaml
from rasa.shared.nlu.training_data.loading import load_data

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "tests" / "data" / "heldout"
EVALUATION_HASHES = ROOT.parent / "shared" / "evaluation" / "heldout-texts.sha256"
MIN_EXAMPLES = 25
HELDOUT_COLUMNS = ["text", "category", "is_complaint", "source"]
CATEGORIES = {"product", "service", "billing", "delivery", "after_sales", "account", "other", "none"}


def _normalise(text: str) -> str:
    """The evaluation's normalisation (../shared/evaluation/drop_heldout.py)."""
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", " ", text.lower()).strip()


def _hash(text: str) -> str:
    return hashlib.sha256(_normalise(text).encode()).hexdigest()


def _nlu_files() -> list[Path]:
    return [ROOT / "data" / "nlu.yml", *sorted((ROOT / "data" / "nlu").glob("*.yml"))]


def _examples() -> list[tuple[str, str]]:
    examples = []
    for path in _nlu_files():
        data = load_data(str(path))
        examples += [(e.get("intent"), e.get("text")) for e in data.training_examples if e.get("intent")]
    return examples


def _heldout_rows() -> list[dict[str, str]]:
    rows = []
    for path in sorted(HELDOUT.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def _source_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "data" / "sources").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)]
    return texts


def test_heldout_files_are_the_frozen_ones() -> None:
    manifest = (HELDOUT / "MANIFEST.sha256").read_text(encoding="utf-8").split("\n")
    frozen = dict(reversed(line.split()) for line in manifest if line.strip())
    present = {path.name for path in HELDOUT.glob("*.csv")}
    assert present == set(frozen)
    for name, digest in frozen.items():
        assert hashlib.sha256((HELDOUT / name).read_bytes()).hexdigest() == digest, f"{name} changed"


def test_heldout_files_are_well_formed_and_large_enough() -> None:
    for path in sorted(HELDOUT.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        assert reader.fieldnames == HELDOUT_COLUMNS, path.name
        assert len(rows) >= 150, path.name
        assert {row["category"] for row in rows} <= CATEGORIES, path.name
        assert all(row["is_complaint"] == ("0" if row["category"] == "none" else "1") for row in rows), path.name
        assert sum(row["is_complaint"] == "0" for row in rows) >= 40, path.name


def test_no_heldout_text_or_source_row_is_trained_on() -> None:
    heldout = _heldout_rows()
    held_texts = {_normalise(row["text"]) for row in heldout}
    trained = {_normalise(text) for _, text in _examples()}
    assert len(held_texts) == len(heldout)  # no text twice across the held-out files
    assert not trained & held_texts


def test_no_evaluation_text_is_in_the_training_data_sources_or_heldout_sets() -> None:
    banned = set(EVALUATION_HASHES.read_text(encoding="utf-8").split())
    assert len(banned) > 1000  # the real list, not an empty stand-in
    texts = [text for _, text in _examples()] + [row["text"] for row in _heldout_rows()] + _source_texts()
    assert len(texts) > 5000
    assert not [text for text in texts if _hash(text) in banned]


def test_every_intent_of_the_domain_has_enough_examples() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    counts = Counter(intent for intent, _ in _examples())
    for intent in domain["intents"]:
        assert counts[intent] >= MIN_EXAMPLES, (intent, counts[intent])


def test_no_sentence_is_taught_under_two_intents() -> None:
    by_text: dict[str, set[str]] = {}
    for intent, text in _examples():
        by_text.setdefault(_normalise(text), set()).add(intent)
    assert not {text: intents for text, intents in by_text.items() if len(intents) > 1}
