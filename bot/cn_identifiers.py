"""Chinese personal numbers found in free text: resident ID numbers and mainland mobiles.

Chinese customers write these inside sentences without spaces ("我的手机13812345678"), so
the patterns look only at ASCII letters and digits around a number, never at the Han
characters next to it. A resident ID is 18 characters whose last one is a check digit
(GB 11643-1999, ISO 7064 MOD 11-2; 10 is written X): an 18-digit order number is almost
never a valid ID, so only numbers whose check digit is right count as IDs.
"""

from __future__ import annotations

import re

RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
"""Where a resident ID may be; :func:`is_resident_id` says whether it is one."""
MAINLAND_MOBILE = re.compile(r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z])")
"""A mainland mobile number (11 digits from 13x to 19x), with or without +86, in blocks of
3-4-4 or unbroken."""

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


def resident_id_check_character(first_17: str) -> str:
    """The check character of a resident ID from its first 17 digits."""
    if len(first_17) != 17 or not first_17.isdigit():
        raise ValueError("a resident ID has 17 digits before its check character")
    total = sum(int(digit) * weight for digit, weight in zip(first_17, _WEIGHTS))
    return _CHECK_CHARACTERS[total % 11]


def is_resident_id(value: str) -> bool:
    """Whether ``value`` is an 18-character resident ID with the right check character."""
    value = value.strip().upper()
    if not re.fullmatch(r"\d{17}[0-9X]", value):
        return False
    return resident_id_check_character(value[:17]) == value[17]


def resident_ids(text: str) -> list[re.Match[str]]:
    """The valid resident ID numbers in ``text``."""
    return [match for match in RESIDENT_ID.finditer(text) if is_resident_id(match.group())]
