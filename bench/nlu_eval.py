"""Complaint detection and category accuracy on held-out real customer text.

Usage: ``python bench/nlu_eval.py [FILE.csv ...] [--model PATH]``
(default: every file in ``tests/data/heldout/``).

Each CSV has columns ``text`` and ``category`` (one of the seven complaint categories, or
``none`` for a message that is not a complaint), optionally ``is_complaint`` (0/1, must
agree with the category) and ``source``. Every text is scored three ways:

- ``model``: the trained classifier alone (a ``complain_<category>`` intent, else none);
- ``keywords``: the keyword rules of ``settings/triage.yml`` alone, through the product's
  own rule for a message the classifier could not place;
- ``combined``: what the product does, ``bot.triage.complaint_category``.

Per file and variant it reports per-category precision/recall/F1 on the complaint rows,
macro-F1 over the categories present in the file (a category predicted but never expected
is listed, not averaged in), complaint recall and the false-positive rate on non-complaints.

Exit codes: 0 done, 2 bad input (CSV or model path), 1 the model or product code failed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import sys
from collections import Counter
from collections.abc import Callable, Sequence
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
DEFAULT_FILES = PROJECT_ROOT / "tests" / "data" / "heldout"
VARIANTS: tuple[str, ...] = ("model", "keywords", "combined")

REQUIRED_COLUMNS = ("text", "category")
TRUNCATE_AT = 60
WORST_PAIRS_SHOWN = 6
EXAMPLES_PER_PAIR = 2


class DatasetError(ValueError):
    """The CSV cannot be evaluated; the message says why and where."""


@dataclass(frozen=True)
class Case:
    """One labelled row of an evaluation CSV."""

    line: int
    text: str
    category: str

    @property
    def is_complaint(self) -> bool:
        return self.category != NOT_A_COMPLAINT


@dataclass(frozen=True)
class Parse:
    """What the classifier made of one text."""

    intent: str
    confidence: float


@dataclass(frozen=True)
class LabelScores:
    """Precision, recall and F1 for one label; ``support`` is how many rows expect it."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


@dataclass(frozen=True)
class VariantResult:
    """One variant's figures on one file."""

    variant: str
    scores: list[LabelScores]
    macro_f1: float
    complaint_recall: float
    false_positive_rate: float
    complaints: int
    non_complaints: int


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
    """Unweighted mean F1 over the labels the data expects (support > 0).

    A label predicted but never expected is a mistake that already lowers the precision
    of the labels it was taken from; averaging its F1 of 0 in as well would make the
    figure depend on which wrong labels the model happens to produce.
    """
    present = [s.f1 for s in scores if s.support]
    return safe_ratio(sum(present), len(present))


def category_scores(expected: Sequence[str], predicted: Sequence[str]) -> list[LabelScores]:
    """Per-category scores on the complaint rows only: a complaint read as ``none`` is a miss.

    Categories are scored if expected or predicted there; ``none`` is never a category.
    """
    pairs = [(e, p) for e, p in zip(expected, predicted, strict=True) if e != NOT_A_COMPLAINT]
    exp = [e for e, _ in pairs]
    pred = [p for _, p in pairs]
    labels = [label for label in COMPLAINT_CATEGORIES if label in exp or label in pred]
    return [label_scores(exp, pred, label) for label in labels]


