"""Resolve: which remedies to offer, and which one the customer picked.

Offering the remedy the customer already asked for first shows we listened, whatever
the category the complaint fell into; a call back and a person are always among the
options, because some customers want one whatever we offer.
"""

from __future__ import annotations

import re

from bot.domain_config import HUMAN_AGENT, ChoiceWords, OptionCatalogue
from bot.extraction import find_phrases, lexicon_key, phrase_pattern

NO_WISH = frozenset({"other"})
_EDGES = " \t\r\n.,;:!?\"'()"


def _option_for_wish(outcome_kind: str, preferred: tuple[str, ...], catalogue: OptionCatalogue) -> str | None:
    """The option that grants the wish: from the category's own list first, then any option."""
    candidates = list(preferred) + [option_id for option_id in catalogue.options if option_id not in preferred]
    for option_id in candidates:
        if outcome_kind in catalogue.options[option_id].outcome_kinds:
            return option_id
    return None


def offer_options(
    category: str, outcome_kind: str | None, catalogue: OptionCatalogue, wish: str | None = None
) -> list[str]:
    """Option ids to offer, the customer's own wish first and ``human_agent`` last.

    ``wish`` is the customer's words for what they want: an option they name ("send an
    engineer") comes first; otherwise the option granting ``outcome_kind``. The catalogue
    guarantees every category lists at least ``minimum_options`` options ending with
    ``human_agent`` (checked when it is loaded), so the offer is never short.
    """
    preferred = catalogue.for_category(category)
    wished = named_option(wish or "", catalogue, preferred) if wish else None
    if wished is None and outcome_kind and outcome_kind not in NO_WISH:
        wished = _option_for_wish(outcome_kind, preferred, catalogue)
    offered = [wished] if wished else []
    offered += [option_id for option_id in preferred if option_id not in offered and option_id != HUMAN_AGENT]
    return offered + [HUMAN_AGENT]


def _number(word: str, words: ChoiceWords) -> int | None:
    if word.isdigit():
        return int(word)
    return words.numbers.get(word)


def _position(text: str, words: ChoiceWords) -> int | None:
    """The list position a customer names: "2", "option 2", "#2", "number two", "the second one", "2nd"."""
    number_words = "|".join(map(re.escape, sorted(words.numbers, key=len, reverse=True)))
    number = rf"(\d{{1,2}}|{number_words})" if number_words else r"(\d{1,2})"
    politeness = phrase_pattern(words.politeness)
    bare = politeness.sub(" ", text) if politeness else text
    bare = " ".join(bare.split()).strip(_EDGES)
    if re.fullmatch(number, bare):
        return _number(bare, words)
    cues = phrase_pattern(words.cues)
    cue_pattern = rf"(?:(?:{cues.pattern})\s*\.?\s*#?|#)\s*{number}\b" if cues else rf"#\s*{number}\b"
    cued = re.search(cue_pattern, text, re.IGNORECASE)
    if cued:
        return _number(cued.group(1).lower(), words)
    suffixes = "|".join(map(re.escape, words.ordinal_suffixes))
    if suffixes:
        numbered = re.search(rf"\b(\d{{1,2}})(?:{suffixes})\b", text, re.IGNORECASE)
        if numbered:
            return int(numbered.group(1))
    ordinal = phrase_pattern(tuple(words.ordinals))
    if ordinal:
        before = phrase_pattern(words.determiners)
        after = phrase_pattern(words.ordinal_nouns)
        for match in ordinal.finditer(text):
            introduced = before and re.search(rf"(?:{before.pattern})\s+$", text[: match.start()], re.IGNORECASE)
            followed = after and re.match(rf"\s+(?:{after.pattern})", text[match.end():], re.IGNORECASE)
            if introduced or followed or bare.lower() == match.group().lower():
                return words.ordinals[lexicon_key(match.group())]
    return None


def _by_keywords(text: str, offered: list[str] | tuple[str, ...], catalogue: OptionCatalogue) -> str | None:
    """The offered option whose keywords cover most words of the answer; a tie is no answer."""
    scores = {
        option_id: sum(len(match.group().split()) for match in find_phrases(text, option.keywords))
        for option_id in offered
        if (option := catalogue.options.get(option_id))
    }
    best = max(scores.values(), default=0)
    leaders = [option_id for option_id, score in scores.items() if score == best]
    return leaders[0] if best > 0 and len(leaders) == 1 else None


def named_option(text: str, catalogue: OptionCatalogue, preferred: tuple[str, ...] = ()) -> str | None:
    """The one option of the whole catalogue an answer names ("replacement, please"), the
    category's own options first; a person is asked for as an option only when offered."""
    candidates = list(preferred) + [option_id for option_id in catalogue.options if option_id not in preferred]
    return _by_keywords(text, [option_id for option_id in candidates if option_id != HUMAN_AGENT], catalogue)


def turns_down(text: str, catalogue: OptionCatalogue) -> bool:
    """Whether the answer opens by turning every option down ("none of those, I want ...")."""
    pattern = phrase_pattern(catalogue.choice_words.rejections)
    return bool(pattern and pattern.match((text or "").strip(_EDGES)))


def wish_after_refusal(text: str, catalogue: OptionCatalogue) -> str:
    """The wish in an answer that turns the options down: "none of those, I want an
    engineer" wishes "I want an engineer"; the whole answer when nothing follows."""
    stripped = " ".join((text or "").split()).strip(_EDGES)
    pattern = phrase_pattern(catalogue.choice_words.rejections)
    match = pattern.match(stripped) if pattern else None
    rest = stripped[match.end():].strip(_EDGES) if match else stripped
    return rest or stripped


def match_option(text: str, offered: list[str], catalogue: OptionCatalogue) -> str | None:
    """Which offered option the answer picks: its id, its position, or its keywords; else None."""
    text = (text or "").strip()
    if not text or not offered:
        return None
    if text.strip(_EDGES).lower() in offered:
        return text.strip(_EDGES).lower()
    position = _position(text.lower(), catalogue.choice_words)
    if position is not None:
        index = len(offered) if position == -1 else position
        return offered[index - 1] if 1 <= index <= len(offered) else None
    return _by_keywords(text, offered, catalogue)
