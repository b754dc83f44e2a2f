"""What a typed survey answer says: a rating from 1 to 5, or yes / no to "was it really solved?".

Customers who type rather than tap write "4 out of 5", "five", "it was ok, 3", "⭐⭐⭐⭐",
"no, it is still broken" or "yes thanks". These readers are deliberately strict: an
answer that could mean two things ("3 or 4", "yes but it broke again", "10/10") reads
as None, and the chat asks again, because a misread rating reopens or closes a ticket.

No library is installed that reads number words (word2number, text2num); the survey's
scale needs the words zero to ten, which :data:`NUMBER_WORDS` lists. Ticket numbers are
taken out before reading ("CX-7K3F9Q: 5" is a 5, not a 7), and a number that counts
something else ("3 weeks", "at 5", "order 88412") is not a rating.
"""

from __future__ import annotations

import re

from bot.ticket_numbers import TICKET_TOKEN

SCALE = range(1, 6)
NUMBER_WORDS = {
    "zero": 0, "nil": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}
STARS = frozenset("⭐★🌟")
"""Filled stars; a message of nothing but stars is rated by their count ("★★★★☆" is 4)."""
_STAR_PADDING = frozenset("☆\ufe0f \t")
_TOKEN = re.compile(r"-?\d+(?:[.,:]\d+)?|[a-z]+(?:'[a-z]+)?|[/#£$€%]")
_SCALE_MARKERS = (("out", "of"), ("of",), ("/",))
COUNTED_UNITS = frozenset({
    "second", "seconds", "minute", "minutes", "min", "mins", "hour", "hours", "hr", "hrs", "day", "days",
    "week", "weeks", "month", "months", "year", "years", "time", "times", "call", "calls", "email", "emails",
    "am", "pm", "pound", "pounds", "quid", "dollar", "dollars", "euro", "euros", "p", "percent", "%", "items",
    "item", "parcels", "parcel", "people", "engineers", "visits", "attempts",
})
"""Words after a number that make it a count, a time or an amount, not a rating."""
NOT_RATING_BEFORE = frozenset({"at", "till", "until", "by", "after", "before", "since", "order", "number", "#", "£", "$", "€", "ref"})
"""Words before a number that make it a time, a reference or an amount ("at 5", "order 88412")."""
PRONOUN_BEFORE = frozenset({"no", "the", "this", "that", "every", "any", "each", "another", "which", "some"})
"""Words before a number word that make it a pronoun ("no one called", "this one")."""

_NEGATED_CONTRACTION = re.compile(r"\b(is|was|has|have|had|did|does|do|are|were|could|would|should|ca|wo)n'?t\b")
YES_WORDS = frozenset({
    "yes", "yeah", "yep", "yup", "yea", "ya", "aye", "sure", "definitely", "absolutely", "certainly", "indeed",
    "solved", "sorted", "fixed", "resolved", "working", "works", "worked", "fine", "good", "great", "perfect",
    "excellent", "ok", "okay", "happy", "satisfied",
})
YES_PHRASES = (("it", "was"), ("it", "is"), ("it", "did"), ("it", "has"), ("think", "so"), ("of", "course"))
"""Affirmations of more than one word; "it was" counts only when nothing follows to deny it."""
NO_WORDS = frozenset({
    "no", "nope", "nah", "nay", "not", "never", "still", "broken", "unsolved", "unresolved", "again", "worse",
    "nothing", "faulty",
})
NEGATORS = frozenset({"not", "never", "nothing", "hardly"})
"""Words that deny a yes-word after them. A bare "no" is not one: "no, it works now" says both."""
NEGATION_REACH = 3
"""A yes-word this many words after a negator is denied ("not really solved")."""


def _without_tickets(text: str) -> str:
    return TICKET_TOKEN.sub(" ", text or "")


def _tokens(text: str) -> list[str]:
    normalised = _without_tickets(text).lower().replace("’", "'").replace("out of", " out of ")
    normalised = _NEGATED_CONTRACTION.sub(lambda match: f"{match.group(1)} not", normalised)
    return _TOKEN.findall(normalised)


def _number(token: str) -> float | None:
    if token in NUMBER_WORDS:
        return float(NUMBER_WORDS[token])
    if re.fullmatch(r"-?\d+", token):
        return float(token)
    if re.fullmatch(r"-?\d+[.,]\d+", token):
        return float(token.replace(",", "."))
    return None


def _is_scale(tokens: list[str], index: int) -> bool:
    """Whether the number at ``index`` is the scale ("out of 5", "/5", "of five")."""
    return any(tuple(tokens[max(index - len(marker), 0):index]) == marker for marker in _SCALE_MARKERS)


def _star_count(text: str) -> int | None:
    compact = _without_tickets(text).strip()
    if not compact or any(char not in STARS and char not in _STAR_PADDING for char in compact):
        return None
    stars = sum(char in STARS for char in compact)
    return stars or None


def _candidates(text: str) -> tuple[list[float], list[float]]:
    """The numbers that may be the rating, and the scales named ("out of 5")."""
    tokens = _tokens(text)
    ratings: list[float] = []
    scales: list[float] = []
    for index, token in enumerate(tokens):
        value = _number(token)
        if value is None or ":" in token:
            continue
        if _is_scale(tokens, index):
            scales.append(value)
            continue
        before = tokens[index - 1] if index else ""
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        if before in NOT_RATING_BEFORE or after in COUNTED_UNITS or (token in NUMBER_WORDS and before in PRONOUN_BEFORE):
            continue
        ratings.append(value)
    return ratings, scales


def mentions_rating(text: str) -> bool:
    """Whether the message gives one number as a rating would, in range or not ("4", "7", "five")."""
    if _star_count(text) is not None:
        return True
    ratings, scales = _candidates(text)
    return len(set(ratings)) == 1 and all(scale == max(SCALE) for scale in scales)


def parse_rating(text: str) -> int | None:
    """1-5 from "4", "4 out of 5", "five", "it was ok, 3", "⭐⭐⭐⭐"; None for "7", "0", "meh", "3 or 4", "8/10"."""
    stars = _star_count(text)
    if stars is not None:
        return stars if stars in SCALE else None
    if not mentions_rating(text):
        return None
    ratings, _ = _candidates(text)
    value = ratings[0]
    return int(value) if value.is_integer() and int(value) in SCALE else None


def _cues(tokens: list[str]) -> tuple[int, int]:
    """How many words say yes, and how many say no (a denied yes-word counts as a no)."""
    yes = no = 0
    index = 0
    while index < len(tokens):
        phrase = next((p for p in YES_PHRASES if tuple(tokens[index:index + len(p)]) == p), None)
        width = len(phrase) if phrase else 1
        is_yes = phrase is not None or tokens[index] in YES_WORDS
        denied = any(word in NEGATORS for word in tokens[max(index - NEGATION_REACH, 0):index])
        following = tokens[index + width] if index + width < len(tokens) else ""
        if following in NEGATORS or (phrase is not None and following in NO_WORDS):
            denied = True  # "absolutely not", "it was not", "it is still broken"
        if is_yes and not denied:
            yes += 1
        elif is_yes or tokens[index] in NO_WORDS:
            no += 1
        index += width
    return yes, no


def parse_solved(text: str) -> bool | None:
    """True for "yes thanks", "it's fixed now"; False for "no, it is still broken", "not really";
    None when it says neither, or both ("yes but it broke again")."""
    yes, no = _cues(_tokens(text))
    if yes and not no:
        return True
    if no and not yes:
        return False
    return None
