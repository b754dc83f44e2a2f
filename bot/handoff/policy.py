"""Hand-off policy (``settings/handoff.yml``): the rules that bring in a person, who takes live
chats and when, and how the wait is estimated.

Validated once with pydantic, so a typo (an unknown kind, a priority that is not P1-P4, a
pattern that is not a regular expression) stops start-up with one message naming the rule
and the key, instead of a threat going unnoticed in the middle of a conversation. Each rule
kind is its own class; :meth:`HandoffPolicy.evaluate` asks every rule about one set of
:class:`Facts`, so a rule only ever reads the facts its kind is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Pattern, Union

from pydantic import BaseModel, Field, ValidationError, confloat, conint, conlist, constr, validator

from bot.callbacks.policy import WEEKDAYS, CallbackPolicy
from bot.domain_config import PRIORITIES
from bot.policy_file import check_unique_ids, parse_policy_file, where_by_id
from bot.settings import load_settings

POLICY_FILE = "handoff.yml"
CALLBACK_HOURS = "callbacks"
"""``agents.hours`` value meaning: the business hours of settings/callbacks.yml."""

Priority = Literal["P1", "P2", "P3", "P4"]
RuleId = constr(regex=r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
ResponseName = constr(regex=r"^utter_[a-z0-9_]+$")
Text = constr(strip_whitespace=True, min_length=1)
Names = conlist(str, min_items=1)


class HandoffPolicyError(ValueError):
    """settings/handoff.yml holds a value the hand-off cannot run with."""


@dataclass(frozen=True)
class Facts:
    """What a rule may look at, as far as the caller knows it; what it does not know stays empty.

    ``emotions`` are the scores of the customer's messages since the last hand-off, oldest
    first, the latest last. ``earlier`` holds, for each earlier customer message since then
    (oldest first), the responses the assistant answered it with;
    ``misunderstood`` says the latest message is one the assistant could not understand. ``resolve_deadlines``
    are the resolve deadlines of the customer's open tickets.
    """

    now: datetime
    text: str = ""
    intent: str | None = None
    emotions: tuple[float, ...] = ()
    misunderstood: bool = False
    earlier: tuple[frozenset[str], ...] = ()
    chosen_option: str | None = None
    customer_type: str | None = None
    resolve_deadlines: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class Trigger:
    """A rule that fired, with what it saw (a phrase, an intent, a deadline) for the agent."""

    rule: str
    reason: str
    priority: str | None
    say: str | None
    evidence: str | None = None

    def as_record(self) -> dict[str, str | None]:
        """How the hand-off row keeps it: the rule's id and the evidence (the reason is the policy's)."""
        return {"rule": self.rule, "evidence": self.evidence}


class _Rule(BaseModel):
    id: RuleId  # type: ignore[valid-type]
    reason: Text  # type: ignore[valid-type]
    priority: Priority | None = None
    say: ResponseName | None = None  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False
        allow_population_by_field_name = True
        arbitrary_types_allowed = True

    def check(self, facts: Facts) -> Trigger | None:
        """The trigger when the facts meet this rule, else None."""
        evidence = self._evidence(facts)
        if evidence is None:
            return None
        return Trigger(self.id, self.reason, self.priority, self.say, evidence or None)

    def _evidence(self, facts: Facts) -> str | None:
        """What the rule saw ("" when there is nothing to quote), or None when it does not fire."""
        raise NotImplementedError


class IntentRule(_Rule):
    """The customer's message has one of ``intents`` (asking for a person, in any words the NLU knows)."""

    kind: Literal["intent"]
    intents: Names  # type: ignore[valid-type]

    def _evidence(self, facts: Facts) -> str | None:
        return facts.intent if facts.intent in self.intents else None


