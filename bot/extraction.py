"""Find complaint details (5W1H) in anything the customer writes.

Customers tell their story in their own order, so every message is read for every slot;
the slot the assistant just asked for may also take the plain answer. Patterns are built
from the lexicons in ``settings/triage.yml`` so another language is a data change.
Values are normalised (ISO dates, E.164 phones, upper-case references); what cannot be
accepted comes back as a problem code the dialogue turns into a response.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import phonenumbers
from dateparser import parse as parse_date
from dateparser.search import search_dates

from bot.domain_config import DateLexicon, DialoguePolicy, ExtractionLexicon, TriageConfig
from bot.ticket_numbers import TICKET_TOKEN

logger = logging.getLogger(__name__)

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_EMAIL_LIKE = re.compile(r"\S+@\S*")
_PHONE_LIKE = re.compile(r"(?<![\w/])\+?\(?\d[\d\s().-]{5,}\d(?![\w/])")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_DIGITS_GIVEN = re.compile(r"\+\s?\d|\d{3,}")
"""In an answer to "what is your number?", a short run of digits is a mistyped phone."""
_NUMERIC_DATE = re.compile(r"\b\d{1,4}[/-]\d{1,2}(?:[/-]\d{2,4})?\b")
_HASH_REF = re.compile(r"(?<![\w#])#\s?([A-Za-z0-9][A-Za-z0-9-]*)")
_FORMATTED_REF = re.compile(r"(?<![\w/-])[A-Za-z]{1,5}-\d{3,}(?:-\d{2,})*(?![\w/-])")
"""A reference in a shop's own format, letters then digits ("GR-88210457", "INV-7781-0903"),
recognised anywhere without a label."""
_CLAUSE = re.compile(r"[^,;\n]+")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/-]*[A-Za-z0-9]|[A-Za-z0-9]")
_WORD = re.compile(r"[\w'’&-]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE_END = re.compile(r"[,.;:!?()\n]")
_EDGE_PUNCTUATION = " \t\r\n.,;:!?\"'“”‘’()[]"

MIN_REF_LENGTH = 3
PHONE_MIN_DIGITS = 7
MAX_NAME_WORDS = 4
MAX_PRODUCT_WORDS = 4
MAX_SHORT_ANSWER_WORDS = 6

SLOT_NONE = "none"
SLOT_UNKNOWN = "unknown"
NEGATIVE_MEANS_NONE = frozenset({"people_involved", "contact"})
ANSWER_ONLY_SLOTS = frozenset({"problem_description"})


@dataclass(frozen=True)
class Extraction:
    """Slot values found in one message, and the problems that stop a value being accepted."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=512)
