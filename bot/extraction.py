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
from dateparser.search import search_dates

from bot.domain_config import DateLexicon, ExtractionLexicon, TriageConfig
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


def _order_ref(text: str, lexicon: ExtractionLexicon, region: str) -> tuple[str, tuple[int, int]] | None:
    """A labelled ("order 88412", "invoice INV-2231") or hashed ("#88412") reference."""
    candidates: list[tuple[int, str, tuple[int, int]]] = []
    pattern = _labelled_ref_pattern(lexicon.order_labels)
    for match in pattern.finditer(text) if pattern else ():
        value = _reference(match.group(1))
        if value:
            candidates.append((match.start(), value, match.span()))
    for match in _HASH_REF.finditer(text):
        value = _reference(match.group(1))
        if value and not _looks_like_phone(match.group(1), region):
            candidates.append((match.start(), value, match.span()))
    if not candidates:
        return None
    _, value, span = min(candidates)
    return value, span


def _bare_ref(text: str, region: str) -> str | None:
    """The answer to "what is your order number?": the first token with a digit that is no phone."""
    for match in _TOKEN.finditer(text):
        value = _reference(match.group())
        if value and not _looks_like_phone(match.group(), region):
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


def _incident_date(
    text: str, now: datetime, lexicon: DateLexicon, languages: list[str], *, requested: bool
) -> date | None:
    today = now.date()
    offsets = find_phrases(text, lexicon.day_offsets)
    if offsets:
        days = {lexicon_key(phrase): offset for phrase, offset in lexicon.day_offsets.items()}
        return today - timedelta(days=days[lexicon_key(offsets[0].group())])
    settings = {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "first",
        "DATE_ORDER": lexicon.date_order,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        matches = search_dates(text, languages=languages, settings=settings) or []
    except (ValueError, OverflowError):
        logger.warning("dateparser failed on a message", exc_info=True)
        return None
    for phrase, moment in matches:
        kind = _date_kind(phrase, lexicon, bare_ordinal=requested)
        if kind:
            resolved = _resolve_day(phrase, kind, moment.date(), today, lexicon)
            if resolved:
                return resolved
    return None


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
    first_clause = _CLAUSE_END.split(text.strip(_EDGE_PUNCTUATION), maxsplit=1)[0]
    value = _clean(first_clause, lexicon.name_cues + lexicon.answer_fillers)
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
    for match in pattern.finditer(text):
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
    for sentence in _sentences(text):
        matches = find_phrases(sentence, [p for phrases in config.outcomes.values() for p in phrases])
        if not matches:
            continue
        first = matches[0]
        opening = not sentence[: first.start()].strip(_EDGE_PUNCTUATION) and len(sentence.split()) > 1
        if requested or opening or find_phrases(sentence, config.wish_cues):
            value = _clean(sentence)
            if value:
                return value, kinds[lexicon_key(first.group())]
    return None


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
        value = _name_from_answer(text, lexicon)
    elif slot == "complaint_product":
        value = _clean(text, lexicon.answer_fillers + lexicon.determiners)
    elif slot == "incident_location":
        value = _clean(text, lexicon.answer_fillers)
    elif slot == "order_ref":
        value = _bare_ref(masked, region)
    elif slot in ("problem_description", "people_involved", "impact"):
        value = _clean(text)
    elif slot == "desired_outcome":
        value = _clean(text)
        return (value, "other") if value else None
    else:
        value = None
    return (value, None) if value else None


def extract_fields(
    text: str,
    *,
    now: datetime,
    requested_slot: str | None,
    accept_free_text: bool,
    config: TriageConfig,
    phone_region: str,
    languages: list[str],
) -> Extraction:
    """Every slot value this message gives, and problems with values it tried to give.

    ``requested_slot`` is the slot just asked for: its plain answer is taken only when
    ``accept_free_text`` (the caller clears it for questions such as "are you a bot?")
    and no pattern found the slot. Dates are resolved against ``now``.
    """
    text = (text or "").strip()
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    if not text:
        return Extraction(values, problems)
    lexicon = config.extraction
    asked = requested_slot if accept_free_text else None
    claimed = [match.span() for match in TICKET_TOKEN.finditer(text)]

    emails = _emails(text)
    claimed += [match.span() for match in emails]
    reference = _order_ref(_mask(text, claimed), lexicon, phone_region)
    if reference:
        values["order_ref"] = reference[0]
        claimed.append(reference[1])
    phones = _phones(_mask(text, claimed), phone_region)
    claimed += [(start, end) for start, end, _ in phones]
    contacts = sorted(
        contact
        for contact in [(match.start(), match.group().lower(), "email") for match in emails]
        + [(start, e164, "phone") for start, _, e164 in phones if e164]
        if requested_slot == "contact" or find_phrases(text[: contact[0]], lexicon.contact_cues)
    )
    if contacts:
        _, values["contact"], values["contact_kind"] = contacts[0]
    elif requested_slot == "contact":
        if _EMAIL_LIKE.search(text):
            problems["contact"] = "invalid_email"
        elif phones or _phone_like(_mask(text, claimed)) or _DIGITS_GIVEN.search(text):
            problems["contact"] = "invalid_phone"
    masked = _mask(text, claimed)

    incident = _incident_date(masked, now, config.dates, languages, requested=requested_slot == "incident_date")
    if incident and incident > now.date():
        problems["incident_date"] = "future_date"
    elif incident:
        values["incident_date"] = incident.isoformat()

    finders = {
        "customer_name": lambda: _name_from_narrative(masked, lexicon),
        "complaint_product": lambda: _product_from_narrative(masked, lexicon),
        "incident_location": lambda: _location(masked, config),
        "people_involved": lambda: _people(masked, config),
        "impact": lambda: _impact(masked, lexicon),
    }
    for slot, finder in finders.items():
        value = finder()
        if value:
            values[slot] = value
    outcome = _desired_outcome(masked, config, requested=requested_slot == "desired_outcome")
    if outcome:
        values["desired_outcome"], values["desired_outcome_kind"] = outcome

    correcting = bool(values) and _opens_with(text, lexicon.correction_cues)
    if asked and asked not in values and asked not in problems and not correcting:
        answer = _answer_for(asked, text, masked, config, phone_region)
        if answer:
            values[asked] = answer[0]
            if answer[1]:
                values[f"{asked}_kind"] = answer[1]
        elif asked == "incident_date":
            problems["incident_date"] = "unparsable_date"
    return Extraction({slot: value for slot, value in values.items() if value}, problems)
