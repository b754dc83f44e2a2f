"""Complaint-category accuracy of the trained model, scored the way the product categorises.

Usage: ``python bench/nlu_eval.py FILE.csv [--model PATH]``

The CSV has columns ``text`` and ``expected_category`` (one of the seven complaint
categories, or ``none`` for a message that is not a complaint) and optionally
``expected_intent``. Each text is parsed by the trained Rasa model, then categorised
with ``bot.triage.categorize`` and the same settings the product loads, so the figures
measure what customers get, not what the classifier alone would score.

Exit codes: 0 done, 2 bad input (CSV or model path), 1 the model or product code failed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))  # run as a script: make ``bot`` importable

from bot.domain_config import CATEGORIES as COMPLAINT_CATEGORIES  # noqa: E402
from bot.domain_config import TriageConfig  # noqa: E402
#: Label for a message that does not start a complaint.
NOT_A_COMPLAINT = "none"
ALL_LABELS: tuple[str, ...] = (*COMPLAINT_CATEGORIES, NOT_A_COMPLAINT)

REQUIRED_COLUMNS = ("text", "expected_category")
TRUNCATE_AT = 60
WORST_PAIRS_SHOWN = 8
EXAMPLES_PER_PAIR = 2


class DatasetError(ValueError):
    """The CSV cannot be evaluated; the message says why and where."""


@dataclass(frozen=True)
class Case:
    """One labelled row of the evaluation CSV."""

    line: int
    text: str
    expected_category: str
    expected_intent: str | None


@dataclass(frozen=True)
class Prediction:
    """What the model and the product's triage made of one case."""

    intent: str
    confidence: float
    category: str


@dataclass(frozen=True)
class LabelScores:
    """Precision, recall and F1 for one label; ``support`` is how many rows expect it."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


# --- metrics: pure functions, covered by tests/unit/test_bench_stats.py ---------------


def safe_ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, or 0.0 when the denominator is 0 (sklearn's zero_division=0)."""
    return numerator / denominator if denominator else 0.0


