"""Callback slots: pure functions of the policy, the clock and the seats already taken.

Slots are laid out on the business's wall clock (09:00, 09:30, ... local time), because
that is when the team works, and converted to UTC one by one. On a daylight-saving
change a wall-clock time that does not exist (01:30 on the last Sunday of March in
London) yields no slot, and one that happens twice (01:30 on the last Sunday of
October) yields one slot, at its first occurrence, so no slot is ever offered twice or
at a moment that never comes. A slot lasts ``slot_minutes`` of real time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.callbacks.policy import CallbackPolicy

UTC = timezone.utc


@dataclass(frozen=True, order=True)
class Slot:
    """One bookable period; both ends are aware UTC moments."""

    start: datetime
    end: datetime

    def iso(self) -> str:
        """The slot's identity in payloads and slots: its start in UTC, ISO 8601."""
        return self.start.astimezone(UTC).isoformat()


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("slot arithmetic needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def existing_local(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The first real moment showing ``wall`` on the clock of ``zone``, or None if the clock skips it."""
    candidate = wall.replace(tzinfo=zone, fold=0)
    if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
        return None
    return candidate


def day_slots(policy: CallbackPolicy, day: date) -> list[Slot]:
    """Every slot of one business day (business local date), whether free or not."""
    zone = policy.business_zone
    slots: list[Slot] = []
    for opens, closes in policy.openings(day.weekday()):
        wall = datetime.combine(day, opens)
        closing = datetime.combine(day, closes)
        while wall + policy.slot_length <= closing:
            start = existing_local(wall, zone)
            if start is not None:
                start_utc = start.astimezone(UTC)
                slots.append(Slot(start_utc, start_utc + policy.slot_length))
            wall += policy.slot_length
    return sorted(slots)


def slots_between(policy: CallbackPolicy, start: datetime, end: datetime) -> Iterator[Slot]:
    """Slots starting at or after ``start`` and before ``end``, earliest first."""
    start, end = _require_aware(start), _require_aware(end)
    zone = policy.business_zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        for slot in day_slots(policy, day):
            if start <= slot.start < end:
                yield slot
        day += timedelta(days=1)


def earliest_start(policy: CallbackPolicy, now: datetime) -> datetime:
    """The first moment a slot may start: now plus the preparation lead time."""
    return _require_aware(now) + timedelta(minutes=policy.lead_minutes)


def horizon(policy: CallbackPolicy, now: datetime) -> datetime:
    """The last moment a slot may start."""
    return _require_aware(now) + timedelta(days=policy.horizon_days)


def free_slots(
    policy: CallbackPolicy,
    now: datetime,
    taken: Mapping[datetime, int],
    *,
    after: datetime | None = None,
    limit: int | None = None,
) -> list[Slot]:
    """Slots a customer may book: in business hours, not before the lead time, not full.

    ``taken`` counts the active bookings per slot start (UTC); ``after`` starts the
    search later than now (the customer asked for "tomorrow after 3"). At most
    ``limit`` slots (default: how many the policy offers).
    """
    begin = max(earliest_start(policy, now), _require_aware(after) if after else earliest_start(policy, now))
    wanted = policy.slots_offered if limit is None else limit
    found: list[Slot] = []
    for slot in slots_between(policy, begin, horizon(policy, now)):
        if taken.get(slot.start, 0) < policy.capacity_per_slot:
            found.append(slot)
            if len(found) >= wanted:
                break
    return found


def is_bookable(policy: CallbackPolicy, now: datetime, slot_start: datetime) -> Slot | None:
    """The slot starting exactly at ``slot_start`` if it is in hours, ahead of the lead time and within the horizon."""
    start = _require_aware(slot_start)
    if not earliest_start(policy, now) <= start <= horizon(policy, now):
        return None
    zone = policy.business_zone
    for slot in day_slots(policy, start.astimezone(zone).date()):
        if slot.start == start:
            return slot
    return None


def in_business_hours(policy: CallbackPolicy, moment: datetime) -> bool:
    """Whether ``moment`` falls inside the business's opening hours (local time of the business)."""
    local = _require_aware(moment).astimezone(policy.business_zone)
    return any(opens <= local.time() < closes for opens, closes in policy.openings(local.weekday()))


def slot_label(slot: Slot, customer_zone: ZoneInfo) -> str:
    """The slot as the customer reads it, on their own clock: ``Tue 1 Dec, 14:00 GMT``."""
    local = slot.start.astimezone(customer_zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M} {local.tzname()}"


def hours_label(policy: CallbackPolicy) -> str:
    """Opening hours in short form, equal weekdays joined: ``Mon–Fri 09:00–17:00, Sat 10:00–13:00 (Europe/London)``."""
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    runs: list[tuple[int, int, str]] = []
    for weekday in range(7):
        spans = ", ".join(f"{opens:%H:%M}–{closes:%H:%M}" for opens, closes in policy.openings(weekday))
        if runs and runs[-1][2] == spans and runs[-1][1] == weekday - 1:
            runs[-1] = (runs[-1][0], weekday, spans)
        else:
            runs.append((weekday, weekday, spans))
    parts = [
        (names[first] if first == last else f"{names[first]}–{names[last]}") + f" {spans}"
        for first, last, spans in runs
        if spans
    ]
    return f"{', '.join(parts)} ({policy.business_timezone})"
