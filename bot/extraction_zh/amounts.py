"""Sums of money in Chinese messages: "¥350", "350元", "三百五十块", "人民币1,299.50元".

An amount is a number next to a currency word. 块 is also a measure word ("一块蛋糕", a
piece of cake), so it counts as money only when nothing but 钱 or a particle follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import regex

from bot.extraction_zh.numbers import NUMBER, to_number

CURRENCY = "CNY"
_GROUPED = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_AMOUNT = regex.compile(
    rf"(?:[¥￥]|RMB|CNY|人民币)\s*(?P<before>{_GROUPED}|{NUMBER})\s*(?:元|圆|块钱|块)?"
    rf"|(?P<after>{_GROUPED}|{NUMBER})\s*(?:元|圆|块钱|块(?=$|[钱了的啊吧呢呀嘛多左右买\s\p{{P}}])|(?i:rmb|yuan))"
)


@dataclass(frozen=True)
class Amount:
    """A sum of money and the words that gave it."""

    value: Decimal
    currency: str
    words: str


def find_amounts(text: str) -> list[Amount]:
    """Every sum of money in ``text``, in order."""
    found = []
    for match in _AMOUNT.finditer(text or ""):
        value = to_number(match.group("before") or match.group("after"))
        if value is not None and value > 0:
            found.append(Amount(value, CURRENCY, match.group().strip()))
    return found
