"""Intent groups the actions reason about, named once."""

from __future__ import annotations

COMPLAINT_PREFIX = "complain_"

INTERRUPTIONS = frozenset(
    {"bot_challenge", "greet", "goodbye", "thank", "out_of_scope", "ask_why", "ask_human", "stop", "ticket_status"}
)
"""Intents that ask something of the assistant instead of answering its question."""

INTERRUPTION_MIN_CONFIDENCE = 0.5
"""Below this the message is more likely an answer the classifier did not recognise."""

DISRUPTIVE_MIN_CONFIDENCE = {"stop": 0.85, "ask_human": 0.8}
"""Intents that end the intake need more certainty: mistaking an answer for them costs
the customer their place in the conversation."""

OFF_TOPIC_MIN_CONFIDENCE = {"out_of_scope": 0.75}
"""Short answers ("a security guard who saw it") look off-topic to the classifier more
often than real chit-chat does, so off-topic needs more certainty inside the form."""

ANSWERABLE_INTERRUPTIONS = frozenset({"greet", "goodbye", "thank", "out_of_scope"})
"""Intents a short answer is often mistaken for ("Harold Jennings" read as a greeting):
inside the form, such a message is tried as the answer to the question first."""

UNUSABLE_ANSWER_INTENTS = frozenset({"nlu_fallback", "inform", "correct", "affirm", "deny", "dont_know", "choose_option"})
"""Intents whose message, when the form can use none of it, is met with "Sorry, I didn't get
that" (data/rules.yml): a message the assistant did not understand."""

ANSWERED_BY = {"desired_outcome": frozenset({"ask_human"})}
"""Questions to which an "interrupting" intent is a fair answer ("have a manager call me")."""


def is_complaint(intent: str | None) -> bool:
    """Whether the intent is one of the complain_<category> intents."""
    return bool(intent) and intent.startswith(COMPLAINT_PREFIX)


def is_interruption(intent: str | None, confidence: float, requested_slot: str | None = None) -> bool:
    """Whether a message asks something of the assistant rather than answering the question."""
    if intent not in INTERRUPTIONS or intent in ANSWERED_BY.get(requested_slot or "", frozenset()):
        return False
    threshold = DISRUPTIVE_MIN_CONFIDENCE.get(intent) or OFF_TOPIC_MIN_CONFIDENCE.get(intent, INTERRUPTION_MIN_CONFIDENCE)
    return confidence >= threshold


def is_uncertain_disruption(intent: str | None, confidence: float, requested_slot: str | None = None) -> bool:
    """A probable but not certain wish to stop or to get a person: worth asking about."""
    if intent not in DISRUPTIVE_MIN_CONFIDENCE or intent in ANSWERED_BY.get(requested_slot or "", frozenset()):
        return False
    return INTERRUPTION_MIN_CONFIDENCE <= confidence < DISRUPTIVE_MIN_CONFIDENCE[intent]
