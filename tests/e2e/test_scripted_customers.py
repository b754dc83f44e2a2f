"""Scripted customers talk to the running servers over REST; each must end with a
ticket whose 5W1H fields are filled and correct, after at least three choices."""

from __future__ import annotations

import asyncio
import statistics
from datetime import datetime, timezone

import aiohttp
import pytest

from bot.tickets import TicketStore
from scripted.driver import ConversationResult, expected_date, load_customers, run_scripted_conversation
from scripts.stack import Stack

CUSTOMERS = load_customers()
FIVE_W_ONE_H = (
    "customer_name", "complaint_product", "problem_description", "incident_date_text", "incident_location",
    "order_ref", "people_involved", "impact", "desired_outcome", "contact",
)
CONCURRENCY = 6
SUMMARY: list[str] = []
"""Lines for the end-of-run summary (see conftest.pytest_terminal_summary)."""


@pytest.fixture(scope="module")
def conversations(stack: Stack) -> dict[str, ConversationResult]:
    async def run_all() -> dict[str, ConversationResult]:
        limit = asyncio.Semaphore(CONCURRENCY)
        async with aiohttp.ClientSession() as session:
            async def one(index: int, customer: dict) -> ConversationResult:
                async with limit:
                    url = stack.rasa_urls[index % len(stack.rasa_urls)]
                    return await run_scripted_conversation(session, url, f"scripted-{customer['id']}", customer)
            results = await asyncio.gather(*(one(i, c) for i, c in enumerate(CUSTOMERS)))
        return {c["id"]: r for c, r in zip(CUSTOMERS, results)}

    results = asyncio.run(run_all())
    turns = [r.turns for r in results.values() if r.ticket_number]
    SUMMARY.append(
        f"scripted customers: {len(turns)}/{len(results)} filed; "
        f"median customer turns to a filed ticket: {statistics.median(turns) if turns else 'n/a'}"
    )
    return results


def test_there_are_at_least_twenty_customers() -> None:
    assert len(CUSTOMERS) >= 20
    assert len({c["id"] for c in CUSTOMERS}) == len(CUSTOMERS)


@pytest.mark.parametrize("customer", CUSTOMERS, ids=[c["id"] for c in CUSTOMERS])
def test_customer_ends_with_a_correct_ticket(
    customer: dict, conversations: dict[str, ConversationResult], e2e_store: TicketStore
) -> None:
    result = conversations[customer["id"]]
    assert result.errors == 0, result.transcript
    assert result.ticket_number, f"no ticket after {result.turns} turns:\n{result.transcript}"
    assert result.options_offered >= 3, result.transcript
    ticket = e2e_store.get(result.ticket_number)
    assert ticket is not None
    for field in FIVE_W_ONE_H:
        assert getattr(ticket, field), f"{field} is empty in {ticket}"
    assert customer["opening"][0] in ticket.narrative
    today = datetime.now(timezone.utc).date()
    for field, expected in customer["expect"].items():
        actual = getattr(ticket, "incident_date_text" if field == "incident_date" else field)
        if field == "incident_date":
            expected = expected_date(expected, today)
        if field == "complaint_product":
            assert expected.lower() in str(actual).lower(), (field, actual)
        elif isinstance(expected, list):
            assert actual in expected, (field, actual, expected, result.transcript)
        else:
            assert actual == expected, (field, actual, expected, result.transcript)
    assert ticket.chosen_option in ticket.offered_options
    assert "human_agent" in ticket.offered_options
    assert ticket.sla_close_by > ticket.created_at


def test_conversations_live_in_the_shared_redis_tracker_store(
    conversations: dict[str, ConversationResult], stack: Stack
) -> None:
    import redis

    client = redis.Redis(host=stack.env["REDIS_HOST"], port=int(stack.env["REDIS_PORT"]),
                         db=int(stack.env["REDIS_TRACKER_DB"]))
    keys = {key.decode() for key in client.keys("complaints*")}
    for result in conversations.values():
        assert any(key.endswith(result.sender_id) for key in keys), result.sender_id
