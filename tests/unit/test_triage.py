"""Triage rules against the real policy in settings/triage.yml and settings/sla.yml."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.domain_config import DomainConfig, load_domain_config
from bot.settings import PROJECT_ROOT
from bot.triage import (
    assess,
    categorize,
    conversation_emotion,
    mood_for,
    score_emotion,
    sla_deadlines,
)

CALM = "Hello, I think I was overcharged on my last bill."
ANNOYED = "I'm a bit annoyed that my parcel is late."
FURIOUS = "This is absolutely RIDICULOUS!!! Worst service ever, I'm FURIOUS with you people"
OPENED = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def config() -> DomainConfig:
    return load_domain_config(PROJECT_ROOT / "settings")


def test_emotion_orders_furious_above_annoyed_above_calm(config: DomainConfig) -> None:
    calm, annoyed, furious = (score_emotion(text, config.triage) for text in (CALM, ANNOYED, FURIOUS))

    assert 0.1 <= calm <= 0.2
    assert calm < annoyed < furious
    assert furious >= 0.8


@pytest.mark.parametrize(
    "text", ["fucking useless company", "WHY HAS NOBODY CALLED ME BACK", "you people are a disgrace!!!"]
)
def test_swearing_shouting_and_exclamations_raise_emotion(config: DomainConfig, text: str) -> None:
    assert score_emotion(text, config.triage) > score_emotion(CALM, config.triage)


def test_a_furious_customer_reaches_the_top_emotion_band(config: DomainConfig) -> None:
    top_band = dict(config.triage.priority_matrix.bands)["furious"]

    assert score_emotion(FURIOUS, config.triage) >= top_band
    assert score_emotion("I am absolutely livid, third time this month!!!", config.triage) >= top_band


@pytest.mark.parametrize(
    ("negated", "plain"),
    [("not bad", "bad"), ("I'm not angry, just asking", "I'm angry"), ("no problem at all", "a big problem")],
)
def test_negation_lowers_emotion(config: DomainConfig, negated: str, plain: str) -> None:
    assert score_emotion(negated, config.triage) < score_emotion(plain, config.triage)


def test_shouting_without_emotional_words_still_counts(config: DomainConfig) -> None:
    shouted = score_emotion("WHY HAS NOBODY CALLED ME BACK", config.triage)

    assert shouted > score_emotion("why has nobody called me back", config.triage)
    assert shouted >= config.triage.emotion_policy.neutral_below


def test_scores_stay_within_bounds(config: DomainConfig) -> None:
    text = "FURIOUS FURIOUS FURIOUS!!!!!!!! absolutely fucking disgusting worst ever " * 5
    assert 0.0 <= score_emotion(text, config.triage) <= 1.0
    assert score_emotion("", config.triage) == config.triage.emotion_policy.baseline


@pytest.mark.parametrize(
    ("text", "mood"),
    [
        (CALM, "neutral"),
        (FURIOUS, "angry"),
        ("I'm really worried, someone has logged into my account", "worried"),
    ],
)
def test_mood(config: DomainConfig, text: str, mood: str) -> None:
    assert mood_for(text, score_emotion(text, config.triage), config.triage) == mood


def test_conversation_emotion_leans_on_peak_and_latest() -> None:
    calmed_down = conversation_emotion([0.9, 0.2, 0.2])
    steady = conversation_emotion([0.2, 0.2, 0.2])

    assert steady == pytest.approx(0.2)
    assert calmed_down > sum([0.9, 0.2, 0.2]) / 3
    assert conversation_emotion([0.2, 0.2, 0.9]) > calmed_down
    assert conversation_emotion([]) == 0.0


def test_confident_complaint_intent_decides_the_category(config: DomainConfig) -> None:
    guess = categorize("complain_billing", 0.92, "my parcel never arrived", config.triage)

    assert (guess.category, guess.confidence) == ("billing", 0.92)


@pytest.mark.parametrize(
    ("intent", "confidence", "text", "category"),
    [
        ("nlu_fallback", 0.3, "my parcel never arrived, the courier lost it", "delivery"),
        (None, 0.0, "You charged my card twice for the same order", "billing"),
        ("complain_product", 0.2, "someone hacked my account and changed the password", "account"),
        ("inform", 0.9, "I returned a jacket and still haven't had my refund", "after_sales"),
        (None, 0.0, "I want to make a complaint", "other"),
    ],
)
def test_categorize_falls_back_to_keywords(
    config: DomainConfig, intent: str | None, confidence: float, text: str, category: str
) -> None:
    guess = categorize(intent, confidence, text, config.triage)

    assert guess.category == category
    assert 0.0 <= guess.confidence <= 1.0


def test_a_hesitant_intent_breaks_a_keyword_tie(config: DomainConfig) -> None:
    assert categorize("complain_delivery", 0.3, "it is broken and late", config.triage).category == "delivery"


@pytest.mark.parametrize(
    "text",
    [
        "the kettle caught fire and my hand got burnt",
        "my son ended up in hospital with food poisoning",
        "I got an electric shock from the plug",
        "my daughter had an allergic reaction",
    ],
)
def test_safety_words_make_a_complaint_critical_and_p1(config: DomainConfig, text: str) -> None:
    assessment = assess("product", 0.1, text, config.triage)

    assert assessment.severity == "critical"
    assert assessment.priority == "P1"


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("I will take this to the ombudsman", "high"),
        ("I think this is fraud, my card was used", "high"),
        ("the delivery was a day late", "low"),
    ],
)
def test_escalators_raise_severity(config: DomainConfig, text: str, severity: str) -> None:
    assert assess("delivery", 0.1, text, config.triage).severity == severity


@pytest.mark.parametrize(
    "text",
    [
        "we sat in the food court for an hour waiting for the order",
        "my feelings were hurt by how the cashier spoke to me",
        "I had to wait in the hospital car park for the courier",
        "the new Fire TV stick keeps freezing",
        "my card was disabled without warning",
        "my complaints fell on deaf ears",
    ],
)
def test_near_misses_do_not_escalate(config: DomainConfig, text: str) -> None:
    assert assess("service", 0.1, text, config.triage).severity == "low"


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("the heater caught fire in the kitchen", "critical"),
        ("I was hurt when the shelf collapsed", "critical"),
        ("he was taken to hospital after eating it", "critical"),
        ("I will see you in court", "high"),
        ("my husband is disabled and cannot collect it", "high"),
    ],
)
def test_real_escalations_still_escalate_next_to_near_misses(config: DomainConfig, text: str, severity: str) -> None:
    assert assess("service", 0.1, text, config.triage).severity == severity


def test_emotion_raises_priority_within_a_severity(config: DomainConfig) -> None:
    calm = assess("delivery", 0.1, "the parcel was late", config.triage)
    furious = assess("delivery", 0.9, "the parcel was late", config.triage)

    assert calm.severity == furious.severity == "low"
    assert furious.priority < calm.priority


def test_sla_deadlines_follow_the_stage_hours(config: DomainConfig) -> None:
    deadlines = sla_deadlines("P3", OPENED, config.sla)

    assert deadlines.classify_by == OPENED + timedelta(hours=2)
    assert deadlines.analyse_by == OPENED + timedelta(hours=6)
    assert deadlines.resolve_by == OPENED + timedelta(hours=16)
    assert deadlines.close_by == OPENED + timedelta(hours=24)


@pytest.mark.parametrize("stage", ["classify_by", "analyse_by", "resolve_by", "close_by"])
def test_p1_is_faster_than_p2_is_faster_than_p4(config: DomainConfig, stage: str) -> None:
    p1, p2, p4 = (getattr(sla_deadlines(p, OPENED, config.sla), stage) for p in ("P1", "P2", "P4"))

    assert p1 < p2 <= p4





def test_an_unknown_priority_is_refused(config: DomainConfig) -> None:
    with pytest.raises(ValueError, match="P9"):
        sla_deadlines("P9", OPENED, config.sla)


@pytest.mark.parametrize(
    ("intent", "text", "opens"),
    [
        ("complain_delivery", "late again", "delivery"),
        ("nlu_fallback", "so what happened last week with the thing I got from you is it just stopped", "other"),
        ("inform", "I can't log in, my account is locked", "account"),
        ("inform", "yes, Tuesday", None),
        ("greet", "hello there, how are you doing today my friend, all good here?", None),
    ],
)
def test_which_messages_open_a_complaint(config: DomainConfig, intent: str, text: str, opens: str | None) -> None:
    from bot.triage import complaint_category

    assert complaint_category(intent, 0.9, text, config.triage) == opens