def complaint_recall(expected: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of complaints read as a complaint (any category)."""
    hits = [p != NOT_A_COMPLAINT for e, p in zip(expected, predicted, strict=True) if e != NOT_A_COMPLAINT]
    return safe_ratio(sum(hits), len(hits))


def false_positive_rate(expected: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of non-complaints read as a complaint."""
    hits = [p != NOT_A_COMPLAINT for e, p in zip(expected, predicted, strict=True) if e == NOT_A_COMPLAINT]
    return safe_ratio(sum(hits), len(hits))


def confusion_pairs(expected: Sequence[str], predicted: Sequence[str]) -> list[tuple[tuple[str, str], int]]:
    """(expected, predicted) mistake pairs, most frequent first (ties by label for a stable report)."""
    counts = Counter((e, p) for e, p in zip(expected, predicted, strict=True) if e != p)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def evaluate(variant: str, expected: Sequence[str], predicted: Sequence[str]) -> VariantResult:
    """All figures of one variant on one file."""
    scores = category_scores(expected, predicted)
    return VariantResult(
        variant=variant,
        scores=scores,
        macro_f1=macro_f1(scores),
        complaint_recall=complaint_recall(expected, predicted),
        false_positive_rate=false_positive_rate(expected, predicted),
        complaints=sum(e != NOT_A_COMPLAINT for e in expected),
        non_complaints=sum(e == NOT_A_COMPLAINT for e in expected),
    )


def truncate(text: str, limit: int = TRUNCATE_AT) -> str:
    """One-line text of at most ``limit`` characters, marked with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- the three ways to categorise --------------------------------------------------------


def model_category(parse: Parse, text: str, triage_config: TriageConfig) -> str:
    """The classifier alone: the category its ``complain_*`` intent names, else ``none``."""
    from bot.triage import intent_category

    return intent_category(parse.intent) or NOT_A_COMPLAINT


def keyword_category(parse: Parse, text: str, triage_config: TriageConfig) -> str:
    """The keyword rules alone, as the product applies them when the classifier places nothing."""
    from bot.triage import complaint_category

    return complaint_category(None, 0.0, text, triage_config) or NOT_A_COMPLAINT


def product_category(parse: Parse, text: str, triage_config: TriageConfig) -> str:
    """What the product files: ``bot.triage.complaint_category`` on the classifier's intent."""
    from bot.triage import complaint_category

    return complaint_category(parse.intent, parse.confidence, text, triage_config) or NOT_A_COMPLAINT


CATEGORISERS: dict[str, Callable[[Parse, str, TriageConfig], str]] = {
    "model": model_category,
    "keywords": keyword_category,
    "combined": product_category,
}


# --- input -----------------------------------------------------------------------------


def read_cases(path: Path) -> list[Case]:
    """Read and validate one evaluation CSV; raise :class:`DatasetError` naming the problem."""
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
    category = (row.get("category") or "").strip().lower()
    flag = (row.get("is_complaint") or "").strip()
    if not text:
        raise DatasetError(f"line {line}: empty text")
    if category not in ALL_LABELS:
        raise DatasetError(f"line {line}: category {category!r} is not one of {', '.join(ALL_LABELS)}")
    if flag and flag != ("0" if category == NOT_A_COMPLAINT else "1"):
        raise DatasetError(f"line {line}: is_complaint {flag!r} contradicts category {category!r}")
    return Case(line=line, text=text, category=category)


def current_model() -> Path:
    """The model trained from the current config, domain and data (``make setup`` trains it)."""
    from scripts.train_model import model_path

    return model_path()


# --- evaluation ------------------------------------------------------------------------


async def parse_all(model: Path, texts: Sequence[str]) -> list[Parse]:
    """The classifier's intent and confidence for every text."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # else Rasa logs a debug line per parsed message
    agent = Agent.load(str(model))
    parses = []
    for text in texts:
        intent = (await agent.parse_message(text)).get("intent") or {}
        parses.append(Parse(intent.get("name") or "", float(intent.get("confidence") or 0.0)))
    return parses


def categorise_all(cases: Sequence[Case], parses: Sequence[Parse], triage_config: TriageConfig) -> dict[str, list[str]]:
    """Each variant's label for every case."""
    return {
        variant: [categorise(parse, case.text, triage_config) for case, parse in zip(cases, parses, strict=True)]
        for variant, categorise in CATEGORISERS.items()
    }


def report_file(name: str, cases: Sequence[Case], labels: dict[str, list[str]]) -> list[VariantResult]:
    """Print one file's per-category tables and headline figures; return them for the summary."""
    expected = [c.category for c in cases]
    present = sorted({e for e in expected if e != NOT_A_COMPLAINT}, key=ALL_LABELS.index)
    print(f"== {name}: {len(cases)} rows, {sum(c.is_complaint for c in cases)} complaints "
          f"in {', '.join(present)}; {sum(not c.is_complaint for c in cases)} not complaints")
    results = []
    for variant in VARIANTS:
        result = evaluate(variant, expected, labels[variant])
        results.append(result)
        print(f"\n  [{variant}]  macro-F1 {result.macro_f1:.3f} over {len(present)} categories present; "
              f"complaint recall {result.complaint_recall:.3f}; false positives {result.false_positive_rate:.3f}")
        print(f"  {'category':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8} {'predicted':>9}")
        for s in result.scores:
            note = "" if s.support else "  (never expected: not averaged)"
            print(f"  {s.label:<12} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} {s.support:>8d} {s.predicted:>9d}{note}")
    _print_confusions(cases, labels["combined"])
    return results


def _print_confusions(cases: Sequence[Case], predicted: Sequence[str]) -> None:
    pairs = confusion_pairs([c.category for c in cases], predicted)
    if not pairs:
        return
    print("\n  worst confusions of the combined variant (expected -> predicted):")
    for (want, got), count in pairs[:WORST_PAIRS_SHOWN]:
        examples = [c for c, p in zip(cases, predicted) if c.category == want and p == got][:EXAMPLES_PER_PAIR]
        print(f"    {want} -> {got}: {count}   e.g. " + " | ".join(repr(truncate(c.text)) for c in examples))


def print_summary(results: dict[str, list[VariantResult]]) -> None:
    """One line per file and variant: the headline figures side by side."""
    print("\n== summary")
    print(f"  {'file':<24} {'variant':<9} {'macro-F1':>8} {'complaint recall':>16} {'false positives':>15}")
    for name, file_results in results.items():
        for r in file_results:
            print(f"  {name:<24} {r.variant:<9} {r.macro_f1:>8.3f} {r.complaint_recall:>16.3f} {r.false_positive_rate:>15.3f}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line: the CSVs (default: the held-out sets) and an optional model path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path, nargs="*", help="evaluation CSVs (text, category[, is_complaint, source])")
    parser.add_argument("--model", type=Path, help="model .tar.gz (default: the one trained from the current inputs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Validate inputs first (cheap, exit 2), then load the model and evaluate."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    paths = args.csv or sorted(DEFAULT_FILES.glob("*.csv"))
    try:
        files = {path.name: read_cases(path) for path in paths}
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = args.model or current_model()
    if not model.is_file():
        print(f"error: no model at {model}; run 'make setup' (it trains one) or pass --model", file=sys.stderr)
        return 2
    try:
        from bot.domain_config import load_domain_config
        from bot.settings import load_settings

        triage_config = load_domain_config(load_settings().config_dir).triage
        texts = [case.text for cases in files.values() for case in cases]
        parses = iter(asyncio.run(parse_all(model, texts)))
        labelled = {name: categorise_all(cases, [next(parses) for _ in cases], triage_config)
                    for name, cases in files.items()}
    except Exception as exc:  # noqa: BLE001 - report any model/product failure as one line, not a traceback
        log.debug("evaluation failed", exc_info=True)
        print(f"error: evaluation failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"model: {model}\n")
    results = {name: report_file(name, files[name], labelled[name]) for name in files}
    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
