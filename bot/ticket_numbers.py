"""Ticket numbers customers can read aloud, type on a phone and get slightly wrong.

``CX-`` plus six Crockford base-32 characters: no I, L, O or U, so a number read
back over the phone or retyped from memory cannot be confused, and the common
slips (O for 0, I or L for 1, lower case, a missing hyphen) still find the ticket.
Six characters give about a billion numbers; the store still checks uniqueness.
"""

from __future__ import annotations

import re
import secrets

PREFIX = "CX-"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 6

_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SHAPE = re.compile(r"CX[\s._-]*([0-9A-Z][0-9A-Z\s-]*)", re.IGNORECASE)
TICKET_TOKEN = re.compile(r"(?<![\w-])CX[\s._-]?[0-9A-Z]{6}(?![\w-])", re.IGNORECASE)
"""A ticket number as written inside a sentence, slips included (O for 0, lower case)."""


def new_ticket_number() -> str:
    """A fresh random number; unpredictable, so one ticket's number does not reveal another's."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_ticket_number(text: str) -> str | None:
    """The canonical ``CX-XXXXXX`` form of what a customer typed, or None if it is not a number.

    Case, spaces and hyphens are ignored and O, I, L are read as 0, 1, 1, as Crockford
    base 32 prescribes; a U (never issued) or a wrong length is not a ticket number.
    """
    match = _SHAPE.fullmatch(text.strip())
    if match is None:
        return None
    code = re.sub(r"[\s-]", "", match.group(1)).upper().translate(_CONFUSABLE)
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return PREFIX + code


def find_ticket_number(text: str) -> str | None:
    """The ticket number a message mentions, canonical when it can be, else as written.

    A number that cannot be canonical (a U, say) is still returned, upper-cased, so
    the customer is told it was not found rather than shown some other ticket.
    """
    match = TICKET_TOKEN.search(text or "")
    if match is None:
        return None
    return normalise_ticket_number(match.group()) or match.group().upper()
