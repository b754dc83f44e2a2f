"""The web chat mailbox and its Transport on the real Redis: history, push, dedupe, expiry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.outbound import Button, Conversation, OutboundMessage, PermanentDeliveryError, TransientDeliveryError
from bot.outbound.webchat import HISTORY_LIMIT, WebChatMailbox, WebChatTransport, history_key, make_item, push_channel
from tests.web.conftest import REDIS_DB, REDIS_HOST, REDIS_PORT


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.close()


@pytest.fixture
def mailbox(client: aioredis.Redis) -> WebChatMailbox:
    return WebChatMailbox(client, ttl_s=60)


async def test_send_appends_to_the_history_and_publishes_once_per_key(client, mailbox) -> None:
    await mailbox.open("s1")
    transport = WebChatTransport(mailbox)
    pubsub = client.pubsub()
    await pubsub.subscribe(push_channel("s1"))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    message = OutboundMessage("Hello, I'm Priya.", (Button("Call me", "/callback"),), "agent", "Priya, customer care")

    await transport.send(Conversation("webchat", "s1"), message, key="agent-reply-1")
    await transport.send(Conversation("webchat", "s1"), message, key="agent-reply-1")

    history = await mailbox.history("s1")
    assert len(history) == 1
    item = history[0]
    assert {k: item[k] for k in ("id", "from", "text", "buttons", "author_name")} == {
        "id": "agent-reply-1", "from": "agent", "text": "Hello, I'm Priya.",
        "buttons": [{"title": "Call me", "payload": "/callback"}], "author_name": "Priya, customer care",
    }
    pushed = await pubsub.get_message(timeout=1)
    assert json.loads(pushed["data"]) == item
    assert await pubsub.get_message(timeout=0.3) is None, "the second send with the same key was published"
    await pubsub.close()


async def test_history_keeps_the_last_500_and_expires_with_the_session(client, mailbox) -> None:
    await mailbox.open("s2")
    for n in range(HISTORY_LIMIT + 5):
        await mailbox.append("s2", make_item("bot", f"m{n}"))
    history = await mailbox.history("s2")
    assert len(history) == HISTORY_LIMIT
    assert history[0]["text"] == "m5" and history[-1]["text"] == f"m{HISTORY_LIMIT + 4}"
    assert 55 <= await client.ttl(history_key("s2")) <= 60


async def test_an_expired_session_is_a_permanent_failure(mailbox) -> None:
    transport = WebChatTransport(mailbox)
    with pytest.raises(PermanentDeliveryError) as error:
        await transport.send(Conversation("webchat", "gone"), OutboundMessage("hi"), key="k1")
    assert error.value.reason == "session_expired"
    assert await mailbox.history("gone") == []


async def test_another_channel_is_refused(mailbox) -> None:
    with pytest.raises(PermanentDeliveryError) as error:
        await WebChatTransport(mailbox).send(Conversation("telegram", "42"), OutboundMessage("hi"), key="k2")
    assert error.value.reason == "wrong_channel"


async def test_redis_down_is_transient() -> None:
    client = aioredis.Redis(port=1, socket_connect_timeout=0.2)
    with pytest.raises(TransientDeliveryError):
        await WebChatTransport(WebChatMailbox(client, 60)).send(
            Conversation("webchat", "s3"), OutboundMessage("hi"), key="k3"
        )
    await client.close()


async def test_concurrent_sends_of_one_key_store_one_item(mailbox) -> None:
    await mailbox.open("s4")
    transport = WebChatTransport(mailbox)
    await asyncio.gather(*(
        transport.send(Conversation("webchat", "s4"), OutboundMessage("once"), key="same") for _ in range(20)
    ))
    assert [item["text"] for item in await mailbox.history("s4")] == ["once"]
