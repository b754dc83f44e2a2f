"""The channels' shared limits: the policy file, the per-conversation flood limit (real
Redis) and the REST channel's bearer check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.channel_policy import ChannelPolicyError, RateLimit, parse_channel_policy
from bot.rate_limit import ConversationRateLimiter
from bot.settings import PROJECT_ROOT
from connectors.rest import bearer_matches

REDIS_DB = 3


def test_the_shipped_policy_loads() -> None:
    policy = parse_channel_policy(PROJECT_ROOT / "settings" / "channels.yml")
    assert policy.max_body_bytes == 65536
    assert policy.rate_limit == RateLimit(messages=20, per_seconds=10)


@pytest.mark.parametrize(
    "text,named",
    [
        ("max_body_bytes: 10\nrate_limit: {messages: 8, per_seconds: 10}\n", "max_body_bytes"),
        ("max_body_bytes: 65536\nrate_limit: {messages: 8}\n", "rate_limit.per_seconds"),
        ("max_body_bytes: 65536\nrate_limit: {messages: 8, per_seconds: 1}\nextra: 1\n", "extra"),
    ],
)
def test_a_bad_policy_names_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "channels.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ChannelPolicyError, match=named.replace(".", r"\.")):
        parse_channel_policy(path)


def test_a_flood_is_limited_per_conversation_and_the_window_reopens() -> None:
    async def run() -> tuple[list[bool], bool, bool]:
        redis = Redis(db=REDIS_DB)
        await redis.flushdb()
        limiter = ConversationRateLimiter(redis, RateLimit(messages=3, per_seconds=1))
        flood = [await limiter.allow("rest:flooder") for _ in range(5)]
        other = await limiter.allow("rest:someone-else")
        await asyncio.sleep(1.1)
        reopened = await limiter.allow("rest:flooder")
        await redis.flushdb()
        await redis.close()
        return flood, other, reopened

    flood, other, reopened = asyncio.run(run())
    assert flood == [True, True, True, False, False]
    assert other is True
    assert reopened is True


@pytest.mark.parametrize(
    "header,expected",
    [
        ("Bearer s3cret-token-of-length", True),
        ("bearer s3cret-token-of-length", True),
        ("Bearer wrong-token-of-length!", False),
        ("s3cret-token-of-length", False),
        ("Basic s3cret-token-of-length", False),
        (None, False),
        ("", False),
    ],
)
def test_the_rest_channel_wants_its_bearer_token(header: str | None, expected: bool) -> None:
    assert bearer_matches(header, "s3cret-token-of-length") is expected
