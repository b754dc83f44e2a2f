"""Who may hear the details of a ticket.

A ticket number is not a secret (it is read out, printed, forwarded), so knowing one
must not be enough to learn what the complaint says. The conversation that filed the
ticket may see it; anyone else must also give the contact on the ticket in the same
message, as a caller would be asked to confirm it on the phone.
"""

from __future__ import annotations

from enum import Enum

from bot.extraction import contacts_in


class Access(Enum):
    """The answer to "may this conversation see this ticket?"."""

    GRANTED = "granted"
    NEED_CONTACT = "need_contact"
    CONTACT_MISMATCH = "contact_mismatch"


def ticket_access(
    *, ticket_sender_id: str, ticket_contact: str | None, sender_id: str, text: str, phone_region: str
) -> Access:
    """GRANTED for the filing conversation or a message that carries the ticket's contact;
    CONTACT_MISMATCH when the message offers a contact that is not the ticket's (or the
    ticket has none to compare with); NEED_CONTACT when it offers none."""
    if sender_id == ticket_sender_id:
        return Access.GRANTED
    offered = contacts_in(text, phone_region)
    if not offered:
        return Access.NEED_CONTACT
    stored = contacts_in(ticket_contact or "", phone_region)
    return Access.GRANTED if offered & stored else Access.CONTACT_MISMATCH