def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for a lexicon, longest phrase first, on whole words.

    Word boundaries only make sense for scripts that separate words by spaces, so a
    phrase in such a script (e.g. Chinese) is matched anywhere. An apostrophe is
    optional so that "dont" matches "don't".
    """
    parts = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        body = r"\s+".join(re.escape(word) for word in phrase.split())
        body = body.replace("'", "['’]?")
        if phrase.isascii():
            body = (r"(?<!\w)" if phrase[0].isalnum() else "") + body + (r"(?!\w)" if phrase[-1].isalnum() else "")
        parts.append(body)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def lexicon_key(phrase: str) -> str:
    """The form under which a matched phrase is looked up: lower-case, single spaces, no apostrophes."""
    return " ".join(phrase.lower().replace("'", "").replace("’", "").split())


def find_phrases(text: str, phrases: Iterable[str]) -> list[re.Match[str]]:
    """All non-overlapping lexicon matches in ``text``."""
    pattern = phrase_pattern(tuple(phrases))
    return list(pattern.finditer(text)) if pattern else []


def without_phrases(text: str, phrases: Iterable[str]) -> str:
    """``text`` with every lexicon match blanked out, so a longer phrase that merely contains
    a cue word ("cashier's check", "food court") cannot be read as that cue."""
    return _mask(text, (match.span() for match in find_phrases(text, phrases)))


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Blank out spans already claimed (references, phones, emails) so no other slot reads them."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _clean(text: str, fillers: Iterable[str] = ()) -> str | None:
    """The core of an answer: without leading filler words and edge punctuation."""
    value = text.strip(_EDGE_PUNCTUATION)
    pattern = phrase_pattern(tuple(fillers))
    while pattern:
        match = pattern.match(value)
        if not match or match.end() == 0:
            break
        value = value[match.end():].strip(_EDGE_PUNCTUATION)
    value = " ".join(value.split())
    return value if any(ch.isalnum() for ch in value) else None


def _opens_with(text: str, phrases: Iterable[str]) -> bool:
    pattern = phrase_pattern(tuple(phrases))
    return bool(pattern and pattern.match(text.lstrip(_EDGE_PUNCTUATION)))


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


# --- references, contact -------------------------------------------------------------


def _looks_like_phone(token: str, region: str) -> bool:
    digits = sum(ch.isdigit() for ch in token)
    if digits < PHONE_MIN_DIGITS or not re.fullmatch(r"\+?[\d\s().-]+", token):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(token, region))
    except phonenumbers.NumberParseException:
        return False


def _reference(token: str) -> str | None:
    value = re.sub(r"\s+", "", token).strip("-/.").upper()
    if len(value) < MIN_REF_LENGTH or not any(ch.isdigit() for ch in value) or TICKET_TOKEN.fullmatch(value):
        return None
    return value


@functools.lru_cache(maxsize=32)
def _labelled_ref_pattern(labels: tuple[str, ...]) -> re.Pattern[str] | None:
    label = phrase_pattern(labels)
    if label is None:
        return None
    return re.compile(
        rf"(?:{label.pattern})[\s.:#]*(?:[A-Za-z]{{1,3}}\s+)?[\s.:#]*([A-Za-z0-9][A-Za-z0-9/-]*)",
        re.IGNORECASE,
    )


def _order_ref(
    text: str, labels: tuple[str, ...], region: str
) -> tuple[str, tuple[int, int]] | None:
    """A labelled ("order 88412", "card ending 4471"), hashed ("#88412") or formatted
    ("GR-88210457") reference: the first one in the text."""
    candidates: list[tuple[int, str, tuple[int, int]]] = []
    for match in _FORMATTED_REF.finditer(text):
        value = _reference(match.group())
        if value:
            candidates.append((match.start(), value, match.span()))
    pattern = _labelled_ref_pattern(labels)
    position = 0
    while pattern and (match := pattern.search(text, position)):
        value = _reference(match.group(1))
        if value:
            candidates.append((match.start(), value, match.span()))
        position = match.start() + 1
    for match in _HASH_REF.finditer(text):
        value = _reference(match.group(1))
        if value and not _looks_like_phone(match.group(1), region):
            candidates.append((match.start(), value, match.span()))
    if not candidates:
        return None
    _, value, span = min(candidates)
    return value, span


def _is_valid_phone(token: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(token, region))
    except phonenumbers.NumberParseException:
        return False


def _bare_ref(text: str, region: str) -> str | None:
    """The answer to "what is your order number?": the first token with a digit that is no
    real phone number (a reference may look like one: "88210457", "0047-221-983")."""
    for match in _TOKEN.finditer(text):
        value = _reference(match.group())
        if value and not (_looks_like_phone(match.group(), region) and _is_valid_phone(match.group(), region)):
            return value
    return None


def _emails(text: str) -> list[re.Match[str]]:
    return list(_EMAIL.finditer(text))


def _phones(text: str, region: str) -> list[tuple[int, int, str | None]]:
    """Phone-number candidates with their spans, as E.164 when valid and None when not.

    Candidates are found leniently so that an invalid number is reported rather than
    silently ignored.
    """
    found: list[tuple[int, int, str | None]] = []
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
        if sum(ch.isdigit() for ch in match.raw_string) < PHONE_MIN_DIGITS:
            continue
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        valid = phonenumbers.is_valid_number(match.number)
        found.append((match.start, match.end, e164 if valid else None))
    return found


def _phone_like(text: str) -> bool:
    return any(
        sum(ch.isdigit() for ch in match.group()) >= PHONE_MIN_DIGITS and not _ISO_DATE.fullmatch(match.group().strip())
        for match in _PHONE_LIKE.finditer(text)
    )


# --- dates ---------------------------------------------------------------------------


def _latest_day_of_month(day: int, today: date) -> date | None:
    """The most recent date on or before ``today`` that falls on day-of-month ``day``."""
    candidate = today.replace(day=1)
    for _ in range(13):
        try:
            resolved = candidate.replace(day=day)
        except ValueError:
            resolved = None
        if resolved and resolved <= today:
            return resolved
        candidate = (candidate - timedelta(days=1)).replace(day=1)
    return None


def _ordinal_pattern(lexicon: DateLexicon, *, with_cue: bool) -> re.Pattern[str]:
    suffixes = "|".join(map(re.escape, lexicon.ordinal_suffixes)) or r"(?!)"
    cue = phrase_pattern(lexicon.day_cues) if with_cue else None
    prefix = rf"(?:(?:{cue.pattern})\s+)+" if cue else ""
    return re.compile(rf"{prefix}(\d{{1,2}})(?:{suffixes})\b", re.IGNORECASE)


def _date_kind(phrase: str, lexicon: DateLexicon, *, bare_ordinal: bool) -> str | None:
    """Why a dateparser match is a date ("relative", "weekday", "full", "day"), or None.

    dateparser also reads "may", "second", "now", prices and durations as dates; a match
    counts only with a day word, a month beside a number, a numeric date, or an ordinal
    day introduced by a cue ("on the 3rd").
    """
    words = set(_words(phrase))
    has_digit = any(ch.isdigit() for ch in phrase)
    if find_phrases(phrase, lexicon.relative):
        return "relative"
    if words & set(lexicon.weekdays):
        return "weekday"
    if has_digit and words & set(lexicon.months) or _NUMERIC_DATE.search(phrase):
        return "full"
    if _ordinal_pattern(lexicon, with_cue=not bare_ordinal).search(phrase):
        return "day"
    return None


def _resolve_day(phrase: str, kind: str, found: date, today: date, lexicon: DateLexicon) -> date | None:
    """Put dates the customer left open (day of month, weekday) in the past, as they mean."""
    if kind == "day":
        ordinal = _ordinal_pattern(lexicon, with_cue=False).search(phrase)
        return _latest_day_of_month(int(ordinal.group(1)), today) if ordinal else None
    if kind == "weekday" and found > today:
        return found - timedelta(days=7)
    return found


@functools.lru_cache(maxsize=8)
def _month_day_pattern(months: tuple[str, ...], suffixes: tuple[str, ...]) -> re.Pattern[str]:
    month = "|".join(map(re.escape, sorted(months, key=len, reverse=True))) or r"(?!)"
    suffix = "|".join(map(re.escape, suffixes))
    day = rf"\d{{1,2}}(?:{suffix})?" if suffix else r"\d{1,2}"
    year = r"(?:,?\s+\d{4})?"
    return re.compile(
        rf"(?<!\w)(?:{day}\s+(?:of\s+)?(?:{month})|(?:{month})\s+{day})(?!\w){year}", re.IGNORECASE
    )


def _month_day(text: str, settings: dict, lexicon: DateLexicon, languages: list[str]) -> tuple[date, str] | None:
    """A day and month inside a phrase dateparser cannot read whole ("all 8 on march 1")."""
    for match in _month_day_pattern(lexicon.months, lexicon.ordinal_suffixes).finditer(text):
        moment = parse_date(match.group(), languages=languages, settings=settings)
        if moment:
            return moment.date(), match.group()
    return None


def _began_ago(text: str, today: date, policy: DialoguePolicy | None) -> tuple[date, str] | None:
    """When a problem that has lasted a while began: "down for three days" is three days ago."""
    if policy is None or not policy.duration_units:
        return None
    cue = phrase_pattern(policy.duration_cues)
    amount = phrase_pattern(tuple(policy.duration_numbers))
    unit = phrase_pattern(tuple(policy.duration_units))
    if not (cue and unit):
        return None
    number = rf"\d{{1,3}}|{amount.pattern}" if amount else r"\d{1,3}"
    match = re.search(rf"(?:{cue.pattern})\s+({number})\s+({unit.pattern})", text, re.IGNORECASE)
    if not match:
        return None
    count = match.group(1)
    days = int(count) if count.isdigit() else policy.duration_numbers[lexicon_key(count)]
    return today - timedelta(days=days * policy.duration_units[lexicon_key(match.group(2))]), match.group()


def _incident_date(
    text: str,
    now: datetime,
    lexicon: DateLexicon,
    languages: list[str],
    *,
    requested: bool,
    policy: DialoguePolicy | None = None,
) -> tuple[date, str] | None:
    """The incident date and the words that gave it.

    dateparser misses a date among other details ("last week, the Leicester store"), so
    an answer to the date question is also read part by part."""
    today = now.date()
    offsets = find_phrases(text, lexicon.day_offsets)
    if offsets:
        days = {lexicon_key(phrase): offset for phrase, offset in lexicon.day_offsets.items()}
        return today - timedelta(days=days[lexicon_key(offsets[0].group())]), offsets[0].group()
    settings = {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "first",
        "DATE_ORDER": lexicon.date_order,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    parts = [text] + (_CLAUSE.findall(text) if requested and "," in text else [])
    matches: list[tuple[str, datetime]] = []
    for part in parts:
        try:
            matches = search_dates(part, languages=languages, settings=settings) or []
        except (ValueError, OverflowError):
            logger.warning("dateparser failed on a message", exc_info=True)
            return None
        if matches:
            break
    for phrase, moment in matches:
        kind = _date_kind(phrase, lexicon, bare_ordinal=requested)
        if kind:
            resolved = _resolve_day(phrase, kind, moment.date(), today, lexicon)
            if resolved:
                return resolved, phrase
    return _month_day(text, settings, lexicon, languages) or _began_ago(text, today, policy)


# --- who, what, where ----------------------------------------------------------------


def _name_from_narrative(text: str, lexicon: ExtractionLexicon) -> str | None:
    cue = phrase_pattern(lexicon.narrative_name_cues)
    if cue is None:
        return None
    pattern = re.compile(rf"(?:{cue.pattern})\s+((?:[A-Z][a-z'’-]+)(?:\s+[A-Z][a-z'’-]+){{0,2}})")
    for match in pattern.finditer(text):
        words = match.group(1).split()
        while words and words[-1].lower() in lexicon.not_names:
            words.pop()
        if words and words[0].lower() not in lexicon.not_names:
            return " ".join(words)
    return None


def _name_from_answer(text: str, lexicon: ExtractionLexicon) -> str | None:
    clauses = [clause for clause in _CLAUSE_END.split(text) if any(ch.isalnum() for ch in clause)]
    value = _clean(clauses[0], lexicon.name_cues + lexicon.answer_fillers) if clauses else None
    if not value or any(ch.isdigit() for ch in value) or len(value.split()) > MAX_NAME_WORDS:
        return None
    if set(_words(value)) & set(lexicon.not_names):
        return None
    return value.title() if value.islower() else value


def _product_phrase(text: str, lexicon: ExtractionLexicon) -> str | None:
    """The product named at the start of ``text``, without determiners, up to a stop word."""
    clause = _CLAUSE_END.split(text, maxsplit=1)[0]
    value = _clean(clause, lexicon.determiners)
    if not value:
        return None
    words: list[str] = []
    for word in value.split()[:MAX_PRODUCT_WORDS]:
        if word.lower() in lexicon.stop_words or any(ch.isdigit() for ch in word):
            break
        words.append(word)
    if not words or words[-1].lower() in lexicon.generic_nouns:
        return None
    return " ".join(words)


def _product_from_narrative(text: str, lexicon: ExtractionLexicon) -> str | None:
    verbs = phrase_pattern(lexicon.product_verbs)
    states = phrase_pattern(lexicon.product_states)
    candidates: list[tuple[int, str]] = []
    if verbs:
        for match in verbs.finditer(text):
            product = _product_phrase(text[match.end():], lexicon)
            if product:
                candidates.append((match.start(), product))
        object_first = re.compile(rf"(?i)\bthe\s+((?:[\w-]+\s+){{0,2}}?[\w-]+)\s+(?:i|we)\s+(?:{verbs.pattern})")
        candidates += [(m.start(), m.group(1)) for m in object_first.finditer(text)]
    if states:
        owned = re.compile(rf"(?i)\bmy\s+((?:[\w-]+\s+){{0,2}}?[\w-]+)\s+(?:{states.pattern})")
        candidates += [(m.start(), m.group(1)) for m in owned.finditer(text)]
    stop = set(lexicon.stop_words)
    for _, product in sorted(candidates):
        words = product.lower().split()
        if not stop & set(words) and words[-1] not in lexicon.generic_nouns:
            return product
    return None


def _location(text: str, config: TriageConfig) -> str | None:
    """A channel ("online", "app"), a named venue ("Leeds store") or a capitalised place."""
    lexicon = config.locations
    stop = set(config.extraction.stop_words) | set(config.extraction.determiners)
    candidates: list[tuple[int, str]] = []
    channels = {lexicon_key(phrase): value for phrase, value in lexicon.channels.items()}
    for match in find_phrases(text, lexicon.channels):
        candidates.append((match.start(), channels[lexicon_key(match.group())]))
    venue = phrase_pattern(lexicon.venue_nouns)
    if venue:
        named = re.compile(rf"(?i)\b(?:the|your|our|a)\s+((?:[A-Za-z][\w'&-]*\s+){{1,3}}?(?:{venue.pattern}))")
        for match in named.finditer(text):
            words = match.group(1).split()
            if not stop & {word.lower() for word in words[:-1]}:
                candidates.append((match.start(), match.group(1)))
    prepositions = phrase_pattern(lexicon.place_prepositions)
    if prepositions:
        place = re.compile(rf"(?:{prepositions.pattern})\s+([A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+){{0,2}})")
        not_places = set(config.dates.months) | set(config.dates.weekdays) | set(config.extraction.not_names)
        for match in place.finditer(text):
            if match.group(1).split()[0].lower() not in not_places:
                candidates.append((match.start(), match.group(1)))
    return min(candidates)[1] if candidates else None


def _people(text: str, config: TriageConfig) -> str | None:
    roles = phrase_pattern(config.people)
    if roles is None:
        return None
    determiners = phrase_pattern(config.extraction.determiners)
    prefix = rf"(?:(?:{determiners.pattern})\s+(?:[a-z]+\s+)?)?" if determiners else ""
    pattern = re.compile(rf"{prefix}(?:{roles.pattern})s?\b", re.IGNORECASE)
    stop = set(config.extraction.stop_words)
    found: dict[str, str] = {}
    for match in pattern.finditer(without_phrases(text, config.extraction.not_people)):
        words = match.group().split()
        if len(words) > 2 and words[1].lower() in stop:
            words = words[2:]
        phrase = " ".join(words)
        found.setdefault(phrase.lower(), phrase)
    return ", ".join(found.values()) or None


def _sentences(text: str) -> list[str]:
    return [sentence.strip() for sentence in _SENTENCE_END.split(text) if sentence.strip()]


def _impact(text: str, lexicon: ExtractionLexicon) -> str | None:
    cue = phrase_pattern(lexicon.impact_cues)
    for sentence in _sentences(text) if cue else ():
        match = cue.search(sentence)
        if match:
            return _clean(sentence[match.start():])
    return None


def _desired_outcome(text: str, config: TriageConfig, *, requested: bool) -> tuple[str, str] | None:
    """The sentence stating a wish and the kind of outcome it asks for.

    Outside an answer to the question, a remedy word counts only in a wish ("I want ...")
    or as an imperative opening the sentence, so "the replacement broke too" is no wish.
    """
    kinds = {lexicon_key(phrase): kind for kind, phrases in config.outcomes.items() for phrase in phrases}
    remedies = [p for phrases in config.outcomes.values() for p in phrases]
    for sentence in _sentences(text):
        matches = find_phrases(sentence, remedies)
        if not matches:
            continue
        first = matches[0]
        if requested or _opens_with_remedy(sentence, first) or find_phrases(sentence, config.wish_cues):
            value = _clean(sentence)
            if value:
                return value, kinds[lexicon_key(first.group())]
        for clause in _CLAUSE.findall(sentence):
            clause_matches = find_phrases(clause, remedies)
            if clause_matches and _opens_with_remedy(clause, clause_matches[0]):
                value = _clean(clause)
                if value:
                    return value, kinds[lexicon_key(clause_matches[0].group())]
    return None


def _opens_with_remedy(words: str, remedy: re.Match[str]) -> bool:
    """An imperative such as "refund the delivery charge" opens the sentence or clause."""
    return not words[: remedy.start()].strip(_EDGE_PUNCTUATION) and len(words.split()) > 1


def _short_answer(text: str, lexicon: ExtractionLexicon, slot: str) -> str | None:
    """``none`` or ``unknown`` when the whole short answer says the customer has none or does not know."""
    value = _clean(text, ())
    if not value or len(value.split()) > MAX_SHORT_ANSWER_WORDS:
        return None
    answer = lexicon_key(value)
    for phrases, none_means in ((lexicon.unknown_answers, False), (lexicon.none_answers, True)):
        exact = answer in {lexicon_key(phrase) for phrase in phrases}
        if exact or find_phrases(value, [phrase for phrase in phrases if " " in phrase]):
            has_none = slot == "contact" or (none_means and slot in NEGATIVE_MEANS_NONE)
            return SLOT_NONE if has_none else SLOT_UNKNOWN
    return None


# --- the one entry point -------------------------------------------------------------


def _answer_for(
    slot: str, text: str, masked: str, config: TriageConfig, region: str
) -> tuple[str, str | None] | None:
    """The plain answer to the slot just asked, when no specific pattern found it."""
    lexicon = config.extraction
    if slot not in ANSWER_ONLY_SLOTS:
        short = _short_answer(text, lexicon, slot)
        if short:
            return short, None
    if slot == "customer_name":
        value = _name_from_answer(masked, lexicon)
    elif slot == "complaint_product":
        value = _clean(masked, lexicon.answer_fillers + lexicon.determiners)
    elif slot == "incident_location":
        value = _clean(masked, lexicon.answer_fillers)
    elif slot == "order_ref":
        value = _bare_ref(masked, region)
    elif slot in ("problem_description", "people_involved", "impact"):
        value = _clean(masked)
    elif slot == "desired_outcome":
        value = _clean(masked)
        return (value, "other") if value else None
    else:
        value = None
    return (value, None) if value else None


FREE_TEXT_SLOTS = frozenset({"customer_name", "incident_location", "people_involved", "impact", "complaint_product"})
"""Details whose answer is the customer's own words, not a pattern."""


