"""Where it happened, in Chinese: a shop, branch or service point, or a city.

Chinese writes no space around a name, so a place is read backwards from the word that
ends it (店, 网点, 营业厅 ...) to the word that starts it: a city ("北京朝阳门店"), else the
word after a cue such as 在 or 的 ("在徐家汇网点"), else the start of the clause. A name
that is only a pointer ("这家店", "你们店") is no place. Without a venue, a city after a
cue ("在北京买的") is the place.
"""

from __future__ import annotations

import functools

import regex

from bot.extraction_zh.lexicon import ChineseLexicon

MAX_NAME_CHARS = 6
"""Characters before the venue word kept when no city or cue starts the name."""
_CLAUSE = regex.compile(r"[^，。！？；、,.!?;\s]+")


@functools.lru_cache(maxsize=8)
def _alternation(words: tuple[str, ...]) -> regex.Pattern[str]:
    return regex.compile("|".join(map(regex.escape, words)))


def _venue(clause: str, lexicon: ChineseLexicon) -> str | None:
    """The first named venue in one clause."""
    cities = _alternation(lexicon.cities)
    for suffix in _alternation(lexicon.venue_suffixes).finditer(clause):
        before = clause[: suffix.start()]
        cues = list(_alternation(lexicon.place_cues).finditer(before))
        start = cues[-1].end() if cues else 0
        city = cities.search(before, start)
        if city:
            start = city.start()
        elif suffix.start() - start > MAX_NAME_CHARS:
            start = suffix.start() - MAX_NAME_CHARS
        name = clause[start : suffix.end()]
        if suffix.start() - start >= 2 and not _alternation(lexicon.not_place_words).match(name):
            return name
    return None


def find_place(text: str, lexicon: ChineseLexicon) -> str | None:
    """The place named in ``text``: a venue with its name, else a city after a cue."""
    clauses = _CLAUSE.findall(text or "")
    for clause in clauses:
        venue = _venue(clause, lexicon)
        if venue:
            return venue
    cues = "|".join(map(regex.escape, lexicon.place_cues))
    cities = "|".join(map(regex.escape, lexicon.cities))
    city = regex.search(rf"(?:{cues})({cities})", text or "")
    return city.group(1) if city else None
