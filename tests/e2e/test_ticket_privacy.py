"""Ticket status by number: details only for the conversation that filed the ticket, or
for whoever gives the ticket's contact in the same message; a polite refusal otherwise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.tickets import TicketStore
from scripted.driver import load_customers
from tests.e2e.support import converse
from scripts.stack import Stack

DOMAIN = yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))


def template(response_name: str) -> str:
    return DOMAIN["responses"][response_name][0]["text"]


def say(stack: Stack, sender: str, text: str) -> list[str]:
    async def go() -> list[str]:
        headers = {"Authorization": f"Bearer {stack.channel_token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            body = {"sender": sender, "message": text}
            async with session.post(f"{stack.rasa_urls[0]}/webhooks/rest/webhook", json=body) as response:
                assert response.status == 200
                return [reply.get("text", "") for reply in await response.json()]
    return asyncio.run(go())


@pytest.fixture(scope="module")
def filed(stack: Stack, e2e_store: TicketStore) -> tuple[str, str]:
    """A ticket filed by the first scripted customer (email contact): its number and contact."""
    result = converse(stack, stack.rasa_urls[0], "privacy-owner", load_customers()[0])
    assert result.ticket_number, result.transcript
    ticket = e2e_store.get(result.ticket_number)
    assert ticket.contact == "jane.morris@example.com"
    return result.ticket_number, ticket.contact


def is_status(reply: str, number: str) -> bool:
    return reply.startswith(f"Ticket {number} (")


def test_the_filing_conversation_hears_the_status(stack: Stack, filed: tuple[str, str]) -> None:
    number, _ = filed
    replies = say(stack, "privacy-owner", f"what is the status of ticket {number}?")
    assert any(is_status(reply, number) for reply in replies), replies


def test_another_conversation_is_refused_politely(stack: Stack, filed: tuple[str, str]) -> None:
    number, _ = filed
    replies = say(stack, "privacy-stranger", f"what is the status of ticket {number}?")
    assert replies == [template("utter_ticket_status_not_yours").replace("{ticket_number}", number)]


def test_a_wrong_contact_is_refused(stack: Stack, filed: tuple[str, str]) -> None:
    number, _ = filed
    replies = say(stack, "privacy-guesser", f"status of ticket {number}, my email is someone.else@example.com")
    assert replies == [template("utter_ticket_status_contact_mismatch").replace("{ticket_number}", number)]


def test_the_tickets_contact_opens_it_from_another_conversation(stack: Stack, filed: tuple[str, str]) -> None:
    number, contact = filed
    replies = say(stack, "privacy-owner-on-phone", f"status of ticket {number}, my email is {contact.upper()}")
    assert any(is_status(reply, number) for reply in replies), replies