def _clauses(text: str, claimed: list[tuple[int, int]]) -> list[str]:
    """The comma-separated parts of an answer that hold no date, reference or contact."""
    return [
        match.group() for match in _CLAUSE.finditer(text)
        if any(ch.isalnum() for ch in match.group())
        and not any(start < match.end() and match.start() < end for start, end in claimed)
    ]


def _clause_value(slot: str, clause: str, config: TriageConfig) -> str | None:
    lexicon = config.extraction
    if slot == "customer_name":
        return _name_from_answer(clause, lexicon)
    if slot == "incident_location":
        return _location(clause, config) or _clean(clause, lexicon.answer_fillers)
    if slot == "complaint_product":
        return _clean(clause, lexicon.answer_fillers + lexicon.determiners)
    return _clean(clause)


def _free_text_slot(clause: str, missing: list[str], config: TriageConfig) -> str | None:
    """The detail still missing that this part of an answer gives in words. Who else was
    involved is a part naming a role or a person ("the branch manager", "my friend Jo")."""
    introduced = "impact" not in missing and _opens_with(clause, config.extraction.determiners + ("just",))
    people = "people_involved" in missing and (_people(clause, config) or introduced)
    if people:
        return "people_involved"
    return next((slot for slot in missing if slot in FREE_TEXT_SLOTS and slot != "people_involved"), None)


