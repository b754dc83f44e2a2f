"""Build the public-text held-out sets and training data from the shipped source excerpts.

The assistant must understand real customers, so it is trained and judged on real public
text (see data/README.md): Banking77 (CC BY 4.0) and consumer complaint narratives
published by the US CFPB (public domain). Each source row has a dataset label that is
mapped here to the product's categories (../shared/evaluation/README.md); a label whose
texts straddle categories, or mix complaints with neutral questions, is left out.

Three steps, each a sub-command:

``excerpt``  reads the upstream files and writes ``data/sources/*.csv``: only mapped rows,
             every text listed in the evaluation hashes dropped.
``heldout``  samples ``tests/data/heldout/*.csv`` from the excerpts (run once; the files
             are frozen by ``tests/data/heldout/MANIFEST.sha256``).
``training`` writes ``data/nlu/public_*.yml`` from the excerpt rows that are not held out:
             Banking77 from its train split (the held-out rows come from its test split),
             CFPB narratives by complaint id, never a text equal to a held-out one.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "data" / "sources"
HELDOUT = ROOT / "tests" / "data" / "heldout"
TRAINING = ROOT / "data" / "nlu"
EVALUATION_HASHES = ROOT.parent / "shared" / "evaluation" / "heldout-texts.sha256"

NOT_A_COMPLAINT = "none"
SEED = 2026

#: Banking77 intent -> category, or ``none`` for a neutral question. Labels that are left
#: out mix complaints with neutral questions (``exchange_charge``: "is there a fee?" and
#: "why was I charged?") or straddle categories (``wrong_amount_of_cash_received``: a wrong
#: charge or funds not delivered; ``pending_card_payment``).
BANKING77: dict[str, str] = {
    **dict.fromkeys(
        ["card_arrival", "pending_transfer", "pending_top_up", "transfer_not_received_by_recipient",
         "balance_not_updated_after_bank_transfer", "balance_not_updated_after_cheque_or_cash_deposit"],
        "delivery",
    ),
    **dict.fromkeys(
        ["card_not_working", "contactless_not_working", "virtual_card_not_working", "declined_card_payment",
         "declined_transfer", "declined_cash_withdrawal", "failed_transfer", "top_up_failed", "top_up_reverted",
         "card_swallowed", "beneficiary_not_allowed", "reverted_card_payment?"],
        "product",
    ),
    **dict.fromkeys(
        ["extra_charge_on_statement", "transaction_charged_twice", "card_payment_fee_charged",
         "transfer_fee_charged", "cash_withdrawal_charge", "card_payment_wrong_exchange_rate",
         "wrong_exchange_rate_for_cash_withdrawal"],
        "billing",
    ),
    **dict.fromkeys(["request_refund", "Refund_not_showing_up"], "after_sales"),
    **dict.fromkeys(
        ["compromised_card", "lost_or_stolen_card", "lost_or_stolen_phone", "pin_blocked",
         "card_payment_not_recognised", "direct_debit_payment_not_recognised", "cash_withdrawal_not_recognised",
         "unable_to_verify_identity", "passcode_forgotten"],
        "account",
    ),
    **dict.fromkeys(
        ["card_delivery_estimate", "card_linking", "exchange_rate", "fiat_currency_support", "automatic_top_up",
         "exchange_via_app", "age_limit", "top_up_limits", "supported_cards_and_currencies", "getting_virtual_card",
         "card_acceptance", "why_verify_identity", "get_physical_card", "visa_or_mastercard", "topping_up_by_card",
         "disposable_card_limits", "atm_support", "receiving_money", "transfer_into_account", "verify_top_up",
         "getting_spare_card", "top_up_by_cash_or_cheque", "order_physical_card", "get_disposable_virtual_card",
         "activate_my_card", "card_about_to_expire", "apple_pay_or_google_pay", "verify_my_identity",
         "country_support", "change_pin", "verify_source_of_funds", "transfer_timing", "edit_personal_details"],
        NOT_A_COMPLAINT,
    ),
}

ANY = "*"
#: CFPB (issue, sub-issue) -> category; ``*`` matches any sub-issue. Following the product
#: definition: a lender's, servicer's or collector's conduct and an investigation that goes
#: nowhere are ``service``; wrong or misused credit-file data and identity theft ``account``.
CFPB: dict[tuple[str, str], str] = {
    ("Incorrect information on your report", ANY): "account",
    ("Improper use of your report", ANY): "account",
    ("Problem with fraud alerts or security freezes", ANY): "account",
    ("Unable to get your credit report or credit score", ANY): "account",
    ("Attempts to collect debt not owed", "Debt was result of identity theft"): "account",
    ("Getting a credit card", "Card opened as result of identity theft or fraud"): "account",
    ("Getting a credit card", "Sent card you never applied for"): "account",
    ("Opening an account", "Account opened as a result of fraud"): "account",
    ("Problem with a purchase shown on your statement", "Card was charged for something you did not purchase with the card"): "account",
    ("Problem with a lender or other company charging your account", "Transaction was not authorized"): "account",
    ("Unauthorized transactions or other transaction problem", ANY): "account",
    ("Managing an account", "Problem accessing account"): "account",
    ("Problem with a credit reporting company's investigation into an existing problem", ANY): "service",
    ("Problem with a company's investigation into an existing issue", ANY): "service",
    ("Attempts to collect debt not owed", "Debt is not yours"): "service",
    ("Attempts to collect debt not owed", "Debt was paid"): "service",
    ("Attempts to collect debt not owed", "Debt was already discharged in bankruptcy and is no longer owed"): "service",
    ("Communication tactics", ANY): "service",
    ("Took or threatened to take negative or legal action", ANY): "service",
    ("Threatened to contact someone or share information improperly", ANY): "service",
    ("Written notification about debt", ANY): "service",
    ("False statements or representation", "Impersonated attorney, law enforcement, or government official"): "service",
    ("Struggling to pay mortgage", ANY): "service",
    ("Struggling to pay your loan", ANY): "service",
    ("Struggling to repay your loan", ANY): "service",
    ("Struggling to pay your bill", ANY): "service",
    ("Dealing with your lender or servicer", ANY): "service",
    ("Can't contact lender or servicer", ANY): "service",
    ("Applying for a mortgage or refinancing an existing mortgage", ANY): "service",
    ("Closing on a mortgage", ANY): "service",
    ("Getting a credit card", "Delay in processing application"): "service",
    ("Other features, terms, or problems", "Problem with customer service"): "service",
    ("False statements or representation", "Attempted to collect wrong amount"): "billing",
    ("Trouble during payment process", ANY): "billing",
    ("Problem when making payments", ANY): "billing",
    ("Fees or interest", ANY): "billing",
    ("Charged fees or interest you didn't expect", ANY): "billing",
    ("Problem caused by your funds being low", ANY): "billing",
    ("Advertising and marketing, including promotional offers", ANY): "billing",
    ("Opening an account", "Didn't receive terms that were advertised"): "billing",
    ("Problem with a lender or other company charging your account", "Money was taken from your account on the wrong day or for the wrong amount"): "billing",
    ("Problem with a purchase shown on your statement", "Overcharged for something you did purchase with the card"): "billing",
    ("Wrong amount charged or received", ANY): "billing",
    ("Unexpected or other fees", ANY): "billing",
    ("Problem with a purchase shown on your statement", "Credit card company isn't resolving a dispute about a purchase on your statement"): "after_sales",
    ("Problem with a purchase or transfer", "Card company isn't resolving a dispute about a purchase or transfer"): "after_sales",
    ("Closing an account", "Can't close your account"): "after_sales",
    ("Closing your account", "Can't close your account"): "after_sales",
    ("Managing an account", "Problem using a debit or ATM card"): "product",
    ("Trouble using your card", "Can't use card to make purchases"): "product",
    ("Money was not available when promised", ANY): "delivery",
    ("Lost or stolen money order", ANY): "delivery",
    ("Was approved for a loan, but didn't receive money", ANY): "delivery",
}

NARRATIVE_MAX_WORDS = 400
"""Longer narratives are letters, not chat messages; they are left out of the excerpt."""

SHORT_MAX_WORDS = 60
"""A text this short can stand for a first chat message or a tweet to brand support."""

CFPB_HELDOUT_SHARE = 4
"""One CFPB complaint in this many (by id hash) is held out; short ones one in two."""


def normalise(text: str) -> str:
    """The evaluation's normalisation: lower case, runs of other characters become one space."""
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", " ", text.lower()).strip()


