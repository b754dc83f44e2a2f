"""The ticket's channel comes from the sender id's prefix, else from Rasa's input channel."""

from __future__ import annotations

import pytest

from bot.channels import conversation_channel


@pytest.mark.parametrize(
    "sender_id,input_channel,expected",
    [
        ("web:abc123", "rest", "webchat"),
        ("tg:4242", "telegram", "telegram"),
        ("crm-7781", "rest", "rest"),
        ("crm-7781", None, "unknown"),
        ("web:", "rest", "rest"),
    ],
)
def test_the_channel_of_a_conversation(sender_id: str, input_channel: str | None, expected: str) -> None:
    assert conversation_channel(sender_id, input_channel) == expected