class EmotionRule(_Rule):
    """The customer's last ``messages`` messages all read at least ``min_score`` upset."""

    kind: Literal["emotion"]
    min_score: confloat(gt=0, le=1)  # type: ignore[valid-type]
    messages: conint(ge=1, le=20)  # type: ignore[valid-type]

    def _evidence(self, facts: Facts) -> str | None:
        recent = facts.emotions[-self.messages:]
        if len(recent) < self.messages or min(recent) < self.min_score:
            return None
        return "emotion " + ", ".join(f"{score:.2f}" for score in recent)


class FallbackRule(_Rule):
    """The assistant could not understand ``in_a_row`` messages in a row: the latest one, and the
    earlier ones it answered with one of ``responses`` ("Sorry, I didn't get that")."""

    kind: Literal["fallbacks"]
    in_a_row: conint(ge=1, le=10)  # type: ignore[valid-type]
    responses: Names  # type: ignore[valid-type]

    def _evidence(self, facts: Facts) -> str | None:
        if not facts.misunderstood:
            return None
        count = 1
        for replies in reversed(facts.earlier):
            if not replies & set(self.responses):
                break
            count += 1
        return f"{count} messages not understood in a row" if count >= self.in_a_row else None


class OptionRule(_Rule):
    """The remedy the customer chose is one only a person can give."""

    kind: Literal["option"]
    options: Names  # type: ignore[valid-type]

    def _evidence(self, facts: Facts) -> str | None:
        return facts.chosen_option if facts.chosen_option in self.options else None


class CustomerRule(_Rule):
    """The ticket's customer type is one of ``customer_types`` (a VIP)."""

    kind: Literal["customer"]
    customer_types: Names  # type: ignore[valid-type]

    def _evidence(self, facts: Facts) -> str | None:
        return facts.customer_type if facts.customer_type in self.customer_types else None


class ThreatRule(_Rule):
    """A ``patterns`` match in the customer's message once every ``not`` match is taken out."""

    kind: Literal["threat"]
    patterns: conlist(Pattern, min_items=1)  # type: ignore[valid-type]
    not_: list[Pattern] = Field([], alias="not")

    @validator("patterns", "not_", pre=True)
    def _compile(cls, values: list[object]) -> list[Pattern]:  # noqa: N805 (pydantic validator)
        compiled = []
        for value in values or []:
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a pattern (a quoted regular expression)")
            try:
                compiled.append(re.compile(value, re.IGNORECASE))
            except re.error as error:
                raise ValueError(f"{value!r} is not a regular expression: {error}") from None
        return compiled

    def find(self, text: str) -> str | None:
        """The first threatening phrase in ``text``, or None."""
        cleared = normalise(text)
        for pattern in self.not_:
            cleared = pattern.sub(" | ", cleared)
        for pattern in self.patterns:
            match = pattern.search(cleared)
            if match:
                return match.group().strip()
        return None

    def _evidence(self, facts: Facts) -> str | None:
        return self.find(facts.text) if facts.text else None


class SlaRule(_Rule):
    """One of the customer's open tickets is due to be resolved within ``within_hours`` (or is late)."""

    kind: Literal["sla"]
    within_hours: confloat(ge=0)  # type: ignore[valid-type]

    def _evidence(self, facts: Facts) -> str | None:
        limit = facts.now + timedelta(hours=self.within_hours)
        due = sorted(deadline for deadline in facts.resolve_deadlines if deadline <= limit)
        return f"resolve by {due[0].isoformat()}" if due else None


Rule = Annotated[
    Union[IntentRule, EmotionRule, FallbackRule, OptionRule, CustomerRule, ThreatRule, SlaRule],
    Field(discriminator="kind"),
]


