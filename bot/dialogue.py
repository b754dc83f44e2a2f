"""Which question to ask next, and what to do when an answer cannot be used.

A complaints officer asks for related details together ("your name, and a number or
email we can reach you on?") and never asks the same thing a third time: after the last
unusable answer they write down what the customer said, or bring in a colleague. The
policy (groups, how often, what then) is ``settings/dialogue.yml``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from bot.domain_config import DialoguePolicy

KEEP_WORDS = "keep_words"
OFFER_PERSON = "offer_person"
FILE_AS_IS = "file_as_is"


def question_slots(requested: str, missing: Collection[str], policy: DialoguePolicy) -> tuple[str, ...]:
    """The details one question asks for: ``requested`` and, when its group has a question
    for them, the other details of its group that are still missing, in the group's order."""
    for group in policy.groups:
        if requested not in group:
            continue
        wanted = tuple(slot for slot in group if slot == requested or slot in missing)
        wanted = tuple(
            slot for slot in wanted if slot not in policy.only_with or policy.only_with[slot] in wanted
        )
        if requested in wanted and len(wanted) > 1 and wanted in policy.questions:
            return wanted
    return (requested,)


def question_response(slots: tuple[str, ...], policy: DialoguePolicy) -> str:
    """The response that asks for ``slots``."""
    return policy.questions.get(slots) or f"utter_ask_{slots[0]}"


def not_worth_asking(filled: Mapping[str, object], policy: DialoguePolicy) -> frozenset[str]:
    """Details asked only together with another one that is already known: a customer who
    has said how it affected them is not asked separately who else was involved."""
    return frozenset(
        slot for slot, partner in policy.only_with.items()
        if filled.get(partner) is not None and filled.get(slot) is None
    )


def counted(counts: Mapping[str, int], slots: Collection[str]) -> dict[str, int]:
    """``counts`` with one more ask for each of ``slots``."""
    updated = dict(counts)
    for slot in slots:
        updated[slot] = updated.get(slot, 0) + 1
    return updated


def is_last_ask(counts: Mapping[str, int], slot: str, policy: DialoguePolicy) -> bool:
    """Whether the question for ``slot`` has been asked as often as it may be."""
    return counts.get(slot, 0) >= policy.max_asks


def after_last_miss(slot: str, policy: DialoguePolicy) -> str:
    """What to do when the last allowed answer for ``slot`` could not be used."""
    return policy.after_last_miss.get(slot, KEEP_WORDS)
