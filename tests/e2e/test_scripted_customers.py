"""Scripted customers talk to the running servers over REST; each must end with a
ticket whose every field holds what the customer said, after at least three choices.

The end-of-run summary reports the figures the dialogue is judged by: tickets reached,
median and 90th-percentile customer messages to a ticket, questions asked again, and
field accuracy over every expected value.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest

from bot.db import make_engine, make_sessionmaker
from bot.filing import UNPARSED_MARK
from bot.handoff.store import HandoffStore
from bot.tickets import TicketRecord, TicketStore
from scripted.driver import ConversationResult, expected_date, load_customers, run_scripted_conversation
from scripts.stack import Stack

CUSTOMERS = load_customers()
INTAKES = [customer for customer in CUSTOMERS if not customer.get("handed_over")]
"""Customers whose complaint the assistant takes down in full."""
HANDED_OVER = [customer for customer in CUSTOMERS if customer.get("handed_over")]
"""Customers a hand-off rule (settings/handoff.yml) passes to a person before the intake is done."""
FIVE_W_ONE_H = (
    "customer_name", "complaint_product", "problem_description", "incident_date_text", "incident_location",
    "order_ref", "people_involved", "impact", "desired_outcome", "contact",
)
EVERY_FIELD = (
    "customer_name", "contact", "contact_kind", "order_ref", "complaint_product", "incident_date",
    "incident_location", "people_involved", "impact", "desired_outcome", "category", "chosen_option",
)
"""Every customer states what each of these must be."""
EXACT_FIELDS = frozenset(
    {"contact", "contact_kind", "order_ref", "incident_date", "category", "chosen_option", "desired_outcome_kind",
     "severity", "priority"}
)
PLACEHOLDERS = frozenset({"none", "unknown"})
MAX_ASKS_PER_QUESTION = 2
CONCURRENCY = 6
SUMMARY: list[str] = []
"""Lines for the end-of-run summary (see conftest.pytest_terminal_summary)."""
NLU_DEPENDENT_FIELDS = frozenset({"category", "chosen_option", "desired_outcome"})
"""What a wrong category changes: the options listed, and so the choice and the wish it records."""
NLU_MISSES: dict[str, str] = {}
"""Customers marked ``nlu_known_miss`` whose category the classifier got wrong in this run (the
rest of their ticket is still checked); reported as xfail and in the summary, never hidden."""
FIELD_RESULTS: dict[str, dict[str, bool]] = {}
"""Per customer, whether each expected field was right; filled as the customers are checked."""


@pytest.fixture(scope="module")
def conversations(stack: Stack) -> dict[str, ConversationResult]:
    async def run_all() -> dict[str, ConversationResult]:
        limit = asyncio.Semaphore(CONCURRENCY)
        async with aiohttp.ClientSession() as session:
            async def one(index: int, customer: dict) -> ConversationResult:
                async with limit:
                    url = stack.rasa_urls[index % len(stack.rasa_urls)]
                    return await run_scripted_conversation(
                        session, url, f"scripted-{customer['id']}", customer, stack.api_token, stack.channel_token
                    )
            results = await asyncio.gather(*(one(i, c) for i, c in enumerate(CUSTOMERS)))
        return {c["id"]: r for c, r in zip(CUSTOMERS, results)}

    return asyncio.run(run_all())


def _field_value(ticket: TicketRecord, field: str) -> Any:
    return getattr(ticket, "incident_date_text" if field == "incident_date" else field)


def _matches(field: str, actual: Any, expected: Any, today: Any) -> bool:
    """Exact for structured fields and placeholders; the expected words for free text."""
    if isinstance(expected, list):
        return any(_matches(field, actual, one, today) for one in expected)
    expected = str(expected)
    if field == "incident_date":
        expected = expected_date(expected, today)
    if field in EXACT_FIELDS or expected in PLACEHOLDERS:
        return actual == expected
    return actual is not None and actual not in PLACEHOLDERS and expected.lower() in str(actual).lower()


def _kind_of(contact: str | None) -> str | None:
    """The contact_kind a stored contact must carry."""
    if contact in PLACEHOLDERS or contact is None:
        return contact
    if contact.startswith(UNPARSED_MARK):
        return "unparsed"
    return "email" if "@" in contact else "phone"


def _percentile(values: list[int], fraction: float) -> float:
    """Nearest-rank percentile: the value at or below which ``fraction`` of the values lie."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def test_there_are_at_least_forty_customers() -> None:
    assert len(CUSTOMERS) >= 40
    assert len({c["id"] for c in CUSTOMERS}) == len(CUSTOMERS)


@pytest.mark.parametrize("customer", INTAKES, ids=[c["id"] for c in INTAKES])
def test_every_customer_states_every_field(customer: dict) -> None:
    assert set(EVERY_FIELD) <= set(customer["expect"]), set(EVERY_FIELD) - set(customer["expect"])


