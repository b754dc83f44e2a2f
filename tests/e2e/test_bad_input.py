"""Bad input over REST: the customer always gets a sensible answer, never a traceback,
and nothing they said is lost."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.tickets import TicketStore
from scripted.driver import load_customers
from tests.e2e.support import converse
from scripts.stack import Stack, stack_environment
from scripts.train_model import model_path

DOMAIN = yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))


def texts_of(response_name: str) -> list[str]:
    return [variation["text"] for variation in DOMAIN["responses"][response_name]]


CHANNEL_TOKEN = stack_environment()["REST_CHANNEL_TOKEN"]


def post(url: str, body: Any, token: str | None = CHANNEL_TOKEN, data: bytes | None = None) -> tuple[int, Any]:
    """One REST channel request (``data`` sends raw bytes instead of ``body``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def go() -> tuple[int, Any]:
        async with aiohttp.ClientSession(headers=headers) as session:
            payload = {"data": data, "headers": {"Content-Type": "application/json"}} if data is not None else {"json": body}
            async with session.post(f"{url}/webhooks/rest/webhook", **payload) as response:
                return response.status, await response.json()
    return asyncio.run(go())


def slots(stack: Stack, url: str, sender: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            tracker_url = f"{url}/conversations/{sender}/tracker"
            async with session.get(tracker_url, params={"token": stack.api_token}) as response:
                return (await response.json())["slots"]
    return asyncio.run(go())


def assert_sensible(status: int, replies: Any) -> None:
    assert status == 200
    assert isinstance(replies, list) and replies, "the customer got no reply"
    for reply in replies:
        assert "Traceback" not in reply.get("text", "")


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "😡😡😡",
        "Mi pedido nunca llegó y nadie me responde",
        "<script>alert('x')</script>",
        "'; DROP TABLE tickets; --",
        "\x00\x07hello\x1b[31m",
        "?" * 500,
    ],
    ids=["empty", "blank", "emoji", "spanish", "html", "sql", "control", "punctuation"],
)
def test_odd_messages_get_an_answer(stack: Stack, message: str) -> None:
    status, replies = post(stack.rasa_urls[0], {"sender": f"odd-{abs(hash(message))}", "message": message})
    assert_sensible(status, replies)


@pytest.mark.parametrize(
    "body", [None, [], {"message": "hi"}, {"sender": "x", "message": 5}, {"sender": "", "message": "hi"}],
    ids=["null", "list", "no-sender", "non-text", "blank-sender"],
)
def test_malformed_requests_get_a_clear_400(stack: Stack, body: Any) -> None:
    status, answer = post(stack.rasa_urls[0], body)
    assert status == 400
    assert answer["error"] == "bad_request" and answer["reason"]


@pytest.mark.parametrize("token", [None, "wrong-token-of-some-length"], ids=["none", "wrong"])
def test_the_rest_channel_refuses_a_missing_or_wrong_bearer_token(stack: Stack, token: str | None) -> None:
    status, answer = post(stack.rasa_urls[0], {"sender": "no-token", "message": "My parcel never arrived"}, token=token)
    assert (status, answer) == (401, {"error": "unauthorized"})
    assert slots(stack, stack.rasa_urls[0], "no-token")["problem_description"] is None


def test_an_oversized_body_is_refused_before_it_is_parsed(stack: Stack) -> None:
    status, answer = post(stack.rasa_urls[0], None, data=b"{" + b" " * 70_000 + b"}")
    assert (status, answer) == (413, {"error": "payload_too_large", "max_bytes": 65536})


