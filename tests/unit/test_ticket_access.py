"""Who may hear a ticket's details: the filing conversation, or whoever gives its contact."""

from __future__ import annotations

import pytest

from bot.extraction import contacts_in
from bot.ticket_access import Access, ticket_access


def access(sender_id: str, text: str, contact: str | None = "+447911123456") -> Access:
    return ticket_access(
        ticket_sender_id="web:abc", ticket_contact=contact, sender_id=sender_id, text=text, phone_region="GB"
    )


def test_the_filing_conversation_sees_its_ticket_without_a_contact() -> None:
    assert access("web:abc", "status of CMP-2026-000123") is Access.GRANTED


def test_another_conversation_is_asked_for_the_contact() -> None:
    assert access("tg:99", "status of CMP-2026-000123") is Access.NEED_CONTACT


@pytest.mark.parametrize("text", ["CMP-2026-000123 07911 123456", "ticket CMP-2026-000123, my number is +44 7911 123456"])
def test_the_tickets_phone_in_any_format_opens_it(text: str) -> None:
    assert access("tg:99", text) is Access.GRANTED


def test_the_tickets_email_opens_it_whatever_its_case() -> None:
    assert access("tg:99", "CMP-2026-000123 Jane.Morris@Example.com", contact="jane.morris@example.com") is Access.GRANTED


def test_another_contact_is_refused() -> None:
    assert access("tg:99", "CMP-2026-000123 07912 654321") is Access.CONTACT_MISMATCH


def test_a_ticket_without_a_contact_opens_to_nobody_else() -> None:
    assert access("tg:99", "CMP-2026-000123 07911 123456", contact=None) is Access.CONTACT_MISMATCH


def test_contacts_are_found_in_their_stored_forms() -> None:
    assert contacts_in("call 07911 123456 or mail A.B@Example.org", "GB") == {"+447911123456", "a.b@example.org"}
    assert contacts_in("order 88412 on the 3rd", "GB") == set()
