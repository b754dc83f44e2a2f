"""Triage: how upset the customer is, what the complaint is about, how urgent it is.

The rules are deliberately transparent (lexicon counts, a severity ladder, a priority
matrix from ``settings/triage.yml``) so an agent can see why a ticket got its priority
and an operator can change the policy without retraining a model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.domain_config import CATEGORIES, SEVERITIES, SlaConfig, TriageConfig
from bot.extraction import find_phrases, without_phrases

COMPLAINT_INTENT_PREFIX = "complain_"
DEFAULT_CATEGORY = "other"

PEAK_WEIGHT = 0.5
LATEST_WEIGHT = 0.3
MEAN_WEIGHT = 0.2

MAX_COUNTED_HITS = 3
"""Repeating a word shows emotion, but ten repeats should not outweigh everything else."""

SHOUTED_WORD_MIN_LETTERS = 3
SHOUTED_WORDS_FOR_FULL_CAPS = 6
EXCLAMATION_RUN_FOR_FULL = 3

_EXCLAMATIONS = re.compile(r"!+")
_LETTER_WORDS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class CategoryGuess:
    category: str
    confidence: float


@dataclass(frozen=True)
class Assessment:
    severity: str
    priority: str


@dataclass(frozen=True)
class SlaDeadlines:
    classify_by: datetime
    analyse_by: datetime
    resolve_by: datetime
    close_by: datetime


def _hits(text: str, phrases: tuple[str, ...]) -> int:
    return min(len(find_phrases(text, phrases)), MAX_COUNTED_HITS)


def _caps_evidence(text: str) -> float:
    """Shouting: the share of words in capitals, or a few shouted words in a long message."""
    words = [word for word in _LETTER_WORDS.findall(text) if len(word) >= SHOUTED_WORD_MIN_LETTERS]
    if not words:
        return 0.0
    shouted = sum(word.isupper() for word in words)
    return max(shouted / len(words), min(shouted, SHOUTED_WORDS_FOR_FULL_CAPS) / SHOUTED_WORDS_FOR_FULL_CAPS)


def _exclamation_evidence(text: str) -> float:
    runs = _EXCLAMATIONS.findall(text)
    return min(sum(min(len(run), EXCLAMATION_RUN_FOR_FULL) / EXCLAMATION_RUN_FOR_FULL for run in runs), 1.0)


@lru_cache(maxsize=1)
def _sentiment_analyzer() -> SentimentIntensityAnalyzer:
    """VADER's analyzer loads its lexicon once per process."""
    return SentimentIntensityAnalyzer()


def score_emotion(text: str, config: TriageConfig) -> float:
    """How emotional one message reads, 0 (calm) to 1 (furious or desperate).

    The strength comes from VADER, a sentiment model validated on short social-media
    text, which weighs negation ("not bad"), capitals on emotional words, "!!!" and
    boosters. A message that shouts without any emotional word gets VADER's zero, so
    capitals and exclamation marks alone still count, up to ``emotion.shouting``.
    """
    policy = config.emotion_policy
    negativity = max(0.0, -_sentiment_analyzer().polarity_scores(text)["compound"])
    shouting = policy.shouting * min(1.0, _caps_evidence(text) + _exclamation_evidence(text) / 2)
    strength = 1.0 - (1.0 - negativity) * (1.0 - shouting)
    return round(policy.baseline + (1.0 - policy.baseline) * strength, 3)


def mood_for(text: str, score: float, config: TriageConfig) -> str:
    """``angry``, ``worried`` or ``neutral``: which empathy the reply should open with.

    Worry wins only when it outweighs anger, because reassuring an angry customer reads
    as not listening; strong words and swearing count double.
    """
    if score < config.emotion_policy.neutral_below:
        return "neutral"
    lexicon = config.emotion
    anger = 2 * _hits(text, lexicon.anger_strong) + _hits(text, lexicon.anger_mild) + 2 * _hits(text, lexicon.profanity)
    worry = 2 * _hits(text, lexicon.worry)
    return "worried" if worry > anger else "angry"