@pytest.mark.parametrize("customer", HANDED_OVER, ids=[c["id"] for c in HANDED_OVER])
def test_customer_handed_to_a_person_waits_with_an_escalated_ticket(
    customer: dict, conversations: dict[str, ConversationResult], e2e_store: TicketStore, e2e_database_url: str
) -> None:
    result = conversations[customer["id"]]
    assert result.errors == 0, result.transcript
    assert result.ticket_number and result.turns == len(customer["opening"]), result.transcript
    ticket = e2e_store.get(result.ticket_number)
    assert ticket.status == "escalated" and customer["opening"][0] in ticket.narrative
    today = datetime.now(timezone.utc).date()
    assert {field: _matches(field, _field_value(ticket, field), expected, today) for field, expected in customer["expect"].items()} == {
        field: True for field in customer["expect"]}
    handoff = HandoffStore(make_sessionmaker(make_engine(e2e_database_url))).live_for_sender(result.sender_id)
    assert (handoff.ticket_number, handoff.state, handoff.priority) == (ticket.number, "waiting", ticket.priority)
    assert customer["handed_over"] in handoff.rule_ids


@pytest.mark.parametrize("customer", INTAKES, ids=[c["id"] for c in INTAKES])
def test_customer_ends_with_a_correct_ticket(
    customer: dict, conversations: dict[str, ConversationResult], e2e_store: TicketStore
) -> None:
    result = conversations[customer["id"]]
    assert result.errors == 0, result.transcript
    assert result.ticket_number, f"no ticket after {result.turns} turns:\n{result.transcript}"
    assert result.options_offered >= 3, result.transcript
    ticket = e2e_store.get(result.ticket_number)
    assert ticket is not None
    today = datetime.now(timezone.utc).date()
    checked = {
        field: _matches(field, _field_value(ticket, field), expected, today)
        for field, expected in customer["expect"].items()
    }
    FIELD_RESULTS[customer["id"]] = checked
    wrong = {field: (_field_value(ticket, field), customer["expect"][field]) for field, ok in checked.items() if not ok}
    known_miss = customer.get("nlu_known_miss")
    if known_miss and wrong and set(wrong) <= NLU_DEPENDENT_FIELDS and "category" in wrong:
        NLU_MISSES[customer["id"]] = wrong["category"][0]
    else:
        assert not wrong, f"{wrong}\n{result.transcript}"
    for field in FIVE_W_ONE_H:
        assert getattr(ticket, field), f"{field} is empty in {ticket}"
    assert ticket.contact_kind == _kind_of(ticket.contact), (ticket.contact, ticket.contact_kind)
    assert customer["opening"][0] in ticket.narrative
    assert ticket.chosen_option in ticket.offered_options
    assert "human_agent" in ticket.offered_options
    assert ticket.sla_close_by > ticket.created_at
    if customer["id"] in NLU_MISSES:
        pytest.xfail(f"known NLU miss, category {NLU_MISSES[customer['id']]!r}: {known_miss}")


def test_no_question_is_asked_more_than_twice(conversations: dict[str, ConversationResult]) -> None:
    """Also writes the run's figures to the summary, whatever the outcome."""
    filed = [r for r in conversations.values() if r.ticket_number]
    turns = [conversations[c["id"]].turns for c in INTAKES if conversations[c["id"]].ticket_number]
    re_asks = sum(r.re_asks for r in conversations.values())
    checked = [ok for fields in FIELD_RESULTS.values() for ok in fields.values()]
    SUMMARY.append(
        f"scripted customers: {len(filed)}/{len(conversations)} filed, {len(HANDED_OVER)} of them handed to a person "
        f"at the opening; customer messages to a ticket (the others): "
        f"median {statistics.median(turns) if turns else 'n/a'}, p90 {_percentile(turns, 0.9) if turns else 'n/a'}; "
        f"questions asked again: {re_asks} in {sum(1 for r in conversations.values() if r.re_asks)} conversations; "
        f"fields right: {sum(checked)}/{len(checked)} over {len(FIELD_RESULTS)} tickets checked; "
        f"category right: {sum(fields.get('category', False) for fields in FIELD_RESULTS.values())}"
        f"/{len(FIELD_RESULTS)} (known NLU misses this run: {', '.join(sorted(NLU_MISSES)) or 'none'})"
    )
    too_often = {
        customer: {slot: count for slot, count in result.asked.items() if count > MAX_ASKS_PER_QUESTION}
        for customer, result in conversations.items()
    }
    assert not {customer: slots for customer, slots in too_often.items() if slots}


def test_conversations_live_in_the_shared_redis_tracker_store(
    conversations: dict[str, ConversationResult], stack: Stack
) -> None:
    import redis

    client = redis.Redis(host=stack.env["REDIS_HOST"], port=int(stack.env["REDIS_PORT"]),
                         db=int(stack.env["REDIS_TRACKER_DB"]))
    keys = {key.decode() for key in client.keys("complaints*")}
    for result in conversations.values():
        assert any(key.endswith(result.sender_id) for key in keys), result.sender_id
