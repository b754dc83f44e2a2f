"""Order references and mainland mobile numbers in Chinese messages.

A reference follows a label ("订单号：88412", "单号 GR-88210457") or is in a shop's own
format anywhere ("GR-88210457"). Han characters are word characters to a regular
expression, so the patterns bound a reference by ASCII letters and digits only. A mobile
number is found by its shape and confirmed by phonenumbers for region CN.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from bot.cn_identifiers import MAINLAND_MOBILE, is_resident_id
from bot.ticket_numbers import TICKET_TOKEN

MIN_REF_LENGTH = 3
_FORMATTED = re.compile(r"(?<![0-9A-Za-z-])[A-Za-z]{1,5}-\d{3,}(?:-\d{2,})*(?![0-9A-Za-z-])")
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


@functools.lru_cache(maxsize=8)
def _labelled(labels: tuple[str, ...]) -> re.Pattern[str]:
    label = "|".join(map(re.escape, labels))
    return re.compile(rf"(?:{label})\s*(?:是|为|:|：|#|＃)?\s*([A-Za-z0-9][A-Za-z0-9-]*)(?![0-9A-Za-z])")


def _reference(token: str) -> str | None:
    value = token.strip("-").upper()
    if len(value) < MIN_REF_LENGTH or not any(ch.isdigit() for ch in value):
        return None
    if TICKET_TOKEN.fullmatch(value) or is_resident_id(value):
        return None
    return value


def find_order_ref(text: str, labels: tuple[str, ...]) -> tuple[str, tuple[int, int]] | None:
    """The first labelled or formatted reference in ``text``, upper-cased, with its span.

    A labelled number is a reference even when it looks like a phone number: the customer
    said what it is. A resident ID is never taken for one (it must not be stored as such).
    """
    candidates = []
    for match in _labelled(labels).finditer(text):
        value = _reference(match.group(1))
        if value:
            candidates.append((match.start(), value, match.span()))
    for match in _FORMATTED.finditer(text):
        value = _reference(match.group())
        if value:
            candidates.append((match.start(), value, match.span()))
    if not candidates:
        return None
    _, value, span = min(candidates)
    return value, span


def mobile_number(candidate: str) -> str | None:
    """``candidate`` as an E.164 mainland mobile number, or None if it is not one."""
    try:
        number = phonenumbers.parse(candidate, "CN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_mobiles(text: str) -> list[tuple[tuple[int, int], str]]:
    """Every valid mainland mobile number in ``text``: its span and its E.164 form."""
    found = []
    for match in MAINLAND_MOBILE.finditer(text):
        e164 = mobile_number(match.group())
        if e164:
            found.append((match.span(), e164))
    return found