def f1_score(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    return safe_ratio(2 * precision * recall, precision + recall)


def label_scores(expected: Sequence[str], predicted: Sequence[str], label: str) -> LabelScores:
    """One-vs-rest precision, recall and F1 of ``label`` over paired expected/predicted labels."""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected labels but {len(predicted)} predictions")
    true_pos = sum(1 for e, p in zip(expected, predicted) if e == label and p == label)
    support = sum(1 for e in expected if e == label)
    predicted_count = sum(1 for p in predicted if p == label)
    precision = safe_ratio(true_pos, predicted_count)
    recall = safe_ratio(true_pos, support)
    return LabelScores(label, precision, recall, f1_score(precision, recall), support, predicted_count)


def macro_f1(scores: Sequence[LabelScores]) -> float:
    """Unweighted mean F1 over labels that occur (expected or predicted) at all.

    A label absent from both the data and the predictions says nothing about the
    model, so it is left out rather than counted as a zero that drags the mean down.
    """
    seen = [s.f1 for s in scores if s.support or s.predicted]
    return safe_ratio(sum(seen), len(seen))


def accuracy(expected: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of exact matches."""
    return safe_ratio(sum(1 for e, p in zip(expected, predicted, strict=True) if e == p), len(expected))


def confusion_pairs(expected: Sequence[str], predicted: Sequence[str]) -> list[tuple[tuple[str, str], int]]:
    """(expected, predicted) mistake pairs, most frequent first (ties by label for a stable report)."""
    counts = Counter((e, p) for e, p in zip(expected, predicted, strict=True) if e != p)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def truncate(text: str, limit: int = TRUNCATE_AT) -> str:
    """One-line text of at most ``limit`` characters, marked with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- the product's categorisation ------------------------------------------------------


def product_category(intent: str, confidence: float, text: str, triage_config: TriageConfig) -> str:
    """The category the product would file this message under, or ``none``.

    Exactly the product's rule, ``bot.triage.complaint_category``: a ``complain_*``
    intent opens a complaint, and so does a message the classifier could not place
    when it is long or names a category's keywords.
    """
    from bot.triage import complaint_category

    category = complaint_category(intent, confidence, text, triage_config)
    return NOT_A_COMPLAINT if category is None else str(category)


# --- input -----------------------------------------------------------------------------


def read_cases(path: Path) -> list[Case]:
    """Read and validate the evaluation CSV; raise :class:`DatasetError` naming the problem."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            if not columns:
                raise DatasetError(f"{path} is empty: expected a header with {', '.join(REQUIRED_COLUMNS)}")
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DatasetError(f"{path} lacks column(s) {', '.join(missing)}; found {', '.join(columns)}")
            reader.fieldnames = columns
            cases = [_case(row, reader.line_num) for row in reader]
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text: {exc.reason}") from exc
    except csv.Error as exc:
        raise DatasetError(f"{path} is not valid CSV: {exc}") from exc
    if not cases:
        raise DatasetError(f"{path} has a header but no rows")
    return cases


def _case(row: dict[str | None, Any], line: int) -> Case:
    """Validate one CSV row; ``line`` is the physical line it ended on."""
    if None in row:
        raise DatasetError(f"line {line}: more fields than header columns (unquoted comma?)")
    text = (row.get("text") or "").strip()
    category = (row.get("expected_category") or "").strip().lower()
    intent = (row.get("expected_intent") or "").strip() or None
    if not text:
        raise DatasetError(f"line {line}: empty text")
    if category not in ALL_LABELS:
        raise DatasetError(f"line {line}: expected_category {category!r} is not one of {', '.join(ALL_LABELS)}")
    return Case(line=line, text=text, expected_category=category, expected_intent=intent)


def current_model() -> Path:
    """The model trained from the current config, domain and data (``make setup`` trains it)."""
    from scripts.train_model import model_path

    return model_path()


# --- evaluation ------------------------------------------------------------------------


async def predict_all(model: Path, cases: Sequence[Case]) -> list[Prediction]:
    """Parse every case with the model and categorise it with the product's triage settings."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    from bot.domain_config import load_domain_config
    from bot.settings import load_settings

    configure_structlog(logging.WARNING)  # else Rasa logs a debug line per parsed message
    config = load_domain_config(load_settings().config_dir)
    agent = Agent.load(str(model))
    predictions = []
    for case in cases:
        parsed = await agent.parse_message(case.text)
        intent = (parsed.get("intent") or {}).get("name") or ""
        confidence = float((parsed.get("intent") or {}).get("confidence") or 0.0)
        category = product_category(intent, confidence, case.text, config.triage)
        predictions.append(Prediction(intent, confidence, category))
    return predictions


def report(cases: Sequence[Case], predictions: Sequence[Prediction]) -> None:
    """Print the per-category table, macro-F1, intent accuracy and the worst confusions."""
    expected = [c.expected_category for c in cases]
    predicted = [p.category for p in predictions]
    scores = [label_scores(expected, predicted, label) for label in ALL_LABELS]

    print(f"{'category':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8} {'predicted':>9}")
    for s in scores:
        print(f"{s.label:<12} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} {s.support:>8d} {s.predicted:>9d}")
    complaint_scores = [s for s in scores if s.label in COMPLAINT_CATEGORIES]
    print(f"\nmacro-F1 (7 complaint categories): {macro_f1(complaint_scores):.3f}")
    print(f"macro-F1 (including none):          {macro_f1(scores):.3f}")
    print(f"category accuracy:                  {accuracy(expected, predicted):.3f}  ({len(cases)} rows)")

    with_intent = [(c.expected_intent, p.intent) for c, p in zip(cases, predictions) if c.expected_intent]
    if with_intent:
        intent_acc = accuracy([e for e, _ in with_intent], [p for _, p in with_intent])
        print(f"intent accuracy:                    {intent_acc:.3f}  ({len(with_intent)} rows with expected_intent)")

    pairs = confusion_pairs(expected, predicted)
    if not pairs:
        print("\nno category mistakes")
        return
    print("\nworst confusions (expected -> predicted, count, examples with predicted intent):")
    for (want, got), count in pairs[:WORST_PAIRS_SHOWN]:
        print(f"  {want} -> {got}: {count}")
        examples = [(c, p) for c, p in zip(cases, predictions) if c.expected_category == want and p.category == got]
        for case, pred in examples[:EXAMPLES_PER_PAIR]:
            print(f"      {truncate(case.text)!r}  [{pred.intent} {pred.confidence:.2f}]")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line: the CSV and an optional model path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path, help="evaluation CSV (text, expected_category[, expected_intent])")
    parser.add_argument("--model", type=Path, help="model .tar.gz (default: the one trained from the current inputs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Validate inputs first (cheap, exit 2), then load the model and evaluate."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        cases = read_cases(args.csv)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = args.model or current_model()
    if not model.is_file():
        print(f"error: no model at {model}; run 'make setup' (it trains one) or pass --model", file=sys.stderr)
        return 2
    try:
        predictions = asyncio.run(predict_all(model, cases))
    except Exception as exc:  # noqa: BLE001 - report any model/product failure as one line, not a traceback
        log.debug("evaluation failed", exc_info=True)
        print(f"error: evaluation failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"model: {model}\n")
    report(cases, predictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
