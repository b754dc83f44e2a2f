"""The Chinese held-out set and training candidates stay apart, and the held-out labels are the read ones.

tests/unit/test_training_data.py checks every held-out file's freeze, shape and evaluation
hashes; this adds what is particular to the Chinese reviews: one source, split by text.
"""

from __future__ import annotations

import csv
from pathlib import Path

from scripts.build_chinese_data import EXCERPT, HELDOUT_FILE, MAX_CHARS, TRAINING_CUES, sample_rows, side
from scripts.build_training_data import NOT_A_COMPLAINT, normalise
from scripts.zh_labels import READ_LABELS, SKIPPED


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_heldout_row_is_a_read_label_of_a_sampled_heldout_side_row() -> None:
    excerpt = {row["source"]: row for row in _rows(EXCERPT)}
    sampled = {row["source"] for row in sample_rows()}
    heldout = _rows(HELDOUT_FILE)
    assert len(heldout) == len(READ_LABELS) == 339
    for row in heldout:
        source = excerpt[row["source"]]
        assert source["side"] == "heldout" and side(row["text"]) == "heldout"
        assert row["text"] == source["text"] and row["source"] in sampled
        assert row["category"] == READ_LABELS[row["source"]]
    assert not SKIPPED & READ_LABELS.keys()
    assert {row["source"] for row in heldout} | SKIPPED == sampled


def test_no_training_candidate_shares_a_text_with_any_heldout_file() -> None:
    held = {normalise(row["text"]) for path in HELDOUT_FILE.parent.glob("*.csv") for row in _rows(path)}
    training = [row for row in _rows(EXCERPT) if row["side"] == "train"]
    assert len(training) > 8000
    assert not {normalise(row["text"]) for row in training} & held


def test_excerpt_rows_are_distinct_short_and_weakly_labelled_only_on_the_training_side() -> None:
    rows = _rows(EXCERPT)
    assert len({normalise(row["text"]) for row in rows}) == len(rows)
    assert all(len(row["text"]) <= MAX_CHARS for row in rows)
    allowed = {"", NOT_A_COMPLAINT, *TRAINING_CUES}
    for row in rows:
        assert row["category"] in (allowed if row["side"] == "train" else {""})
        assert (row["category"] == NOT_A_COMPLAINT) == (row["side"] == "train" and row["polarity"] == "pos")