CONTINUED_SLOTS = frozenset({"impact", "complaint_product"})
"""Details whose answer may itself hold commas ("2 candles, a photo frame, a jigsaw")."""


def _continues(clause: str, config: TriageConfig) -> bool:
    """A part that carries on the detail told before it ("not much, but it's the principle")."""
    return not _short_answer(clause, config.extraction, "impact") and bool(_clean(clause))


def _group_answers(
    asked: tuple[str, ...],
    text: str,
    claimed: list[tuple[int, int]],
    values: dict[str, str],
    config: TriageConfig,
    region: str,
    policy: DialoguePolicy | None,
) -> tuple[dict[str, str], bool]:
    """Answers to a question that asked for several details, read part by part ("Harold
    Jennings, 07911 402118"; "all 8 on march 1, online, SO-7719034").

    A part holding a bare reference or a recognised place answers that detail (the first
    part names the product when that was asked: "my online account, ..."); each other
    part without a date, reference or contact answers the next detail still missing that
    takes words; "no" or "don't know" answers the last one still missing (people put the
    optional detail last). Returns the answers and whether a part was left unused.
    """
    lexicon = config.extraction
    found: dict[str, str] = {}
    missing = [slot for slot in asked if slot not in values]
    clauses = _clauses(text, claimed)
    for slot, finder in (("order_ref", lambda c: _bare_ref(c, region)), ("incident_location", lambda c: _location(c, config))):
        named_first = "complaint_product" in missing and len(clauses) > 1 and slot == "incident_location"
        for clause in (clauses[1:] if named_first else clauses) if slot in missing else ():
            value = finder(clause)
            if value:
                found[slot] = value
                missing.remove(slot)
                clauses.remove(clause)
                break
    leftover = False
    for clause in clauses:
        short = _short_answer(clause, lexicon, missing[-1]) if missing else None
        slot = None if short else _free_text_slot(clause, missing, config)
        value = _clause_value(slot, clause, config) if slot else None
        last = list(found)[-1] if found else None
        if short:
            found[missing.pop()] = short
        elif slot and value:
            found[slot] = value
            missing.remove(slot)
        elif last in CONTINUED_SLOTS and "incident_date" not in missing and _continues(clause, config):
            found[last] = f"{found[last]}, {_clean(clause)}"
        else:
            leftover = True
    if found or any(slot in values for slot in asked):
        optional = policy.optional if policy else frozenset()
        found.update({slot: SLOT_UNKNOWN for slot in missing if slot in optional})
    return found, leftover


