"""The threat rules of settings/handoff.yml on real phrasings and near-misses (tests/handoff/phrasings.yml)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from bot.handoff.policy import Facts, HandoffPolicy, ThreatRule
from tests.handoff.conftest import MONDAY_NOON, ROOT, make_policy

PHRASINGS = yaml.safe_load((Path(__file__).with_name("phrasings.yml")).read_text(encoding="utf-8"))
EVALUATION_HASHES = ROOT.parent / "shared" / "evaluation" / "heldout-texts.sha256"
CFPB_SOURCE = ROOT / "data" / "sources" / "cfpb_narratives.csv"

FIRES = [(rule, item["text"]) for rule, items in PHRASINGS.items() for item in items["fires"]]
QUIET = [item["text"] for items in PHRASINGS.values() for item in items["quiet"]]


def threat_rules(policy: HandoffPolicy) -> dict[str, ThreatRule]:
    return {rule.id: rule for rule in policy.rules if isinstance(rule, ThreatRule)}


@pytest.mark.parametrize(("rule_id", "text"), FIRES, ids=[f"{rule}:{text[:40]}" for rule, text in FIRES])
def test_a_real_phrasing_fires_its_rule_with_the_phrase_as_evidence(policy: HandoffPolicy, rule_id: str, text: str) -> None:
    [trigger] = [t for t in policy.evaluate(Facts(now=MONDAY_NOON, text=text)) if t.rule == rule_id]
    assert trigger.evidence and trigger.evidence.lower() in " ".join(text.replace("\u2019", "'").split()).lower()
    assert trigger.reason == policy.reason(rule_id)
    assert trigger.priority == {"legal_threat": "P2", "regulator_threat": "P2", "media_threat": "P2", "safety_incident": "P1"}[rule_id]


@pytest.mark.parametrize("text", QUIET, ids=[text[:50] for text in QUIET])
def test_a_near_miss_fires_no_threat_rule(policy: HandoffPolicy, text: str) -> None:
    assert {name: rule.find(text) for name, rule in threat_rules(policy).items() if rule.find(text)} == {}


def test_every_threat_rule_has_real_phrasings_and_near_misses(policy: HandoffPolicy) -> None:
    assert set(PHRASINGS) == set(threat_rules(policy))
    for rule, items in PHRASINGS.items():
        assert len(items["fires"]) >= 10, rule
        assert len(items["quiet"]) >= 4, rule
    assert len(FIRES) >= 70 and len(QUIET) >= 40


def test_the_issue_s_own_examples() -> None:
    policy = make_policy()
    rules = threat_rules(policy)
    assert rules["legal_threat"].find("I will sue") == "will sue"
    assert rules["legal_threat"].find("I'll sue") == "'ll sue"
    assert rules["legal_threat"].find("Sue from your shop was kind") is None
    assert rules["legal_threat"].find("my lawyer") == "my lawyer"
    assert rules["legal_threat"].find("lawyer-proof packaging") is None
    assert rules["regulator_threat"].find("I'm taking this to the ombudsman") == "ombudsman"
    assert rules["media_threat"].find("I'm going to the press") == "going to the press"
    assert rules["media_threat"].find("press the button") is None
    assert rules["safety_incident"].find("I was injured") == "injured"
    assert rules["safety_incident"].find("it caught fire") == "caught fire"


def test_cfpb_phrasings_are_verbatim_sentences_of_the_cited_narrative() -> None:
    import csv

    with CFPB_SOURCE.open(encoding="utf-8", newline="") as handle:
        narratives = {row["complaint_id"]: " ".join(row["text"].split()) for row in csv.DictReader(handle)}
    cited = [item for items in PHRASINGS.values() for kind in ("fires", "quiet") for item in items[kind]
             if item["source"].startswith("cfpb:")]
    assert len(cited) >= 30
    for item in cited:
        narrative = narratives[item["source"].removeprefix("cfpb:")]
        assert " ".join(item["text"].split()) in narrative, item


def test_no_phrasing_is_a_held_out_evaluation_text() -> None:
    hashes = set(EVALUATION_HASHES.read_text(encoding="utf-8").split())
    assert len(hashes) > 1000

    def digest(text: str) -> str:
        return hashlib.sha256(re.sub(r"[^0-9a-z\u4e00-\u9fff]+", " ", text.lower()).strip().encode()).hexdigest()

    assert [text for _, text in FIRES if digest(text) in hashes] == []
    assert [text for text in QUIET if digest(text) in hashes] == []
