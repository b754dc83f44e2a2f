"""Domain policy (SLA hours, the option catalogue, triage lexicons), loaded once from ``settings/``.

Policy is data so that operators can tune it without a release, and it is validated at
start-up so a typo stops the action server with one message naming the file, the key
and the value, instead of surfacing as a wrong ticket in the middle of a conversation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

CATEGORIES = ("product", "service", "billing", "delivery", "after_sales", "account", "other")
SEVERITIES = ("low", "medium", "high", "critical")
PRIORITIES = ("P1", "P2", "P3", "P4")
OUTCOME_KINDS = (
    "refund", "partial_refund", "replacement", "repair", "apology", "compensation", "explanation",
    "cancel", "delivery", "account_fix", "data_deletion", "other",
)
HUMAN_AGENT = "human_agent"
LEXICON_SECTIONS = (
    "categories", "emotion", "escalators", "not_escalating", "outcomes", "wish_cues", "people", "locations", "dates", "extraction",
)

_OPTION_ID = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_DATE_ORDERS = ("DMY", "MDY", "YMD")


class DomainConfigError(ValueError):
    """A file under ``settings/`` holds a value the product cannot run with."""


@dataclass(frozen=True)
class StageHours:
    """Cumulative hours from opening by which each handling stage must be done."""

    classify: float
    analyse: float
    resolve: float
    total: float


@dataclass(frozen=True)
class SlaConfig:
    """Service levels from ``sla.yml``."""

    acknowledge_within_s: float
    first_response_within_h: float
    supervisor_escalation_within_h: float
    followup_after_h: float
    followup_rate_target: float
    minimum_options: int
    default_stages: StageHours
    priorities: Mapping[str, StageHours]

    def stage_hours(self, priority: str) -> StageHours:
        """Stage hours for a priority; an unknown priority is a programming error, not a default."""
        try:
            return self.priorities[priority]
        except KeyError:
            raise ValueError(f"unknown priority {priority!r}; expected one of {', '.join(PRIORITIES)}") from None


@dataclass(frozen=True)
class Option:
    """A remedy the assistant can offer; its label is the response ``utter_option_<id>``."""

    id: str
    outcome_kinds: tuple[str, ...]
    """Wishes it grants, the one it grants best first."""
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class ChoiceWords:
    """How customers name a position in a list, in the active languages."""

    cues: tuple[str, ...]
    numbers: Mapping[str, int]
    ordinals: Mapping[str, int]
    ordinal_suffixes: tuple[str, ...]
    ordinal_nouns: tuple[str, ...]
    determiners: tuple[str, ...]
    politeness: tuple[str, ...]
    rejections: tuple[str, ...]


@dataclass(frozen=True)
class OptionCatalogue:
    """Remedies, which categories offer them, and how many must be offered."""

    options: Mapping[str, Option]
    categories: Mapping[str, tuple[str, ...]]
    minimum_options: int
    choice_words: ChoiceWords

    def for_category(self, category: str) -> tuple[str, ...]:
        """The category's options in order of preference; an unknown category gets the general ones."""
        return self.categories.get(category, self.categories["other"])


@dataclass(frozen=True)
class EmotionLexicon:
    anger_strong: tuple[str, ...]
    anger_mild: tuple[str, ...]
    worry: tuple[str, ...]
    profanity: tuple[str, ...]


@dataclass(frozen=True)
class EmotionPolicy:
    """How a message's sentiment becomes an emotion score (see ``triage.yml``, ``emotion``)."""

    baseline: float
    neutral_below: float
    shouting: float


@dataclass(frozen=True)
class PriorityMatrix:
    """Priority by severity and emotion band; bands are (name, lower bound), ascending."""

    bands: tuple[tuple[str, float], ...]
    cells: Mapping[str, Mapping[str, str]]

    def band(self, emotion: float) -> str:
        """The highest band whose lower bound the emotion reaches."""
        chosen = self.bands[0][0]
        for name, lower in self.bands:
            if emotion >= lower:
                chosen = name
        return chosen

    def priority(self, severity: str, emotion: float) -> str:
        return self.cells[severity][self.band(emotion)]