def conversation_emotion(scores: list[float]) -> float:
    """One emotion score for a whole conversation.

    The peak weighs most because one outburst tells how the customer experienced the
    problem even if they calmed down; the latest message says how they feel now; the
    mean keeps a single stray word from deciding alone.
    """
    if not scores:
        return 0.0
    combined = PEAK_WEIGHT * max(scores) + LATEST_WEIGHT * scores[-1] + MEAN_WEIGHT * (sum(scores) / len(scores))
    return round(min(max(combined, 0.0), 1.0), 3)


def intent_category(intent: str | None) -> str | None:
    """The category a ``complain_<category>`` intent names, or None for any other intent."""
    if not intent or not intent.startswith(COMPLAINT_INTENT_PREFIX):
        return None
    category = intent[len(COMPLAINT_INTENT_PREFIX):]
    return category if category in CATEGORIES else None


def categorize(intent: str | None, intent_confidence: float, text: str, config: TriageConfig) -> CategoryGuess:
    """The complaint's category: a confident ``complain_<category>`` intent, else keywords.

    A hesitant intent still counts as one weak vote among the keywords, so the
    classifier's hint is not thrown away when the words are ambiguous.
    """
    named = intent_category(intent)
    if named and intent_confidence >= config.category_intent_min_confidence:
        return CategoryGuess(named, round(intent_confidence, 3))
    scores = {
        category: float(sum(len(match.group().split()) for match in find_phrases(text, phrases)))
        for category, phrases in config.category_keywords.items()
        if category != DEFAULT_CATEGORY
    }
    if named and named != DEFAULT_CATEGORY:
        scores[named] = scores.get(named, 0.0) + intent_confidence
    best = max(scores.values(), default=0.0)
    leaders = [category for category, score in scores.items() if score == best]
    if best <= 0 or len(leaders) > 1:
        confidence = intent_confidence if named == DEFAULT_CATEGORY else 0.0
        return CategoryGuess(DEFAULT_CATEGORY, round(confidence, 3))
    share = best / sum(scores.values())
    return CategoryGuess(leaders[0], round(share * (1.0 - math.exp(-best)), 3))


NARRATIVE_MIN_WORDS = 10
"""A message this long that the classifier could not place is most likely a complaint."""

UNPLACED_INTENTS = frozenset({"nlu_fallback", "inform", "correct", "dont_know", "choose_option"})
"""Intents that, outside a complaint, mean the classifier found no request in the message."""


def complaint_category(intent: str | None, intent_confidence: float, text: str, config: TriageConfig) -> str | None:
    """The category of complaint a message opens, or None when it opens none.

    A ``complain_*`` intent opens one; so does a message the classifier could not
    place when it is long or names a category's keywords, so that an upset customer who
    writes a paragraph is listened to rather than asked to rephrase. One rule for the
    chat and for the NLU evaluation.
    """
    if intent_category(intent):
        return categorize(intent, intent_confidence, text, config).category
    if intent is not None and intent not in UNPLACED_INTENTS:
        return None
    guess = categorize(None, 0.0, text, config)
    if guess.category != DEFAULT_CATEGORY or len(text.split()) >= NARRATIVE_MIN_WORDS:
        return guess.category
    return None


def _more_severe(first: str, second: str) -> str:
    return max(first, second, key=SEVERITIES.index)


def assess(category: str, emotion: float, text: str, config: TriageConfig) -> Assessment:
    """Severity from the category and safety/legal/fraud/vulnerability cues; priority adds emotion.

    "Food court" or "my feelings were hurt" must not make a complaint critical, so the
    near-miss phrases of ``not_escalating`` are removed before the escalators are read.
    """
    severity = config.category_base_severity.get(category, SEVERITIES[0])
    cues = without_phrases(text, config.not_escalating)
    for group, phrases in config.escalators.items():
        if find_phrases(cues, phrases):
            severity = _more_severe(severity, config.escalator_severity[group])
    return Assessment(severity=severity, priority=config.priority_matrix.priority(severity, emotion))


def sla_deadlines(priority: str, opened_at: datetime, sla: SlaConfig) -> SlaDeadlines:
    """When each handling stage of a ticket opened at ``opened_at`` is due."""
    stages = sla.stage_hours(priority)
    return SlaDeadlines(
        classify_by=opened_at + timedelta(hours=stages.classify),
        analyse_by=opened_at + timedelta(hours=stages.analyse),
        resolve_by=opened_at + timedelta(hours=stages.resolve),
        close_by=opened_at + timedelta(hours=stages.total),
    )
