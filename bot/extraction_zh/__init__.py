"""Complaint details in Chinese messages: when, where, which order, what number, how much.

The English extractor (``bot.extraction``) reads words between spaces; Chinese has none,
so these readers find a detail by the words around it (a label, a venue word, a date
word) and bound numbers by ASCII characters only. Each reader is usable alone; the
:func:`find_details` summary reads them in an order that lets no two claim the same
characters (a reference or phone number is never read again as a date or an amount).
Which details become slots (only when asked, or always) is the dialogue's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.cn_identifiers import resident_ids
from bot.extraction_zh.amounts import Amount, find_amounts
from bot.extraction_zh.dates import Moment, find_moment
from bot.extraction_zh.lexicon import ChineseLexicon, load_chinese_lexicon
from bot.extraction_zh.places import find_place
from bot.extraction_zh.references import find_mobiles, find_order_ref

__all__ = [
    "Amount", "ChineseDetails", "ChineseLexicon", "Moment", "find_amounts", "find_details", "find_mobiles",
    "find_moment", "find_order_ref", "find_place", "load_chinese_lexicon",
]


@dataclass(frozen=True)
class ChineseDetails:
    """What one Chinese message says about the complaint."""

    moment: Moment | None
    order_ref: str | None
    mobiles: tuple[str, ...]
    place: str | None
    amounts: tuple[Amount, ...]

    def slot_values(self, now: datetime) -> tuple[dict[str, str], dict[str, str]]:
        """The form's slot values, and problems (a date still to come), as ``bot.extraction`` names them."""
        values: dict[str, str] = {}
        problems: dict[str, str] = {}
        if self.moment and self.moment.day > now.date():
            problems["incident_date"] = "future_date"
        elif self.moment:
            values["incident_date"] = self.moment.day.isoformat()
        if self.order_ref:
            values["order_ref"] = self.order_ref
        if self.place:
            values["incident_location"] = self.place
        if self.mobiles:
            values["contact"], values["contact_kind"] = self.mobiles[0], "phone"
        return values, problems


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def find_details(text: str, *, now: datetime, lexicon: ChineseLexicon) -> ChineseDetails:
    """Every detail of ``text``; dates are resolved against ``now`` (aware, the message's zone)."""
    text = text or ""
    claimed = [match.span() for match in resident_ids(text)]
    reference = find_order_ref(_blank(text, claimed), lexicon.order_labels)
    if reference:
        claimed.append(reference[1])
    mobiles = find_mobiles(_blank(text, claimed))
    claimed += [span for span, _ in mobiles]
    rest = _blank(text, claimed)
    return ChineseDetails(
        moment=find_moment(rest, now, lexicon),
        order_ref=reference[0] if reference else None,
        mobiles=tuple(e164 for _, e164 in mobiles),
        place=find_place(rest, lexicon),
        amounts=tuple(find_amounts(rest)),
    )