@dataclass(frozen=True)
class DateLexicon:
    relative: tuple[str, ...]
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    day_cues: tuple[str, ...]
    ordinal_suffixes: tuple[str, ...]
    day_offsets: Mapping[str, int]
    date_order: str


@dataclass(frozen=True)
class LocationLexicon:
    channels: Mapping[str, str]
    venue_nouns: tuple[str, ...]
    place_prepositions: tuple[str, ...]


@dataclass(frozen=True)
class ExtractionLexicon:
    name_cues: tuple[str, ...]
    narrative_name_cues: tuple[str, ...]
    not_names: tuple[str, ...]
    not_people: tuple[str, ...]
    product_verbs: tuple[str, ...]
    product_states: tuple[str, ...]
    determiners: tuple[str, ...]
    stop_words: tuple[str, ...]
    generic_nouns: tuple[str, ...]
    answer_fillers: tuple[str, ...]
    order_labels: tuple[str, ...]
    impact_cues: tuple[str, ...]
    contact_cues: tuple[str, ...]
    correction_cues: tuple[str, ...]
    none_answers: tuple[str, ...]
    unknown_answers: tuple[str, ...]


@dataclass(frozen=True)
class TriageConfig:
    """Triage policy from ``triage.yml``, lexicons merged over the active languages."""

    languages: tuple[str, ...]
    category_intent_min_confidence: float
    category_base_severity: Mapping[str, str]
    escalator_severity: Mapping[str, str]
    category_keywords: Mapping[str, tuple[str, ...]]
    emotion: EmotionLexicon
    emotion_policy: EmotionPolicy
    escalators: Mapping[str, tuple[str, ...]]
    not_escalating: tuple[str, ...]
    outcomes: Mapping[str, tuple[str, ...]]
    wish_cues: tuple[str, ...]
    people: tuple[str, ...]
    locations: LocationLexicon
    dates: DateLexicon
    extraction: ExtractionLexicon
    priority_matrix: PriorityMatrix


@dataclass(frozen=True)
class DialoguePolicy:
    """How the intake asks (``dialogue.yml``): which details go together, how often a
    question may be asked, and what happens after the last answer that could not be used."""

    max_asks: int
    groups: tuple[tuple[str, ...], ...]
    questions: Mapping[tuple[str, ...], str]
    only_with: Mapping[str, str]
    optional: frozenset[str]
    after_last_miss: Mapping[str, str]
    reference_labels: tuple[str, ...]
    duration_cues: tuple[str, ...]
    duration_units: Mapping[str, int]
    duration_numbers: Mapping[str, int]
    not_answers: tuple[str, ...]


@dataclass(frozen=True)
class DomainConfig:
    sla: SlaConfig
    options: OptionCatalogue
    triage: TriageConfig
    dialogue: DialoguePolicy


