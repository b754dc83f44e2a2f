"""Which channel a conversation is on, from its Rasa sender id.

The web app and the Telegram channel give their conversations prefixed sender ids
("web:<session>", "tg:<chat id>"; ``bot.outbound.Conversation``), so the channel is
known wherever the sender id is, even when the web app reaches Rasa through the REST
channel.
"""

from __future__ import annotations

from bot.outbound.messages import Conversation


def conversation_channel(sender_id: str, input_channel: str | None) -> str:
    """"webchat" or "telegram" by the sender id's prefix, else the input channel Rasa
    recorded (a REST back end's own), else "unknown"."""
    channel = Conversation.from_sender_id(sender_id).channel
    return channel if channel != "rest" else input_channel or "unknown"
