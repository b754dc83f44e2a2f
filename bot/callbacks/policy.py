"""Callback policy (``settings/callbacks.yml``): business hours, slots, capacity, reminders.

Validated once with pydantic, so a typo (an unknown time zone, a range that ends before
it starts) stops start-up with one message naming the key, instead of offering a
customer a slot nobody will staff.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, conint, validator

from bot.policy_file import parse_policy_file
from bot.settings import load_settings

POLICY_FILE = "callbacks.yml"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class CallbackPolicyError(ValueError):
    """settings/callbacks.yml holds a value callbacks cannot run with."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError for a name zoneinfo does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def _opening(text: str) -> tuple[time, time]:
    """``"09:00-17:00"`` as (start, end); ValueError for anything else or an empty range."""
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an HH:MM-HH:MM range")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day") from None
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


class CallbackPolicy(BaseModel):
    """The rules of settings/callbacks.yml."""

    business_timezone: str
    default_customer_timezone: str
    business_hours: dict[str, list[str]]
    slot_minutes: conint(ge=5, le=240)  # type: ignore[valid-type]
    capacity_per_slot: conint(ge=1, le=1000)  # type: ignore[valid-type]
    slots_offered: conint(ge=1, le=10)  # type: ignore[valid-type]
    lead_minutes: conint(ge=0)  # type: ignore[valid-type]
    horizon_days: conint(ge=1, le=90)  # type: ignore[valid-type]
    reminder_minutes_before: conint(ge=1)  # type: ignore[valid-type]
    missed_after_minutes: conint(ge=0)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("business_timezone", "default_customer_timezone")
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @validator("business_hours")
    def _hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday(s) {', '.join(unknown)}; expected {', '.join(WEEKDAYS)}")
        for day, ranges in value.items():
            spans = sorted(_opening(text) for text in ranges or [])
            for (_, end), (start, _) in zip(spans, spans[1:]):
                if start < end:
                    raise ValueError(f"{day}: opening ranges overlap")
        if not any(value.values()):
            raise ValueError("at least one weekday needs opening hours")
        return value

    @property
    def business_zone(self) -> ZoneInfo:
        """The clock business hours are read on."""
        return zone(self.business_timezone)

    @property
    def default_customer_zone(self) -> ZoneInfo:
        """The clock slots are shown on when the customer's channel names none."""
        return zone(self.default_customer_timezone)

    @property
    def slot_length(self) -> timedelta:
        """How long one call slot lasts, in real time."""
        return timedelta(minutes=self.slot_minutes)

    def openings(self, weekday: int) -> list[tuple[time, time]]:
        """Opening ranges of a weekday (0 = Monday), earliest first, in business local time."""
        return sorted(_opening(text) for text in self.business_hours.get(WEEKDAYS[weekday]) or [])


def parse_callback_policy(path: Path) -> CallbackPolicy:
    """Read and validate ``path``; the error names the file and the bad key."""
    return parse_policy_file(path, CallbackPolicy, CallbackPolicyError)


@lru_cache(maxsize=1)
def callback_policy() -> CallbackPolicy:
    """The policy from the configured settings folder, read once per process."""
    return parse_callback_policy(load_settings().config_dir / POLICY_FILE)