@dataclass(frozen=True)
class _Node:
    """A value read from a settings file, with the key path that errors must name."""

    file: str
    path: str
    value: Any

    def fail(self, reason: str) -> NoReturn:
        raise DomainConfigError(f"{self.file}: {self.path or '<root>'} = {self.value!r}: {reason}")

    def child(self, key: str | int, value: Any) -> _Node:
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        return _Node(self.file, path, value)

    def mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            self.fail("expected a mapping")
        return self.value

    def get(self, key: str) -> _Node:
        data = self.mapping()
        if key not in data:
            self.child(key, None).fail("is missing")
        return self.child(key, data[key])

    def optional(self, key: str, default: Any) -> _Node:
        return self.child(key, self.mapping().get(key, default))

    def items(self) -> list[tuple[str, _Node]]:
        return [(str(key), self.child(str(key), value)) for key, value in self.mapping().items()]

    def elements(self) -> list[_Node]:
        if not isinstance(self.value, list):
            self.fail("expected a list")
        return [self.child(index, value) for index, value in enumerate(self.value)]

    def number(self, *, minimum: float = 0.0, maximum: float | None = None, strict: bool = True) -> float:
        """A number above ``minimum`` (or equal to it when not ``strict``) and at most ``maximum``."""
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            self.fail("expected a number")
        if self.value < minimum or (strict and self.value == minimum):
            self.fail(f"must be {'greater than' if strict else 'at least'} {minimum}")
        if maximum is not None and self.value > maximum:
            self.fail(f"must be at most {maximum}")
        return float(self.value)

    def fraction(self) -> float:
        return self.number(minimum=0.0, maximum=1.0, strict=False)

    def integer(self, *, minimum: int) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail("expected a whole number")
        if self.value < minimum:
            self.fail(f"must be at least {minimum}")
        return self.value

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail("expected a non-empty text")
        return self.value.strip()

    def choice(self, allowed: Iterable[str]) -> str:
        allowed = tuple(allowed)
        if self.value not in allowed:
            self.fail(f"expected one of {', '.join(allowed)}")
        return self.value

    def phrases(self) -> tuple[str, ...]:
        return tuple(element.text().lower() for element in self.elements())


def _read(path: Path) -> _Node:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DomainConfigError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise DomainConfigError(f"{path.name}: is not valid YAML ({exc})") from exc
    node = _Node(path.name, "", data)
    node.mapping()
    return node


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


# --- sla.yml -----------------------------------------------------------------


def _stages(node: _Node) -> StageHours:
    stages = StageHours(
        classify=node.get("classify_h").number(),
        analyse=node.get("analyse_h").number(),
        resolve=node.get("resolve_h").number(),
        total=node.get("total_h").number(),
    )
    if not stages.classify < stages.analyse < stages.resolve:
        node.fail("stages must increase: classify_h < analyse_h < resolve_h")
    if stages.total < stages.resolve:
        node.get("total_h").fail("must be at least resolve_h")
    return stages


def _sla(node: _Node) -> SlaConfig:
    priorities_node = node.get("priorities")
    priorities = {name: _stages(priorities_node.get(name)) for name in PRIORITIES}
    for key, _ in priorities_node.items():
        if key not in PRIORITIES:
            priorities_node.child(key, key).fail(f"unknown priority; expected {', '.join(PRIORITIES)}")
    for faster, slower in zip(PRIORITIES, PRIORITIES[1:]):
        for stage in ("classify", "analyse", "resolve", "total"):
            if getattr(priorities[faster], stage) > getattr(priorities[slower], stage):
                priorities_node.get(faster).get(f"{stage}_h").fail(f"{faster} must not be slower than {slower}")
    return SlaConfig(
        acknowledge_within_s=node.get("acknowledge_within_s").number(),
        first_response_within_h=node.get("first_response_within_h").number(),
        supervisor_escalation_within_h=node.get("supervisor_escalation_within_h").number(),
        followup_after_h=node.get("followup_after_h").number(),
        followup_rate_target=node.get("followup_rate_target").fraction(),
        minimum_options=node.get("minimum_options").integer(minimum=1),
        default_stages=_stages(node.get("default_stage_hours")),
        priorities=_freeze(priorities),
    )


# --- options.yml -------------------------------------------------------------


def _language_sections(node: _Node, languages: tuple[str, ...]) -> list[_Node]:
    """The per-language sections of a lexicon node, for the active languages only."""
    return [node.get(language) for language in languages]


def _merged_phrases(node: _Node, languages: tuple[str, ...]) -> tuple[str, ...]:
    return _unique(p for section in _language_sections(node, languages) for p in section.phrases())


