"""Keep customers' personal data out of the logs.

Log lines are read by more people, kept longer and copied further than tickets are.
A filter on every handler masks email addresses, phone numbers, order references and
Chinese resident ID numbers in the message and its arguments, whatever module wrote it,
and renders the record as one ``key=value`` line so log tools can parse it. Reports that
quote customers' words use :func:`mask` too.
"""

from __future__ import annotations

import logging
import re

from bot.cn_identifiers import MAINLAND_MOBILE, resident_ids
from bot.ticket_numbers import TICKET_TOKEN as _TICKET

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ()-]{6,}\d(?![\w-])")
_ORDER = re.compile(r"(?i)\b(order|ref(?:erence)?|booking|invoice|claim|receipt|account)(\s*(?:no\.?|number|#)?\s*)(?=[A-Z-]*\d)[A-Z0-9][A-Z0-9-]{2,}")
_ORDER_ZH = re.compile(r"(订单编号|订单号|订单|运单号|快递单号|物流单号|单号|编号)(\s*(?:是|为)?\s*[:：#]?\s*)[A-Za-z0-9][A-Za-z0-9-]{2,}")
"""A reference after a Chinese label ("订单号：GR-88210457"): Han characters count as word
characters, so the English pattern's word boundaries do not find it."""

MASK = "***"
STRUCTURED_FORMAT = "time=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def mask(text: str) -> str:
    """The text with emails, phone numbers, order references and resident IDs replaced by ***.

    Ticket numbers stay: they identify the case, not the person, and are what an
    operator needs to follow a problem. Resident IDs go first, before the phone pattern
    can take their digits and leave a trailing X.
    """
    tickets = {match.group(): f"\0{index}\0" for index, match in enumerate(_TICKET.finditer(text))}
    for ticket, placeholder in tickets.items():
        text = text.replace(ticket, placeholder)
    text = _EMAIL.sub(MASK, text)
    for match in reversed(resident_ids(text)):
        text = text[: match.start()] + MASK + text[match.end() :]
    text = _ORDER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _ORDER_ZH.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = MAINLAND_MOBILE.sub(MASK, text)
    text = _PHONE.sub(MASK, text)
    for ticket, placeholder in tickets.items():
        text = text.replace(placeholder, ticket)
    return text


class PrivacyFilter(logging.Filter):
    """Mask personal data in a record, and in its ``extra`` fields, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        for key in _extra_keys(record):
            setattr(record, key, mask(str(getattr(record, key))))
        return True


class StructuredFormatter(logging.Formatter):
    """One ``key=value`` line per record; ``extra`` fields are appended as their own keys."""

    def __init__(self) -> None:
        super().__init__(STRUCTURED_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The line, masked once more whole, since a traceback can quote customer data."""
        line = super().format(record)
        extras = " ".join(f"{key}={getattr(record, key)}" for key in sorted(_extra_keys(record)))
        head, separator, rest = (f"{line} {extras}" if extras else line).partition(" msg=")
        return head + separator + mask(rest)


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [key for key in vars(record) if key not in _STANDARD_ATTRIBUTES]


def install(logger: logging.Logger | None = None) -> None:
    """Put the privacy filter and the structured format on every handler of ``logger``."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, PrivacyFilter) for f in handler.filters):
            handler.addFilter(PrivacyFilter())
            handler.setFormatter(StructuredFormatter())
