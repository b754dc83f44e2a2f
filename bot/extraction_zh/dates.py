"""When it happened, in Chinese: "昨天", "上周二", "3号", "11月3日晚上八点".

dateparser reads Chinese relative days (今天, 昨天, 前天, 3天前, 上个月) and full dates
with a year, but not a month and day without a year ("11月3日" gives nothing), nor "3号"
(and it takes "3日" for three days ago), nor "上周二", nor hours in Chinese numerals. So the
phrase is found here, Chinese numerals before a date or time word become digits (cn2an),
a date the customer left open is put in the past as they mean it, and dateparser parses
the completed phrase against the customer's own clock (``now``, in the message's time
zone).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import dateparser
import regex

from bot.extraction_zh.lexicon import ChineseLexicon
from bot.extraction_zh.numbers import to_number

_CLOCK_END = r"(?=\d|[零一二三四五六七八九十半钟鐘多整过過左前后後，。！？、,.!?；;\s]|$)"
"""What may follow 点 when it tells the hour without a time-of-day word before it: "八点半",
"八点钟", "八点。" but not "一点也不" or "差一点就"."""
_CHINESE_NUMERAL = "[零〇一二两三四五六七八九十]{1,3}"
_FULL = regex.compile(r"(?:(\d{4})年)?(?<!\d)(\d{1,2})月(\d{1,2})(?:日|号|號)?")
_WEEK = regex.compile(r"(上上|上|这|這|本|下)?个?(?:周|星期|礼拜|禮拜)([一二三四五六日天1-7])")
_RELATIVE = regex.compile(r"大前天|前天|昨天|昨日|昨晚|昨夜|今天|今日|今早|今晚|\d+(?:天|周|个月)前|上周|上个月")
_DAY = regex.compile(r"(?<![\d月])(\d{1,2})(?:号|號|日)(?!\d)")
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEK_OFFSETS = {"上上": -14, "上": -7, "这": 0, "這": 0, "本": 0, "下": 7, "": 0}
_SAME_AS = {"大前天": "3天前", "昨日": "昨天", "昨晚": "昨天", "昨夜": "昨天", "今日": "今天", "今早": "今天", "今晚": "今天"}
"""Relative days dateparser does not know, as the words it does."""


@dataclass(frozen=True)
class Moment:
    """A day, maybe a time of day, and the words (Chinese numerals as digits) that gave them."""

    day: date
    time: time | None
    words: str

    def at(self, now: datetime) -> datetime | None:
        """The moment in ``now``'s time zone, when a time of day was given."""
        return datetime.combine(self.day, self.time, tzinfo=now.tzinfo) if self.time else None


@functools.lru_cache(maxsize=8)
def _numerals(time_of_day: tuple[str, ...]) -> regex.Pattern[str]:
    words = "|".join(map(regex.escape, time_of_day))
    return regex.compile(
        rf"{_CHINESE_NUMERAL}(?=个月|個月|月|日|号|號|时|時|分|天|周|星期)"
        rf"|(?<=(?:{words})){_CHINESE_NUMERAL}(?=[点點])"
        rf"|{_CHINESE_NUMERAL}(?=[点點]{_CLOCK_END})"
    )


def with_digits(text: str, lexicon: ChineseLexicon) -> str:
    """``text`` with Chinese numerals before a date or time word as digits ("十一月三日晚上八点"
    -> "11月3日晚上8点"); "一点" stays unless it tells the hour."""
    pattern = _numerals(lexicon.afternoon_words + lexicon.morning_words)
    return pattern.sub(lambda match: str(int(to_number(match.group()) or 0)), text)


def _parse(phrase: str, now: datetime) -> date | None:
    settings = {"RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "past",
                "RETURN_AS_TIMEZONE_AWARE": False}
    moment = dateparser.parse(phrase, languages=["zh"], settings=settings)
    return moment.date() if moment else None


def _in_past(year: int | None, month: int, day: int, today: date) -> date | None:
    """The date with the year the customer left out: this year's, unless that is still to come."""
    try:
        found = date(year or today.year, month, day)
        if year is None and found > today:
            found = date(today.year - 1, month, day)
    except ValueError:
        return None
    return found


def _latest_day_of_month(day: int, today: date) -> date | None:
    """The most recent date on or before ``today`` that falls on day-of-month ``day``."""
    first = today.replace(day=1)
    for _ in range(13):
        try:
            found = first.replace(day=day)
            if found <= today:
                return found
        except ValueError:
            pass
        first = (first - timedelta(days=1)).replace(day=1)
    return None


def _date(text: str, now: datetime) -> tuple[date, regex.Match[str]] | None:
    today = now.date()
    full = _FULL.search(text)
    if full:
        found = _in_past(int(full.group(1)) if full.group(1) else None, int(full.group(2)), int(full.group(3)), today)
        parsed = _parse(f"{found.year}年{found.month}月{found.day}日", now) if found else None
        return (parsed, full) if parsed else None
    week = _WEEK.search(text)
    if week:
        weekday = _WEEKDAYS.get(week.group(2), int(week.group(2)) - 1 if week.group(2).isdigit() else 0)
        monday = today - timedelta(days=today.weekday())
        if week.group(1):
            return monday + timedelta(days=_WEEK_OFFSETS[week.group(1)] + weekday), week
        return today - timedelta(days=(today.weekday() - weekday) % 7), week
    relative = _RELATIVE.search(text)
    if relative:
        parsed = _parse(_SAME_AS.get(relative.group(), relative.group()), now)
        return (parsed, relative) if parsed else None
    day = _DAY.search(text)
    if day:
        found = _latest_day_of_month(int(day.group(1)), today)
        return (found, day) if found else None
    return None


def _time(text: str, lexicon: ChineseLexicon) -> tuple[time, regex.Match[str]] | None:
    words = "|".join(map(regex.escape, lexicon.afternoon_words + lexicon.morning_words))
    match = regex.search(
        rf"({words})?(?<!\d)(\d{{1,2}})(?:[点點时時](?(1)|{_CLOCK_END})|[:：](?=\d))(?:(\d{{1,2}})分?|(半)|(一刻)|(三刻))?",
        text,
    )
    if not match:
        return None
    hour = int(match.group(2))
    minute = int(match.group(3)) if match.group(3) else 30 if match.group(4) else 15 if match.group(5) else 45 if match.group(6) else 0
    if match.group(1) in lexicon.afternoon_words and hour < 12:
        hour += 12
    elif match.group(1) in lexicon.morning_words and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute), match


def find_moment(text: str, now: datetime, lexicon: ChineseLexicon) -> Moment | None:
    """When the customer says it happened, resolved against ``now`` (aware, the message's zone).

    A time without a day is today's if it has passed, else yesterday's ("晚上八点" said
    in the morning is last night).
    """
    text = with_digits(text or "", lexicon)
    found_date = _date(text, now)
    found_time = _time(text, lexicon)
    if not found_date and not found_time:
        return None
    if found_date:
        day = found_date[0]
    else:
        day = now.date() if found_time[0] <= now.time().replace(tzinfo=None) else now.date() - timedelta(days=1)
    spans = sorted(match.span() for match in (found_date and found_date[1], found_time and found_time[1]) if match)
    words = " ".join(text[start:end] for start, end in spans)
    if len(spans) == 2 and spans[0][1] >= spans[1][0]:
        words = text[spans[0][0] : max(spans[0][1], spans[1][1])]
    return Moment(day, found_time[0] if found_time else None, words)