def text_hash(text: str) -> str:
    """SHA-256 of the normalised text, as in the evaluation hash list."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()


def evaluation_hashes(path: Path = EVALUATION_HASHES) -> frozenset[str]:
    """The hashes of the evaluation texts that must never be trained on or shipped."""
    return frozenset(path.read_text(encoding="utf-8").split())


def cfpb_category(issue: str, sub_issue: str) -> str | None:
    """The category of a CFPB complaint from its issue and sub-issue, or None if unmapped."""
    return CFPB.get((issue, sub_issue)) or CFPB.get((issue, ANY))


@dataclass(frozen=True)
class SourceRow:
    """One row of a source excerpt: where it came from, its text and mapped category."""

    source: str
    row_id: str
    text: str
    category: str
    split: str


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, fieldnames: Sequence[str], rows: Iterable[dict[str, str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


# --- excerpt ---------------------------------------------------------------------------


def excerpt_banking77(train: Path, test: Path, banned: frozenset[str]) -> list[dict[str, str]]:
    """Mapped Banking77 rows of both splits, evaluation texts dropped, numbered per split.

    The row keeps our category, not the upstream label: a label name such as
    "pending_transfer" normalises to an evaluation text, and none may be in the repository.
    The line number leads back to the upstream row and its label.
    """
    rows = []
    for split, path in (("train", train), ("test", test)):
        for number, row in enumerate(_read_csv(path), start=2):
            text = " ".join(row["text"].split())
            if row["category"] in BANKING77 and text_hash(text) not in banned:
                rows.append({"split": split, "line": str(number), "category": BANKING77[row["category"]], "text": text})
    return rows


def excerpt_cfpb(paths: Sequence[Path], banned: frozenset[str]) -> list[dict[str, str]]:
    """Mapped CFPB narratives of at most NARRATIVE_MAX_WORDS words, one per complaint id and text."""
    rows, seen_ids, seen_texts = [], set(), set()
    for path in paths:
        for row in _read_csv(path):
            text = (row.get("Consumer complaint narrative") or "").strip()
            complaint_id = row["Complaint ID"]
            if not text or complaint_id in seen_ids or text_hash(text) in banned:
                continue
            if len(text.split()) > NARRATIVE_MAX_WORDS or normalise(text) in seen_texts:
                continue
            if cfpb_category(row["Issue"], row["Sub-issue"]) is None:
                continue
            seen_ids.add(complaint_id)
            seen_texts.add(normalise(text))
            rows.append({"complaint_id": complaint_id, "product": row["Product"], "issue": row["Issue"],
                         "sub_issue": row["Sub-issue"], "text": text})
    return sorted(rows, key=lambda r: int(r["complaint_id"]))


# --- reading the excerpts --------------------------------------------------------------


def _cfpb_split(complaint_id: str, words: int) -> str:
    """``heldout`` or ``train`` by a hash of the complaint id (short texts held out more often)."""
    share = 2 if words <= SHORT_MAX_WORDS else CFPB_HELDOUT_SHARE
    bucket = int(hashlib.sha256(complaint_id.encode()).hexdigest(), 16) % share
    return "heldout" if bucket == 0 else "train"


def source_rows() -> list[SourceRow]:
    """Every excerpt row with its category and split (Banking77 test and 1 CFPB id in 4 held out)."""
    rows = [
        SourceRow("banking77", f"{r['split']}:{r['line']}", r["text"], r["category"],
                  "heldout" if r["split"] == "test" else "train")
        for r in _read_csv(SOURCES / "banking77.csv")
    ]
    rows += [
        SourceRow("cfpb", r["complaint_id"], r["text"], str(cfpb_category(r["issue"], r["sub_issue"])),
                  _cfpb_split(r["complaint_id"], len(r["text"].split())))
        for r in _read_csv(SOURCES / "cfpb_narratives.csv")
    ]
    return rows


# --- held-out sets ---------------------------------------------------------------------

HELDOUT_COLUMNS = ("text", "category", "is_complaint", "source")

#: Held-out rows whose dataset label the text contradicts, relabelled by reading the text
#: against the category definition (never by looking at a model's output).
READ_CORRECTIONS: dict[str, str] = {
    "banking77:test:1644": NOT_A_COMPLAINT,  # "If my phone is missing, can I ...": hypothetical
    "banking77:test:1691": "billing",  # "I wasn't charged the correct amount"
    "banking77:test:1769": NOT_A_COMPLAINT,  # "How long does it take for a refund?"
    "banking77:test:2211": NOT_A_COMPLAINT,  # "What is the maximum I can transfer before I incur fees?"
    "banking77:test:2601": NOT_A_COMPLAINT,  # "Will a withdrawal involve extra charges?"
    "banking77:test:1076": NOT_A_COMPLAINT,  # "How long does it take to process cheque deposits?"
    "banking77:test:1873": NOT_A_COMPLAINT,  # "How long can I expect a transfer to pend for?"
    "banking77:test:2687": NOT_A_COMPLAINT,  # "How long does it take for an international transfer"
    "banking77:test:36": NOT_A_COMPLAINT,  # "Does the card you sent have a way to track it?"
    "banking77:test:41": NOT_A_COMPLAINT,  # "Where is the tracking number for the card?"
    "banking77:test:820": NOT_A_COMPLAINT,  # "What is the fee on my card payment?"
    "banking77:test:1843": NOT_A_COMPLAINT,  # "How long for money transfer to show?"
    "banking77:test:1859": NOT_A_COMPLAINT,  # "How long do transfer pend for?"
    "banking77:test:1335": "delivery",  # "I am missing some funds ... it disappeared"
    "banking77:test:1339": "delivery",  # "I did a top-up, but I'm not seeing it yet"
    "banking77:test:2852": "product",  # "Why can't I activate my card?"
    "banking77:test:2988": "product",  # "I can't top up my account using my American Express"
    "cfpb:7275626": "after_sales",  # a dispute of fraud charges not fully credited
    "cfpb:3477840": "account",  # "Inaccurate information"
    "cfpb:7260300": "delivery",  # a cash transfer sent to an old phone number, never received
    "cfpb:7277566": "after_sales",  # the bank closed the customer's claim on a charge
    "cfpb:3156550": "service",  # a debt collector that will not say anything
    "cfpb:3279963": "account",  # a lender took money the customer calls fraud
}

#: Near-copies of another held-out row (templated letters sent under several complaint ids).
READ_DUPLICATES = frozenset({"cfpb:7260383", "cfpb:7268293"})


def _sample(rows: Sequence[SourceRow], per_category: dict[str, int], rng: random.Random) -> list[SourceRow]:
    by_category: dict[str, list[SourceRow]] = defaultdict(list)
    for row in rows:
        by_category[row.category].append(row)
    chosen = []
    for category, count in per_category.items():
        pool = sorted(by_category.get(category, []), key=lambda r: r.row_id)
        chosen += rng.sample(pool, min(count, len(pool)))
    return chosen


def _heldout_record(row: SourceRow) -> dict[str, str]:
    source = f"{row.source}:{row.row_id}"
    category = READ_CORRECTIONS.get(source, row.category)
    return {"text": row.text, "category": category,
            "is_complaint": "0" if category == NOT_A_COMPLAINT else "1", "source": source}


def build_heldout() -> dict[str, int]:
    """Sample the two held-out files; a source row goes into at most one of them."""
    rng = random.Random(SEED)
    pool = [r for r in source_rows() if r.split == "heldout"]
    short = [r for r in pool if len(r.text.split()) <= SHORT_MAX_WORDS]
    short_banking = [r for r in short if r.source == "banking77"]
    short_cfpb = [r for r in short if r.source == "cfpb"]
    short_set = _sample(short_banking, {"delivery": 22, "product": 22, "billing": 22, "after_sales": 15,
                                        "account": 22, NOT_A_COMPLAINT: 50}, rng)
    short_set += _sample(short_cfpb, dict.fromkeys(["account", "service", "billing", "after_sales", "product",
                                                    "delivery"], 20), rng)
    taken = {r.row_id for r in short_set}
    rest = [r for r in pool if r.row_id not in taken]
    consumer = _sample([r for r in rest if r.source == "cfpb"],
                       {"account": 45, "service": 45, "billing": 25, "after_sales": 10, "product": 5, "delivery": 5}, rng)
    consumer += _sample([r for r in rest if r.source == "banking77"],
                        {"delivery": 25, "product": 25, "billing": 25, "after_sales": 25, "account": 25,
                         NOT_A_COMPLAINT: 50}, rng)
    sizes, seen_texts = {}, set()
    for name, rows in (("consumer_banking.csv", consumer), ("short_texts.csv", short_set)):
        records = []
        for row in rows:
            if f"{row.source}:{row.row_id}" not in READ_DUPLICATES and normalise(row.text) not in seen_texts:
                seen_texts.add(normalise(row.text))
                records.append(_heldout_record(row))
        records.sort(key=lambda r: (r["source"].split(":")[0], r["category"], r["source"]))
        sizes[name] = _write_csv(HELDOUT / name, HELDOUT_COLUMNS, records)
    return sizes


def heldout_texts() -> set[str]:
    """Normalised texts of every held-out file (training must contain none of them)."""
    return {normalise(row["text"]) for path in sorted(HELDOUT.glob("*.csv")) for row in _read_csv(path)}


def heldout_sources() -> set[str]:
    """``source:row`` of every held-out row (training must not reuse the row either)."""
    return {row["source"] for path in sorted(HELDOUT.glob("*.csv")) for row in _read_csv(path)}


# --- training data ---------------------------------------------------------------------

#: At most this many public examples per intent, so training stays a few minutes.
MAX_PER_INTENT = {"banking77": 150, "cfpb": 150}
TRAINING_MAX_WORDS = 250
NEUTRAL_INTENT = "out_of_scope"

ENTITY_MARKUP = re.compile(r"\[[^\]]*\]\s*[({]")
"""Rasa reads "[text](entity)" in an example as an entity annotation; such texts are left out."""

NEAR_COPY_JACCARD = 0.6
"""A training text sharing this much of its vocabulary with a held-out text is a near-copy
(templated letters, reworded crowd queries): it is left out of training."""


def intent_for(category: str) -> str:
    """The intent a public text is taught under: its complaint intent, or out_of_scope."""
    return NEUTRAL_INTENT if category == NOT_A_COMPLAINT else f"complain_{category}"


def _words(text: str) -> frozenset[str]:
    return frozenset(normalise(text).split())


def is_near_copy(words: frozenset[str], others: Sequence[frozenset[str]]) -> bool:
    """Whether the word set shares at least NEAR_COPY_JACCARD of its union with any other."""
    return any(len(words & other) >= NEAR_COPY_JACCARD * len(words | other) for other in others)


def training_rows(banned: frozenset[str]) -> list[SourceRow]:
    """Rows eligible for training: not held out (row, text or near-copy), not an evaluation text."""
    held_texts, held_rows = heldout_texts(), heldout_sources()
    held_words = [_words(text) for text in held_texts]
    eligible = []
    for row in source_rows():
        if row.split != "train" or f"{row.source}:{row.row_id}" in held_rows:
            continue
        if normalise(row.text) in held_texts or text_hash(row.text) in banned:
            continue
        if len(row.text.split()) > TRAINING_MAX_WORDS or ENTITY_MARKUP.search(row.text):
            continue
        if is_near_copy(_words(row.text), held_words):
            continue
        eligible.append(row)
    return eligible


def _yaml_line(text: str) -> str:
    """One example line of a Rasa NLU block (literal style: no escaping but one line)."""
    return "      - " + " ".join(text.split())


def write_training(rows: Sequence[SourceRow], source: str, path: Path) -> dict[str, int]:
    """Sample at most MAX_PER_INTENT examples per intent from one source into one NLU file."""
    rng = random.Random(SEED)
    by_intent: dict[str, list[SourceRow]] = defaultdict(list)
    for row in rows:
        if row.source == source:
            by_intent[intent_for(row.category)].append(row)
    counts, blocks = {}, []
    for intent in sorted(by_intent):
        pool = sorted(by_intent[intent], key=lambda r: r.row_id)
        chosen = rng.sample(pool, min(MAX_PER_INTENT[source], len(pool)))
        unique = sorted({" ".join(r.text.split()) for r in chosen})
        counts[intent] = len(unique)
        blocks.append(f"  - intent: {intent}\n    examples: |\n" + "\n".join(_yaml_line(t) for t in unique))
    header = (f"# Generated by scripts/build_training_data.py from data/sources/ ({source}); do not edit.\n"
              "# Real public customer text, see data/README.md for source, licence and sampling.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + 'version: "3.1"\nnlu:\n' + "\n".join(blocks) + "\n", encoding="utf-8")
    return counts


# --- command line ----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    ex = sub.add_parser("excerpt", help="write data/sources/ from the upstream files")
    ex.add_argument("--banking77-train", type=Path, required=True)
    ex.add_argument("--banking77-test", type=Path, required=True)
    ex.add_argument("--cfpb", type=Path, nargs="+", required=True, help="CFPB export CSVs with narratives")
    sub.add_parser("heldout", help="sample tests/data/heldout/ (once; the files are then frozen)")
    sub.add_parser("training", help="write data/nlu/public_*.yml")
    args = parser.parse_args(argv)

    banned = evaluation_hashes()
    if args.step == "excerpt":
        banking = excerpt_banking77(args.banking77_train, args.banking77_test, banned)
        cfpb = excerpt_cfpb(args.cfpb, banned)
        print("banking77.csv:", _write_csv(SOURCES / "banking77.csv", ("split", "line", "category", "text"), banking))
        print("cfpb_narratives.csv:", _write_csv(SOURCES / "cfpb_narratives.csv",
                                                 ("complaint_id", "product", "issue", "sub_issue", "text"), cfpb))
    elif args.step == "heldout":
        print(build_heldout())
    else:
        rows = training_rows(banned)
        for source in MAX_PER_INTENT:
            print(source, write_training(rows, source, TRAINING / f"public_{source}.yml"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
