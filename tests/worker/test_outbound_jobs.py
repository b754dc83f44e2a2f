"""The worker's outbound jobs, run by a real arq worker against real Redis (DB 4), the real
SQLite and PostgreSQL stores and a loopback stand-in for Rasa's tracker-events endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.outbound import (
    Button,
    Conversation,
    OutboundMessage,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
    register_transport,
    registry,
)
from bot.outbound.delivery import Outbound
from bot.outbound.transcript import RasaTranscript
from tests.outbound.support import CLOSED_PORT, RASA_PORT, RASA_TOKEN, RasaStandIn, RecordingTransport, RunWorker

WEB = Conversation("webchat", "session-b")
TG = Conversation("telegram", "4242")
AGENT_REPLY = OutboundMessage(
    "We have refunded the kettle.", (Button("Thanks", "/thank"),), author="agent", author_name="Priya, customer care"
)


async def test_a_message_is_sent_once_even_when_delivered_twice(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-1:1")
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-1:1")
    await run_worker()
    again = await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-1:1")
    await run_worker()

    sends = transports["webchat"].sends
    assert [(s.conversation, s.message, s.key) for s in sends] == [(WEB, AGENT_REPLY, "reply:CX-1:1")]
    assert (again.status, again.attempts, again.last_error) == ("sent", 1, None)
    assert again.sent_at is not None and again.sent_at >= again.created_at
    assert again.transcript_status == "appended"
    assert len(rasa.posts) == 1


async def test_the_sent_message_is_appended_to_the_rasa_conversation_without_side_effects(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    await outbound.deliver(TG, AGENT_REPLY, key="reply:CX-2:1")
    await run_worker()

    record = outbound.store.get("reply:CX-2:1")
    assert record is not None and record.sent_at is not None
    assert rasa.posts == [
        {
            "conversation_id": "tg:4242",
            "raw_path": "/conversations/tg:4242/tracker/events",
            "query": {"token": RASA_TOKEN},
            "json": {
                "event": "bot",
                "text": "We have refunded the kettle.",
                "timestamp": record.sent_at.timestamp(),
                "data": {"buttons": [{"title": "Thanks", "payload": "/thank"}]},
                "metadata": {
                    "outbound_key": "reply:CX-2:1",
                    "author": "agent",
                    "author_name": "Priya, customer care",
                },
            },
        }
    ]


async def test_a_message_that_opens_a_question_sets_its_slots_with_the_transcript_entry(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    survey = OutboundMessage("How satisfied are you, from 1 to 5?", (Button("5", "/inform"),), slots=(("survey_step", "asked"),))
    await outbound.deliver(WEB, survey, key="followup:CX-9:72h:survey")
    await run_worker()

    record = outbound.store.get("followup:CX-9:72h:survey")
    assert record.message == survey  # the slots are kept with the message in SQL
    assert [s.message for s in transports["webchat"].sends] == [survey]
    [post] = rasa.posts
    sent_at = record.sent_at.timestamp()
    assert post["json"] == [
        {
            "event": "bot",
            "text": "How satisfied are you, from 1 to 5?",
            "timestamp": sent_at,
            "data": {"buttons": [{"title": "5", "payload": "/inform"}]},
            "metadata": {"outbound_key": "followup:CX-9:72h:survey", "author": "bot", "author_name": None},
        },
        {"event": "slot", "name": "survey_step", "value": "asked", "timestamp": sent_at},
    ]


async def test_a_transient_failure_is_retried_with_back_off_then_sent(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    transports["webchat"].outcomes = [TransientDeliveryError("redis_down"), TransientDeliveryError("redis_down")]
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-3:1")
    await run_worker()

    sends = transports["webchat"].sends
    assert [s.key for s in sends] == ["reply:CX-3:1"] * 3
    gaps = [later.at - earlier.at for earlier, later in zip(sends, sends[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # base 0.05 s, doubling
    record = outbound.store.get("reply:CX-3:1")
    assert (record.status, record.attempts, record.last_error) == ("sent", 3, None)


async def test_retry_after_from_the_channel_is_obeyed(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    transports["telegram"].outcomes = [TransientDeliveryError("rate_limited", retry_after=0.8)]
    await outbound.deliver(TG, AGENT_REPLY, key="reply:CX-4:1")
    await run_worker()

    first, second = transports["telegram"].sends
    assert 0.8 <= second.at - first.at < 2.0
    record = outbound.store.get("reply:CX-4:1")
    assert (record.status, record.attempts) == ("sent", 2)


async def test_a_permanent_failure_is_recorded_at_once_and_never_retried(
    outbound: Outbound,
    transports: dict[str, RecordingTransport],
    rasa: RasaStandIn,
    run_worker: RunWorker,
    redis_client: aioredis.Redis,
) -> None:
    transports["telegram"].outcomes = [PermanentDeliveryError("blocked")]
    await outbound.deliver(TG, AGENT_REPLY, key="reply:CX-5:1")
    await run_worker()
    await outbound.deliver(TG, AGENT_REPLY, key="reply:CX-5:1")
    await redis_client.flushdb()
    assert await outbound.sweep() == 0
    await run_worker()

    assert len(transports["telegram"].sends) == 1
    record = outbound.store.get("reply:CX-5:1")
    assert (record.status, record.attempts, record.last_error, record.sent_at) == ("failed", 1, "blocked", None)
    assert record.transcript_status is None
    assert rasa.posts == []


async def test_after_the_last_attempt_the_message_is_failed(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    transports["webchat"].outcomes = [TransientDeliveryError("unreachable")] * 5
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-6:1")
    await run_worker()

    assert len(transports["webchat"].sends) == 3
    record = outbound.store.get("reply:CX-6:1")
    assert (record.status, record.attempts, record.last_error) == ("failed", 3, "unreachable")
    assert outbound.store.unfinished(10) == []


async def test_a_channel_without_a_transport_in_the_worker_fails_after_its_attempts(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(registry._transports, "telegram")
    await outbound.deliver(TG, AGENT_REPLY, key="reply:CX-7:1")
    await run_worker()

    record = outbound.store.get("reply:CX-7:1")
    assert (record.status, record.attempts, record.last_error) == ("failed", 3, "no_transport")


async def test_a_transport_that_hangs_times_out_and_is_retried(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    class Hanging(RecordingTransport):
        async def send(self, conversation: Conversation, message: OutboundMessage, key: str) -> None:
            await super().send(conversation, message, key)
            if len(self.sends) == 1:
                await asyncio.sleep(5)

    hanging = Hanging("webchat")
    register_transport(hanging)
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-8:1")
    await run_worker(send_timeout_s=0.3)

    assert len(hanging.sends) == 2
    record = outbound.store.get("reply:CX-8:1")
    assert (record.status, record.attempts) == ("sent", 2)


async def test_the_sweep_at_worker_start_finds_messages_redis_lost(
    outbound: Outbound,
    transports: dict[str, RecordingTransport],
    rasa: RasaStandIn,
    run_worker: RunWorker,
    redis_client: aioredis.Redis,
) -> None:
    await outbound.deliver(WEB, AGENT_REPLY, key="followup:CX-9:72h")
    await redis_client.flushdb()
    assert await redis_client.zcard("arq:queue") == 0

    await run_worker()

    assert [s.key for s in transports["webchat"].sends] == ["followup:CX-9:72h"]
    record = outbound.store.get("followup:CX-9:72h")
    assert (record.status, record.transcript_status) == ("sent", "appended")


async def test_rasa_down_still_counts_as_sent_and_the_transcript_is_retried(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    rasa.statuses = [503, 500]
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-10:1")
    await run_worker()

    assert len(transports["webchat"].sends) == 1
    assert [post["conversation_id"] for post in rasa.posts] == ["web:session-b"] * 3
    record = outbound.store.get("reply:CX-10:1")
    assert (record.status, record.attempts) == ("sent", 1)
    assert (record.transcript_status, record.transcript_attempts) == ("appended", 3)


async def test_the_transcript_goes_to_the_next_rasa_server_when_one_is_down(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-11:1")
    await run_worker(rasa_urls=(f"http://127.0.0.1:{CLOSED_PORT}", f"http://127.0.0.1:{RASA_PORT}"))

    record = outbound.store.get("reply:CX-11:1")
    assert (record.transcript_status, record.transcript_attempts) == ("appended", 1)
    assert len(rasa.posts) == 1


async def test_a_transcript_rasa_never_takes_is_given_up_after_its_attempts(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn, run_worker: RunWorker
) -> None:
    rasa.statuses = [500] * 10
    await outbound.deliver(WEB, AGENT_REPLY, key="reply:CX-12:1")
    await run_worker()

    record = outbound.store.get("reply:CX-12:1")
    assert (record.status, record.transcript_status, record.transcript_attempts) == ("sent", "failed", 3)
    assert len(rasa.posts) == 3


async def test_messages_their_sender_calls_overtaken_are_withheld_and_the_rest_of_the_batch_is_sent(
    outbound: Outbound, transports: dict[str, RecordingTransport], rasa: RasaStandIn
) -> None:
    """The check is asked right before the send, about the claimed messages its prefix names only."""
    asked: list[list[str]] = []

    def overtaken(keys: Sequence[str]) -> set[str]:
        asked.append(sorted(keys))
        return {key for key in keys if key.endswith(":old")}

    outbound.withhold("news:", overtaken)
    keys = ["news:CX-7:old", "news:CX-7:new", "reply:CX-7:old"]
    await outbound.deliver_many([Outgoing(WEB, OutboundMessage(f"message {key}"), key) for key in keys])
    async with aiohttp.ClientSession() as http:
        transcript = RasaTranscript(http, (f"http://127.0.0.1:{RASA_PORT}",), RASA_TOKEN)
        assert await outbound.attempt(transcript, keys) is None
        assert await outbound.attempt(transcript, keys) is None

    assert asked == [["news:CX-7:new", "news:CX-7:old"]]
    assert sorted(s.key for s in transports["webchat"].sends) == ["news:CX-7:new", "reply:CX-7:old"]
    assert sorted(p["json"]["metadata"]["outbound_key"] for p in rasa.posts) == ["news:CX-7:new", "reply:CX-7:old"]
    withheld = outbound.store.get("news:CX-7:old")
    assert (withheld.status, withheld.last_error, withheld.attempts, withheld.transcript_status) == ("failed", "overtaken", 1, None)
    assert outbound.store.unfinished(10) == []
