"""Numbers written in Chinese numerals, Arabic digits or a mix ("三百五十", "3百5", "350").

Customers write amounts and hours both ways ("三百五十元", "晚上八点"); cn2an reads the
Chinese forms, including 两 and the formal digits on receipts (叁佰伍拾).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import cn2an

CHINESE_DIGITS = "零〇一二两三四五六七八九十百千万亿壹贰貳叁參肆伍陆陸柒捌玖拾佰仟萬億"
NUMBER = rf"(?:\d+(?:\.\d+)?|[{CHINESE_DIGITS}\d]+(?:点[{CHINESE_DIGITS}\d]+)?)"
"""A number as customers write it: digits, Chinese numerals, or a mix of both."""


def to_number(words: str) -> Decimal | None:
    """The value of ``words`` ("三百五十" -> 350, "1,299.5" -> 1299.5), or None if it is none."""
    words = words.replace(",", "").replace("，", "").strip()
    if not words:
        return None
    try:
        return Decimal(words)
    except InvalidOperation:
        pass
    try:
        value = cn2an.cn2an(words, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return Decimal(str(value))