def _is_contact_offer(text: str, spans: list[tuple[int, int]]) -> bool:
    """A message that is little more than an address or number offers it as the contact
    ("07911 123456" to any question is a number to call, never an impact)."""
    return len(_mask(text, spans).split()) <= 2


def extract_fields(
    text: str,
    *,
    now: datetime,
    requested_slot: str | None,
    accept_free_text: bool,
    config: TriageConfig,
    phone_region: str,
    languages: list[str],
    asked_with: tuple[str, ...] = (),
    dialogue: DialoguePolicy | None = None,
) -> Extraction:
    """Every slot value this message gives, and problems with values it tried to give.

    ``requested_slot`` is the slot just asked for, ``asked_with`` the others the same
    question asked for: their plain answers are taken only when ``accept_free_text`` (the
    caller clears it for questions such as "are you a bot?") and no pattern found them.
    ``dialogue`` adds its reference labels. Dates are resolved against ``now``.
    """
    text = (text or "").strip()
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    if not text:
        return Extraction(values, problems)
    lexicon = config.extraction
    question = (requested_slot, *asked_with) if requested_slot else ()
    asked = question if accept_free_text else ()
    claimed = [match.span() for match in TICKET_TOKEN.finditer(text)]

    emails = _emails(text)
    claimed += [match.span() for match in emails]
    labels = lexicon.order_labels + (dialogue.reference_labels if dialogue else ())
    reference = _order_ref(_mask(text, claimed), labels, phone_region)
    if reference:
        values["order_ref"] = reference[0]
        claimed.append(reference[1])
    phones = [phone for phone in _phones(_mask(text, claimed), phone_region) if phone[2] or "contact" in question]
    claimed += [(start, end) for start, end, _ in phones]
    offered = _is_contact_offer(text, [match.span() for match in emails] + [(s, e) for s, e, _ in phones])
    contacts = sorted(
        contact
        for contact in [(match.start(), match.group().lower(), "email") for match in emails]
        + [(start, e164, "phone") for start, _, e164 in phones if e164]
        if "contact" in question or offered or find_phrases(text[: contact[0]], lexicon.contact_cues)
    )
    if contacts:
        _, values["contact"], values["contact_kind"] = contacts[0]
    elif "contact" in question:
        if _EMAIL_LIKE.search(text):
            problems["contact"] = "invalid_email"
        elif phones or _phone_like(_mask(text, claimed)) or _DIGITS_GIVEN.search(text):
            problems["contact"] = "invalid_phone"
    masked = _mask(text, claimed)

    incident = _incident_date(
        masked, now, config.dates, languages, requested="incident_date" in question, policy=dialogue
    )
    if incident and incident[0] > now.date():
        problems["incident_date"] = "future_date"
    elif incident:
        values["incident_date"] = incident[0].isoformat()
    if incident and incident[1] in masked and "incident_date" in question:
        start = masked.index(incident[1])
        words = _CLAUSE.match(masked, start)
        claimed.append((start, words.end() if words else start + len(incident[1])))
        masked = _mask(text, claimed)

    finders = {
        "customer_name": lambda: _name_from_narrative(masked, lexicon),
        "complaint_product": lambda: _product_from_narrative(masked, lexicon),
        "incident_location": lambda: _location(masked, config),
        "people_involved": lambda: _people(masked, config),
        "impact": lambda: _impact(masked, lexicon),
    }
    for slot, finder in finders.items():
        if len(asked) > 1 and slot in asked:
            continue
        value = finder()
        if value:
            values[slot] = value
    outcome = _desired_outcome(masked, config, requested=requested_slot == "desired_outcome")
    if outcome:
        values["desired_outcome"], values["desired_outcome_kind"] = outcome

    correcting = bool(values) and _opens_with(text, lexicon.correction_cues)
    if len(asked) > 1 and not correcting:
        answers, leftover = _group_answers(asked, text, claimed, values, config, phone_region, dialogue)
        values.update(answers)
        if leftover and "incident_date" in asked and "incident_date" not in values:
            problems.setdefault("incident_date", "unparsable_date")
        if leftover and "contact" in asked and "contact" not in values:
            problems.setdefault("contact", "invalid_contact")
    elif asked and asked[0] not in values and asked[0] not in problems and not correcting:
        answer = _answer_for(asked[0], text, masked, config, phone_region)
        if answer:
            values[asked[0]] = answer[0]
            if answer[1]:
                values[f"{asked[0]}_kind"] = answer[1]
        elif asked[0] == "incident_date":
            problems["incident_date"] = "unparsable_date"
    return Extraction({slot: value for slot, value in values.items() if value}, problems)


def contacts_in(text: str, phone_region: str) -> set[str]:
    """Every email (lower-cased) and valid phone number (E.164) in ``text``, in the forms
    a filed ticket stores them, so a contact a customer types can be compared with one."""
    emails = {match.group().lower() for match in _emails(text)}
    phones = {e164 for _, _, e164 in _phones(text, phone_region) if e164}
    return emails | phones