def test_a_flood_from_one_sender_is_slowed_without_slowing_another(stack: Stack) -> None:
    url = stack.rasa_urls[1]

    async def flood() -> list[tuple[int, Any]]:
        headers = {"Authorization": f"Bearer {stack.channel_token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async def one(i: int) -> tuple[int, Any]:
                body = {"sender": "flooder", "message": f"hello {i}"}
                async with session.post(f"{url}/webhooks/rest/webhook", json=body) as response:
                    return response.status, await response.json()
            return await asyncio.gather(*(one(i) for i in range(30)))

    answers = asyncio.run(flood())
    slowed = [replies for status, replies in answers if status == 429]
    assert len(slowed) == 10
    assert all([reply["text"] for reply in replies] == texts_of("utter_slow_down") for replies in slowed)
    status, replies = post(url, {"sender": "not-flooding", "message": "hello"})
    assert_sensible(status, replies)
    assert [reply["text"] for reply in replies] != texts_of("utter_slow_down")


def _walk_to(stack: Stack, url: str, sender: str, target_slot: str, answers: dict[str, str]) -> None:
    status, replies = post(url, {"sender": sender, "message": "My toaster stopped working and the shop won't help"})
    assert_sensible(status, replies)
    for _ in range(15):
        requested = slots(stack, url, sender)["requested_slot"]
        if requested == target_slot:
            return
        status, replies = post(url, {"sender": sender, "message": answers.get(requested, "I don't know")})
        assert_sensible(status, replies)
    pytest.fail(f"the form never asked for {target_slot}")


def test_a_future_date_is_questioned(stack: Stack) -> None:
    url, sender = stack.rasa_urls[0], "future-date"
    _walk_to(stack, url, sender, "incident_date", {"customer_name": "Ann", "complaint_product": "a toaster"})
    status, replies = post(url, {"sender": sender, "message": "next month on the 28th, in 2099"})
    assert_sensible(status, replies)
    assert any(r.get("text") in texts_of("utter_invalid_future_date") for r in replies), replies
    assert slots(stack, url, sender)["incident_date"] is None


def test_an_impossible_phone_number_is_questioned(stack: Stack) -> None:
    url, sender = stack.rasa_urls[1], "bad-phone"
    _walk_to(stack, url, sender, "customer_name", {})
    status, replies = post(url, {"sender": sender, "message": "Ann, +44 12"})
    assert_sensible(status, replies)
    assert any(r.get("text") in texts_of("utter_invalid_phone") for r in replies), replies
    assert slots(stack, url, sender)["contact"] is None


def test_a_very_long_narrative_is_kept_whole(stack: Stack, e2e_store: TicketStore) -> None:
    sentence = "The washing machine leaked all over my kitchen floor and ruined the flooring again. "
    narrative = (sentence * (20000 // len(sentence) + 1))[:20000]
    customer = dict(load_customers()[0], opening=[narrative])
    result = converse(stack, stack.rasa_urls[0], "long-narrative", customer)
    assert result.ticket_number, result.transcript
    ticket = e2e_store.get(result.ticket_number)
    assert narrative in ticket.narrative
    assert len(ticket.narrative) >= 20000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def stack_without_actions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = stack_environment(
        {"RASA_PORT": str(_free_port()), "RASA_PROCESSES": "1", "ACTION_PORT": str(_free_port()),
         "REDIS_TRACKER_DB": "12", "REDIS_LOCK_DB": "11"}
    )
    running = Stack(env=env, log_dir=tmp_path_factory.mktemp("no-actions"), with_actions=False)
    try:
        running.start(model_path())
        yield running
    finally:
        running.stop()


def test_action_server_down_gets_an_honest_answer(stack_without_actions: Stack) -> None:
    status, replies = post(
        stack_without_actions.rasa_urls[0],
        {"sender": "no-actions", "message": "My order never arrived and I'm furious"},
    )
    assert_sensible(status, replies)
    assert [reply["text"] for reply in replies] == texts_of("utter_technical_difficulty")


def test_a_customer_whose_every_answer_is_unusable_still_gets_a_ticket(
    stack: Stack, e2e_store: TicketStore
) -> None:
    """No question is asked a third time: after the second unusable answer the words are
    kept for the agent (flagged), or the case goes to a person, and the intake ends."""
    unusable = "???"
    customer = {
        "id": "all-unusable",
        "opening": ["My toaster stopped working and the shop won't help"],
        "answers": {slot: unusable for slot in (
            "customer_name", "contact", "complaint_product", "incident_date", "incident_location", "order_ref",
            "impact", "people_involved",
        )},
        "choose": {"by": "words", "text": unusable},
    }

    result = converse(stack, stack.rasa_urls[1], "all-unusable", customer)
    assert result.ticket_number, result.transcript
    assert max(result.asked.values()) <= 2, result.asked
    ticket = e2e_store.get(result.ticket_number)
    assert ticket.customer_name.startswith("[unparsed] ???")
    assert (ticket.contact, ticket.contact_kind) == ("unknown", "unknown")
    assert ticket.incident_date is None and ticket.incident_date_text.startswith("[unparsed] ???")
    assert ticket.chosen_option == "human_agent"
    assert any(text in result.replies for text in texts_of("utter_kept_your_words")), result.transcript
    assert any(text in result.transcript for text in texts_of("utter_option_to_person")), result.transcript