class AgentsPolicy(BaseModel):
    """Whether people take live chats at all, and in which hours."""

    live_chat: bool
    hours: Union[Literal["callbacks"], dict[str, list[str]]]

    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("hours")
    def _weekdays(cls, value: object) -> object:  # noqa: N805 (pydantic validator)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(WEEKDAYS))
            if unknown:
                raise ValueError(f"unknown weekday(s) {', '.join(unknown)}; expected {', '.join(WEEKDAYS)}")
        return value

    def opening_hours(self, callbacks: CallbackPolicy) -> CallbackPolicy:
        """The agents' hours as a callback policy (its clock and openings); callbacks.yml's own by default."""
        if self.hours == CALLBACK_HOURS:
            return callbacks
        try:
            return CallbackPolicy.parse_obj({**callbacks.dict(), "business_hours": self.hours})
        except ValidationError as error:
            raise HandoffPolicyError(f"agents.hours: {error.errors()[0]['msg']}") from None


class WaitEstimatePolicy(BaseModel):
    """How much recent evidence a wait estimate needs, and the longest one given as a number."""

    window_minutes: conint(ge=5, le=24 * 60)  # type: ignore[valid-type]
    min_claims: conint(ge=1)  # type: ignore[valid-type]
    max_minutes: conint(ge=1)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False

    @property
    def window(self) -> timedelta:
        """How far back claims count."""
        return timedelta(minutes=self.window_minutes)


class SupervisorsPolicy(BaseModel):
    """When a conversation nobody claims is given to the supervisors."""

    unclaimed_to_supervisors_after_s: conint(ge=30, le=7 * 24 * 3600)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False

    @property
    def unclaimed_wait(self) -> timedelta:
        """How long a hand-off waits in the agents' queue before it is the supervisors'."""
        return timedelta(seconds=self.unclaimed_to_supervisors_after_s)


class HandoffPolicy(BaseModel):
    """The whole of settings/handoff.yml."""

    rules: list[Rule]
    agents: AgentsPolicy
    wait_estimate: WaitEstimatePolicy
    supervisors: SupervisorsPolicy

    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("rules")
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:  # noqa: N805 (pydantic validator)
        if not rules:
            raise ValueError("at least one rule is needed")
        check_unique_ids(rules, "rule")
        return rules

    def evaluate(self, facts: Facts) -> list[Trigger]:
        """Every rule the facts meet, in the file's order."""
        return [trigger for rule in self.rules if (trigger := rule.check(facts)) is not None]

    def reason(self, rule_id: str) -> str | None:
        """The agent-facing reason of a rule, or None for an id the policy no longer has."""
        return next((rule.reason for rule in self.rules if rule.id == rule_id), None)

    def trigger_for(self, rule_id: str, evidence: str | None = None) -> Trigger | None:
        """The trigger of rule ``rule_id`` found earlier (and carried in a slot), or None if unknown."""
        rule = next((rule for rule in self.rules if rule.id == rule_id), None)
        return None if rule is None else Trigger(rule.id, rule.reason, rule.priority, rule.say, evidence)

    @property
    def emotion_window(self) -> int:
        """How many recent messages the emotion rules read at most."""
        return max((rule.messages for rule in self.rules if isinstance(rule, EmotionRule)), default=0)


def normalise(text: str) -> str:
    """The text as patterns read it: typographic apostrophes made plain, white space single."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


def most_urgent(priorities: list[str | None]) -> str:
    """The most urgent of the given priorities (P1 first); P4 when none is given."""
    known = [priority for priority in priorities if priority in PRIORITIES]
    return min(known, key=PRIORITIES.index) if known else PRIORITIES[-1]


def parse_handoff_policy(path: Path) -> HandoffPolicy:
    """Read and validate ``path``; the error names the file, the rule and the key."""
    return parse_policy_file(path, HandoffPolicy, HandoffPolicyError, _where)


def _where(raw: Any, loc: tuple[Any, ...]) -> str:
    """A key as the file's reader finds it: a rule by its id ("rules[legal_threat].patterns"), not its
    position, and without pydantic's name for the rule's kind."""
    return where_by_id("rules", raw, loc, skip=lambda part: part.endswith("Rule"))


@lru_cache(maxsize=1)
def handoff_policy() -> HandoffPolicy:
    """The policy from the configured settings folder, read once per process."""
    return parse_handoff_policy(load_settings().config_dir / POLICY_FILE)
