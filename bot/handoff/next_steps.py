"""Suggested next steps for the agent on a handed-over conversation, as data (settings/next_steps.yml).

Each step in the file says when it applies (conditions on the ticket: category, the outcome
the customer wants, the options the assistant offered and the one chosen, the rules that
brought in a person, the SLA time left, a booked call back, ...) and what the agent reads,
with facts of the ticket filled in. :func:`suggest` returns the steps whose conditions all
hold, in the file's order, at most ``max_shown``. The sentences are agent-facing and live only
in the file; nothing here words a suggestion.

Validated once with pydantic: an unknown condition, a condition value that is not a known
category, status, option or rule, or a ``{fact}`` the text cannot be filled with stops start-up
with a message naming the step and the key.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, confloat, conint, constr, validator

from bot.domain_config import CATEGORIES, OUTCOME_KINDS
from bot.handoff.policy import handoff_policy
from bot.lifecycle import STATES
from bot.policy_file import check_unique_ids, parse_policy_file, where_by_id
from bot.settings import PROJECT_ROOT, load_settings

POLICY_FILE = "next_steps.yml"
FACTS = frozenset({
    "ticket_number", "status", "category", "priority", "wants", "chosen_option", "offered_options",
    "sla_left", "sla_late", "resolve_by", "callback_at", "repeat_of", "order_ref",
})
"""The ``{fact}`` names a step's text may use."""
StepId = constr(regex=r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


class NextStepsError(ValueError):
    """settings/next_steps.yml holds a value the console cannot show suggestions with."""


class Conditions(BaseModel):
    """When a step applies: every condition given must hold (an empty ``when`` always holds)."""

    categories: list[str] | None = None
    statuses: list[Literal[STATES]] | None = None  # type: ignore[valid-type]
    outcome_kinds: list[str] | None = None
    """The kind of remedy the customer asked for (``desired_outcome_kind``)."""
    chosen_options: list[str] | None = None
    offered_options: list[str] | None = None
    """Any of these options was offered to the customer."""
    chosen: bool | None = None
    """Whether the customer chose one of the options offered."""
    rules: list[str] | None = None
    """Any of these hand-off rules (settings/handoff.yml) brought the conversation to a person."""
    channels: list[str] | None = None
    callback: Literal["booked", "none"] | None = None
    repeat: bool | None = None
    """The ticket repeats an earlier complaint."""
    sla_left_h_below: float | None = None
    """Fewer than this many hours to the resolve deadline (0: it has passed)."""
    sla_left_h_at_least: float | None = None
    emotion_at_least: confloat(ge=0, le=1) | None = None  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False


class Step(BaseModel):
    id: StepId  # type: ignore[valid-type]
    when: Conditions = Conditions()
    text: constr(strip_whitespace=True, min_length=1)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("text")
    def _known_facts(cls, text: str) -> str:  # noqa: N805 (pydantic validator)
        try:
            named = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
        except ValueError as error:
            raise ValueError(f"not a text with {{fact}} places: {error}") from None
        unknown = sorted(named - FACTS)
        if unknown:
            raise ValueError(f"unknown fact(s) {', '.join(unknown)}; a text may use {', '.join(sorted(FACTS))}")
        return text


class NextStepsPolicy(BaseModel):
    """The whole of settings/next_steps.yml."""

    max_shown: conint(ge=1, le=20)  # type: ignore[valid-type]
    steps: list[Step]

    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("steps")
    def _unique_ids(cls, steps: list[Step]) -> list[Step]:  # noqa: N805 (pydantic validator)
        check_unique_ids(steps, "step")
        return steps


@dataclass(frozen=True)
class TicketFacts:
    """What the steps' conditions read, and the facts their texts are filled with."""

    number: str
    status: str
    category: str
    priority: str
    channel: str
    now: datetime
    resolve_by: datetime
    desired_outcome: str | None = None
    outcome_kind: str | None = None
    chosen_option: str | None = None
    offered_options: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    emotion: float = 0.0
    repeat_of: str | None = None
    order_ref: str | None = None
    callback_at: str | None = None
    """The booked call's time as the agent reads it, None when no call is booked."""
    option_labels: tuple[tuple[str, str], ...] = ()

    @property
    def sla_left(self) -> timedelta:
        return self.resolve_by - self.now

    def label(self, option: str | None) -> str:
        return dict(self.option_labels).get(option or "", option or "")

    def texts(self) -> dict[str, str]:
        left = self.sla_left
        return {
            "ticket_number": self.number, "status": self.status, "category": self.category, "priority": self.priority,
            "wants": self.desired_outcome or "", "chosen_option": self.label(self.chosen_option),
            "offered_options": "; ".join(self.label(option) for option in self.offered_options),
            "sla_left": duration(max(left, timedelta(0))), "sla_late": duration(max(-left, timedelta(0))),
            "resolve_by": f"{self.resolve_by:%a %d %b %H:%M} UTC", "callback_at": self.callback_at or "",
            "repeat_of": self.repeat_of or "", "order_ref": self.order_ref or "",
        }


def duration(span: timedelta) -> str:
    """``2 h 05 min``, ``35 min``."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def applies(when: Conditions, facts: TicketFacts) -> bool:
    """Whether every condition of ``when`` holds for the ticket."""
    hours_left = facts.sla_left.total_seconds() / 3600
    checks = [
        when.categories is None or facts.category in when.categories,
        when.statuses is None or facts.status in when.statuses,
        when.outcome_kinds is None or facts.outcome_kind in when.outcome_kinds,
        when.chosen_options is None or facts.chosen_option in when.chosen_options,
        when.offered_options is None or bool(set(when.offered_options) & set(facts.offered_options)),
        when.chosen is None or when.chosen == (facts.chosen_option is not None),
        when.rules is None or bool(set(when.rules) & set(facts.rules)),
        when.channels is None or facts.channel in when.channels,
        when.callback is None or when.callback == ("booked" if facts.callback_at else "none"),
        when.repeat is None or when.repeat == (facts.repeat_of is not None),
        when.sla_left_h_below is None or hours_left < when.sla_left_h_below,
        when.sla_left_h_at_least is None or hours_left >= when.sla_left_h_at_least,
        when.emotion_at_least is None or facts.emotion >= when.emotion_at_least,
    ]
    return all(checks)


@dataclass(frozen=True)
class Suggestion:
    id: str
    text: str


def suggest(policy: NextStepsPolicy, facts: TicketFacts) -> list[Suggestion]:
    """The steps that apply to the ticket, in the file's order, at most ``max_shown``."""
    texts = facts.texts()
    found = [Suggestion(step.id, step.text.format(**texts)) for step in policy.steps if applies(step.when, facts)]
    return found[: policy.max_shown]


def option_labels(domain_path: Path = PROJECT_ROOT / "domain.yml") -> tuple[tuple[str, str], ...]:
    """Each option of settings/options.yml with its label (its response in domain.yml), as the
    customer was shown it."""
    responses = yaml.safe_load(domain_path.read_text(encoding="utf-8"))["responses"]
    labels = []
    for option in _options()["options"]:
        variations = responses.get(f"utter_option_{option['id']}") or [{}]
        if "text" in variations[0]:
            labels.append((option["id"], variations[0]["text"]))
    return tuple(labels)


def _options() -> dict[str, Any]:
    return yaml.safe_load((load_settings().config_dir / "options.yml").read_text(encoding="utf-8"))


def check_known(policy: NextStepsPolicy, *, categories: set[str], options: set[str], rules: set[str]) -> None:
    """Refuse a step that names a category, outcome kind, option or rule the other settings do not
    have (a typo would silently never apply)."""
    for step in policy.steps:
        for key, values, known in (("categories", step.when.categories, categories),
                                   ("outcome_kinds", step.when.outcome_kinds, set(OUTCOME_KINDS)),
                                   ("chosen_options", step.when.chosen_options, options),
                                   ("offered_options", step.when.offered_options, options),
                                   ("rules", step.when.rules, rules)):
            unknown = sorted(set(values or ()) - known)
            if unknown:
                raise NextStepsError(f"{POLICY_FILE}: steps[{step.id}].when.{key}: unknown {', '.join(unknown)}")


def parse_next_steps(path: Path) -> NextStepsPolicy:
    return parse_policy_file(path, NextStepsPolicy, NextStepsError, _where)


def _where(raw: Any, loc: tuple[Any, ...]) -> str:
    """A step by its id ("steps[sla_late].when.colour"), not its position."""
    return where_by_id("steps", raw, loc)


@lru_cache(maxsize=1)
def next_steps_policy() -> NextStepsPolicy:
    """The policy from the configured settings folder, read and checked once per process."""
    policy = parse_next_steps(load_settings().config_dir / POLICY_FILE)
    check_known(policy, categories=set(CATEGORIES), options={option["id"] for option in _options()["options"]},
                rules={rule.id for rule in handoff_policy().rules})
    return policy
