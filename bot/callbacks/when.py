"""Reading a customer's wish for a call time ("tomorrow after 3") on their own clock.

dateparser reads the day ("tomorrow", "Friday", "3 Dec") but drops a bare hour ("after
3") and misreads "at 3" as a day of the month, so the time of day is taken out first
and read here: a bare hour from 1 to 7 is the afternoon (nobody asks for a call at 3 in
the night), "morning", "afternoon" and "evening" start at 00:00, 12:00 and 17:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from dateparser.search import search_dates

_TIME = re.compile(
    r"\b(?:(?:at|after|from|around|about|by|for)\s+)?"
    r"(?P<hour>[01]?\d|2[0-3])(?:[:.h](?P<minute>[0-5]\d))?\s*(?P<half>a\.?m\.?|p\.?m\.?|o'?clock)?(?=\W|$)",
    re.IGNORECASE,
)
_PARTS_OF_DAY = {"morning": time(0, 0), "afternoon": time(12, 0), "evening": time(17, 0), "noon": time(12, 0), "midday": time(12, 0)}
_PART_OF_DAY = re.compile(r"\b(" + "|".join(_PARTS_OF_DAY) + r")\b", re.IGNORECASE)
_NOW = re.compile(r"\b(now|asap|as soon as possible|soonest|earliest|any ?time|whenever)\b", re.IGNORECASE)
_AFTERNOON_HOURS = range(1, 8)


@dataclass(frozen=True)
class Wish:
    """The earliest moment the customer wants the call (aware), and whether they named a clock time.

    ``exact`` is False for a day or a part of a day ("tomorrow", "Friday morning", "now"):
    then any slot from ``at`` on that day will do.
    """

    at: datetime
    exact: bool


def _time_of_day(text: str) -> tuple[time | None, bool, str]:
    """The time of day named in ``text``, whether it is a clock time, and the text without it."""
    for match in _TIME.finditer(text):
        hour = int(match.group("hour"))
        minute = int(match.group("minute") or 0)
        half = (match.group("half") or "").lower().replace(".", "")
        introduced = match.group(0).lower().split()[0] in {"at", "after", "from", "around", "about", "by", "for"}
        if not (half or match.group("minute") or introduced):
            continue
        if half == "pm" and hour < 12:
            hour += 12
        elif half == "am" and hour == 12:
            hour = 0
        elif not half.startswith(("a", "p")) and hour in _AFTERNOON_HOURS:
            hour += 12
        return time(hour, minute), True, (text[: match.start()] + " " + text[match.end():]).strip()
    part = _PART_OF_DAY.search(text)
    if part:
        return _PARTS_OF_DAY[part.group(1).lower()], False, (text[: part.start()] + " " + text[part.end():]).strip()
    return None, False, text


def read_wish(text: str, now: datetime, customer_zone: ZoneInfo) -> Wish | None:
    """When the customer wants the call, read on their clock relative to ``now``; None if no time is there.

    The moment may be in the past or outside business hours: judging it is the caller's job.
    """
    text = " ".join((text or "").split())
    if not text:
        return None
    local_now = now.astimezone(customer_zone)
    if _NOW.search(text):
        return Wish(now, exact=False)
    when, exact, rest = _time_of_day(text)
    day = local_now.date()
    rest = rest.strip(" ,.;!?")
    if rest:
        found = search_dates(
            rest,
            languages=["en"],
            settings={"PREFER_DATES_FROM": "future", "RELATIVE_BASE": local_now.replace(tzinfo=None)},
        )
        if found:
            day = found[0][1].date()
        elif when is None:
            return None
    if when is None:
        if day == local_now.date():
            return Wish(now, exact=False)
        when = time(0, 0)
    return Wish(datetime.combine(day, when).replace(tzinfo=customer_zone), exact=exact)