def _merged_numbers(sections: list[_Node], key: str) -> Mapping[str, int]:
    merged: dict[str, int] = {}
    for section in sections:
        for word, value in section.get(key).items():
            merged[word.lower()] = value.integer(minimum=-1)
    return _freeze(merged)


def _choice_words(node: _Node, languages: tuple[str, ...]) -> ChoiceWords:
    sections = _language_sections(node, languages)
    return ChoiceWords(
        cues=_unique(p for s in sections for p in s.get("cues").phrases()),
        numbers=_merged_numbers(sections, "numbers"),
        ordinals=_merged_numbers(sections, "ordinals"),
        ordinal_suffixes=_unique(p for s in sections for p in s.optional("ordinal_suffixes", []).phrases()),
        ordinal_nouns=_unique(p for s in sections for p in s.optional("ordinal_nouns", []).phrases()),
        determiners=_unique(p for s in sections for p in s.optional("determiners", []).phrases()),
        politeness=_unique(p for s in sections for p in s.optional("politeness", []).phrases()),
        rejections=_unique(p for s in sections for p in s.optional("rejections", []).phrases()),
    )


def _option(node: _Node, languages: tuple[str, ...]) -> Option:
    option_id = node.get("id").text()
    if not _OPTION_ID.match(option_id):
        node.get("id").fail("option ids must be snake_case")
    kinds = _unique(kind.choice(OUTCOME_KINDS) for kind in node.get("outcome_kinds").elements())
    return Option(id=option_id, outcome_kinds=kinds, keywords=_merged_phrases(node.get("keywords"), languages))


def _catalogue(node: _Node, languages: tuple[str, ...], minimum_options: int) -> OptionCatalogue:
    options: dict[str, Option] = {}
    for element in node.get("options").elements():
        option = _option(element, languages)
        if option.id in options:
            element.get("id").fail("duplicate option id")
        options[option.id] = option
    if HUMAN_AGENT not in options:
        node.get("options").fail(f"the option {HUMAN_AGENT!r} must exist")
    categories_node = node.get("categories")
    categories: dict[str, tuple[str, ...]] = {}
    for category, ids_node in categories_node.items():
        if category not in CATEGORIES:
            categories_node.child(category, category).fail(f"unknown category; expected {', '.join(CATEGORIES)}")
        ids = tuple(element.choice(options) for element in ids_node.elements())
        if len(set(ids)) != len(ids):
            ids_node.fail("lists an option twice")
        if not ids or ids[-1] != HUMAN_AGENT:
            ids_node.fail(f"must end with {HUMAN_AGENT!r}")
        if len(ids) < minimum_options:
            ids_node.fail(f"must list at least minimum_options ({minimum_options}, sla.yml) options")
        categories[category] = ids
    for category in CATEGORIES:
        categories_node.get(category)
    return OptionCatalogue(
        options=_freeze(options),
        categories=_freeze(categories),
        minimum_options=minimum_options,
        choice_words=_choice_words(node.get("choice_words"), languages),
    )


# --- triage.yml --------------------------------------------------------------


def _languages(node: _Node) -> tuple[str, ...]:
    languages = tuple(element.text() for element in node.get("languages").elements())
    if not languages:
        node.get("languages").fail("at least one language is needed")
    return languages


def _severity_map(node: _Node, keys: Iterable[str]) -> Mapping[str, str]:
    return _freeze({key: node.get(key).choice(SEVERITIES) for key in keys})


def _priority_matrix(node: _Node) -> PriorityMatrix:
    bands_node = node.get("emotion_bands")
    bands = tuple(sorted(((name, band.fraction()) for name, band in bands_node.items()), key=lambda b: b[1]))
    if not bands or bands[0][1] != 0.0:
        bands_node.fail("the lowest emotion band must start at 0.0")
    cells = {
        severity: _freeze({name: node.get(severity).get(name).choice(PRIORITIES) for name, _ in bands})
        for severity in SEVERITIES
    }
    for lower, higher in zip(SEVERITIES, SEVERITIES[1:]):
        for name, _ in bands:
            if PRIORITIES.index(cells[higher][name]) > PRIORITIES.index(cells[lower][name]):
                node.get(higher).get(name).fail(f"must be at least as urgent as {lower}.{name}")
    return PriorityMatrix(bands=bands, cells=_freeze(cells))


