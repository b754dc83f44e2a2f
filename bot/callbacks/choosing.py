"""What a customer's answer to the slot offer means: a slot to book, or why not and what instead.

Pure: the caller supplies the clock, the policy and the seats taken. A button carries
the slot's start (ISO 8601, UTC); a number picks an offered slot; anything else is read
as a wished time. Nothing is booked for a time in the past, outside business hours, in
a full slot or beyond the booking horizon: the answer says which, with the nearest free
slots after the wished time to offer instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.callbacks.policy import CallbackPolicy
from bot.callbacks.slots import Slot, earliest_start, free_slots, horizon, in_business_hours, is_bookable
from bot.callbacks.when import read_wish

OUTCOMES = ("book", "past", "outside_hours", "closed_day", "full", "too_far", "unreadable", "no_slots")


@dataclass(frozen=True)
class Choice:
    """``outcome`` is one of :data:`OUTCOMES`; ``slot`` is set for "book"; ``alternatives`` otherwise."""

    outcome: str
    slot: Slot | None = None
    alternatives: tuple[Slot, ...] = field(default_factory=tuple)


def parse_slot_payload(value: str) -> datetime | None:
    """The slot start a button carried, or None if it is not an aware ISO 8601 moment."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        return None
    return moment if moment.tzinfo is not None and moment.utcoffset() is not None else None


def _offered_by_number(text: str, offered: Sequence[str]) -> datetime | None:
    """A slot picked by its position in the offer ("2", "#2", "option 2")."""
    digits = text.strip().lstrip("#").removeprefix("option").strip().rstrip(".")
    if digits.isdigit() and 1 <= int(digits) <= len(offered):
        return parse_slot_payload(offered[int(digits) - 1])
    return None


def _same_day(slot: Slot, moment: datetime, zone: ZoneInfo) -> bool:
    return slot.start.astimezone(zone).date() == moment.astimezone(zone).date()


def choose(
    *,
    answer: str,
    offered: Sequence[str],
    now: datetime,
    policy: CallbackPolicy,
    taken: Mapping[datetime, int],
    customer_zone: ZoneInfo,
) -> Choice:
    """Decide what ``answer`` books (see the module docstring)."""
    picked = parse_slot_payload(answer) or _offered_by_number(answer, offered)
    if picked is not None:
        return _exact_slot(picked, now, policy, taken)
    wish = read_wish(answer, now, customer_zone)
    if wish is None:
        return Choice("unreadable", alternatives=tuple(free_slots(policy, now, taken)))
    wished = wish.at
    if wish.exact and wished < now:
        return Choice("past", alternatives=tuple(free_slots(policy, now, taken)))
    if not wish.exact and wished.astimezone(customer_zone).date() < now.astimezone(customer_zone).date():
        return Choice("past", alternatives=tuple(free_slots(policy, now, taken)))
    if wished > horizon(policy, now):
        return Choice("too_far", alternatives=tuple(free_slots(policy, now, taken)))
    after = max(wished, now)
    alternatives = tuple(free_slots(policy, now, taken, after=after))
    if wish.exact and not in_business_hours(policy, wished):
        return Choice("outside_hours", alternatives=alternatives)
    if alternatives and _same_day(alternatives[0], after, customer_zone):
        return Choice("book", slot=alternatives[0])
    if not alternatives:
        return Choice("no_slots")
    if not wish.exact and not _has_hours_on(policy, after, customer_zone):
        return Choice("closed_day", alternatives=alternatives)
    return Choice("full", alternatives=alternatives)


def _has_hours_on(policy: CallbackPolicy, moment: datetime, customer_zone: ZoneInfo) -> bool:
    """Whether the business opens at all on the customer's day of ``moment``."""
    local = moment.astimezone(customer_zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    probe = start
    while probe < start + timedelta(days=1):
        if in_business_hours(policy, probe):
            return True
        probe += timedelta(minutes=policy.slot_minutes)
    return False


def _exact_slot(start: datetime, now: datetime, policy: CallbackPolicy, taken: Mapping[datetime, int]) -> Choice:
    """A slot named exactly (a button): bookable if it is still ahead, in hours and not full."""
    alternatives = tuple(free_slots(policy, now, taken))
    if start < earliest_start(policy, now):
        return Choice("past", alternatives=alternatives)
    slot = is_bookable(policy, now, start)
    if slot is None:
        return Choice("outside_hours", alternatives=alternatives)
    if taken.get(slot.start, 0) >= policy.capacity_per_slot:
        return Choice("full", alternatives=tuple(free_slots(policy, now, taken, after=start)) or alternatives)
    return Choice("book", slot=slot)
