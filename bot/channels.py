"""Which channel a conversation is on, from its Rasa sender id.

The web app and the Telegram channel give their conversations prefixed sender ids
("web:<session>", "tg:<chat id>"), so the channel is known wherever the sender id is,
even when the web app reaches Rasa through the REST channel.
"""

from __future__ import annotations

SENDER_PREFIXES = {"web:": "webchat", "tg:": "telegram"}


def conversation_channel(sender_id: str, input_channel: str | None) -> str:
    """"webchat" or "telegram" by prefix, else the input channel Rasa recorded, else "unknown"."""
    for prefix, channel in SENDER_PREFIXES.items():
        if sender_id.startswith(prefix):
            return channel
    return input_channel or "unknown"