def _merged_groups(sections: list[_Node], section: str, groups: Iterable[str]) -> Mapping[str, tuple[str, ...]]:
    """Merge ``{group: [phrases]}`` over languages; each group must be one of ``groups``."""
    groups = tuple(groups)
    merged: dict[str, list[str]] = {}
    for language in sections:
        for group, phrases in language.optional(section, {}).items():
            if group not in groups:
                phrases.fail(f"unknown group; expected one of {', '.join(groups)}")
            merged.setdefault(group, []).extend(phrases.phrases())
    return _freeze({group: _unique(phrases) for group, phrases in merged.items()})


def _merged_list(sections: list[_Node], *keys: str) -> tuple[str, ...]:
    found: list[str] = []
    for language in sections:
        node = language
        for key in keys:
            node = node.optional(key, {} if key != keys[-1] else [])
        found.extend(node.phrases())
    return _unique(found)


def _emotion_policy(node: _Node) -> EmotionPolicy:
    return EmotionPolicy(
        baseline=node.get("baseline").fraction(),
        neutral_below=node.get("neutral_below").fraction(),
        shouting=node.get("shouting").fraction(),
    )


def _dates(sections: list[_Node], date_order: str) -> DateLexicon:
    offsets: dict[str, int] = {}
    for language in sections:
        for phrase, days in language.optional("dates", {}).optional("day_offsets", {}).items():
            offsets[phrase.lower()] = days.integer(minimum=0)
    return DateLexicon(
        relative=_merged_list(sections, "dates", "relative"),
        weekdays=_merged_list(sections, "dates", "weekdays"),
        months=_merged_list(sections, "dates", "months"),
        day_cues=_merged_list(sections, "dates", "day_cues"),
        ordinal_suffixes=_merged_list(sections, "dates", "ordinal_suffixes"),
        day_offsets=_freeze(offsets),
        date_order=date_order,
    )


def _locations(sections: list[_Node]) -> LocationLexicon:
    channels: dict[str, str] = {}
    for language in sections:
        for phrase, value in language.optional("locations", {}).optional("channels", {}).items():
            channels[phrase.lower()] = value.text()
    return LocationLexicon(
        channels=_freeze(channels),
        venue_nouns=_merged_list(sections, "locations", "venue_nouns"),
        place_prepositions=_merged_list(sections, "locations", "place_prepositions"),
    )


def _extraction(sections: list[_Node]) -> ExtractionLexicon:
    names = [field.name for field in fields(ExtractionLexicon)]
    return ExtractionLexicon(**{name: _merged_list(sections, "extraction", name) for name in names})


def _triage(node: _Node) -> TriageConfig:
    languages = _languages(node)
    lexicons = node.get("lexicons")
    sections = _language_sections(lexicons, languages)
    for language in sections:
        for key, value in language.items():
            if key not in LEXICON_SECTIONS:
                value.fail(f"unknown lexicon section; expected one of {', '.join(LEXICON_SECTIONS)}")
    escalator_severity = node.get("escalator_severity")
    escalator_groups = tuple(name for name, _ in escalator_severity.items())
    emotion_groups = [field.name for field in fields(EmotionLexicon)]
    emotion = _merged_groups(sections, "emotion", emotion_groups)
    return TriageConfig(
        languages=languages,
        category_intent_min_confidence=node.get("category_intent_min_confidence").fraction(),
        category_base_severity=_severity_map(node.get("category_base_severity"), CATEGORIES),
        escalator_severity=_severity_map(escalator_severity, escalator_groups),
        category_keywords=_merged_groups(sections, "categories", CATEGORIES),
        emotion=EmotionLexicon(**{name: emotion.get(name, ()) for name in emotion_groups}),
        emotion_policy=_emotion_policy(node.get("emotion")),
        escalators=_merged_groups(sections, "escalators", escalator_groups),
        not_escalating=_merged_list(sections, "not_escalating"),
        outcomes=_merged_groups(sections, "outcomes", [k for k in OUTCOME_KINDS if k != "other"]),
        wish_cues=_merged_list(sections, "wish_cues"),
        people=_merged_list(sections, "people"),
        locations=_locations(sections),
        dates=_dates(sections, node.optional("date_order", "DMY").choice(_DATE_ORDERS)),
        extraction=_extraction(sections),
        priority_matrix=_priority_matrix(node.get("priority_matrix")),
    )


# --- dialogue.yml ------------------------------------------------------------

ASKED_SLOTS = (
    "customer_name", "contact", "complaint_product", "problem_description", "incident_date", "incident_location",
    "order_ref", "impact", "people_involved", "chosen_option", "complaint_confirmed",
)
"""The form's questions, which dialogue.yml may group and give a last-miss behaviour."""
LAST_MISS_BEHAVIOURS = ("keep_words", "offer_person", "file_as_is")


def _slot_list(node: _Node) -> tuple[str, ...]:
    slots = tuple(element.choice(ASKED_SLOTS) for element in node.elements())
    if len(set(slots)) != len(slots):
        node.fail("lists a slot twice")
    return slots


def _dialogue(node: _Node, languages: tuple[str, ...]) -> DialoguePolicy:
    groups = tuple(_slot_list(element) for element in node.get("groups").elements())
    questions: dict[tuple[str, ...], str] = {}
    for key, response in node.get("questions").items():
        slots = _slot_list(_Node(node.file, f"questions.{key}", key.split("+")))
        if not any(set(slots) <= set(group) for group in groups):
            response.fail("asks for slots that no group puts together")
        questions[slots] = response.text()
    only_with: dict[str, str] = {}
    for slot, partner in node.get("only_with").items():
        node.get("only_with").child(slot, slot).choice(ASKED_SLOTS)
        only_with[slot] = partner.choice(ASKED_SLOTS)
    after = node.get("after_last_miss")
    behaviours = {slot: value.choice(LAST_MISS_BEHAVIOURS) for slot, value in after.items()}
    for slot in ASKED_SLOTS:
        after.get(slot)
    sections = _language_sections(node.get("lexicons"), languages)
    return DialoguePolicy(
        max_asks=node.get("max_asks").integer(minimum=1),
        groups=groups,
        questions=_freeze(questions),
        only_with=_freeze(only_with),
        optional=frozenset(_slot_list(node.get("optional"))),
        after_last_miss=_freeze(behaviours),
        reference_labels=_merged_list(sections, "reference_labels"),
        duration_cues=_merged_list(sections, "duration_cues"),
        duration_units=_merged_numbers(sections, "duration_units"),
        duration_numbers=_merged_numbers(sections, "duration_numbers"),
        not_answers=_merged_list(sections, "not_answers"),
    )


def load_domain_config(config_dir: Path) -> DomainConfig:
    """Load and validate ``sla.yml``, ``options.yml``, ``triage.yml`` and ``dialogue.yml``.

    Raises :class:`DomainConfigError` naming the file, key and value of the first problem.
    """
    config_dir = Path(config_dir)
    sla = _sla(_read(config_dir / "sla.yml"))
    triage = _triage(_read(config_dir / "triage.yml"))
    options = _catalogue(_read(config_dir / "options.yml"), triage.languages, sla.minimum_options)
    dialogue = _dialogue(_read(config_dir / "dialogue.yml"), triage.languages)
    return DomainConfig(sla=sla, options=options, triage=triage, dialogue=dialogue)
