"""What the outbound path carries: a conversation, a message, and how a send can fail.

This is the contract the channel transports, the hand-off console and the scheduler
code against; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

CHANNELS = ("webchat", "telegram", "rest")
AUTHORS = ("bot", "agent", "system")
_PREFIXES = {"webchat": "web:", "telegram": "tg:"}


@dataclass(frozen=True)
class Conversation:
    """A customer's conversation: the channel they used and their address on it.

    The Rasa sender id is derived from the two, so any process can find the tracker.
    """

    channel: str
    address: str

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}; expected one of {', '.join(CHANNELS)}")
        if not self.address:
            raise ValueError("a conversation needs an address")

    @property
    def sender_id(self) -> str:
        """The Rasa sender id: ``web:<session>``, ``tg:<chat>``, or the REST sender as given."""
        return _PREFIXES.get(self.channel, "") + self.address

    @classmethod
    def from_sender_id(cls, sender_id: str) -> Conversation:
        """The conversation a Rasa sender id belongs to; an unprefixed id is a REST sender."""
        for channel, prefix in _PREFIXES.items():
            if sender_id.startswith(prefix) and len(sender_id) > len(prefix):
                return cls(channel, sender_id[len(prefix):])
        return cls("rest", sender_id)


@dataclass(frozen=True)
class Button:
    """A choice shown with a message; pressing it sends ``payload`` as the customer's message."""

    title: str
    payload: str


@dataclass(frozen=True)
class OutboundMessage:
    """A message the customer did not just ask for: an agent's reply, a reminder, a survey.

    ``slots`` are set in the customer's Rasa conversation together with the message's
    transcript entry: a message that asks a question opens it there (the survey sets
    ``survey_step``), so the answer typed to it is routed by the question, not by its words.
    """

    text: str
    buttons: tuple[Button, ...] = ()
    author: str = "bot"
    author_name: str | None = None
    slots: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.author not in AUTHORS:
            raise ValueError(f"unknown author {self.author!r}; expected one of {', '.join(AUTHORS)}")
        if not self.text.strip():
            raise ValueError("an outbound message needs text")


class Outgoing(NamedTuple):
    """One message to hand to the outbound path, named once by ``key``.

    ``in_transcript``: the customer's Rasa conversation already holds the message, because the
    assistant said it through Rasa itself (a hand-back runs its greeting with Rasa's ``execute``,
    which records it); the path then sends it and appends nothing, so the tracker holds it once.
    """

    conversation: Conversation
    message: OutboundMessage
    key: str
    in_transcript: bool = False


class TransientDeliveryError(Exception):
    """The channel could not take the message now; try again later (after ``retry_after`` s if given)."""

    def __init__(self, reason: str = "transient", retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """The message can never be delivered (``reason``: "blocked", "session_expired", "no_push"...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transport(Protocol):
    """Sends to one channel. A second send with the same ``key`` must be a no-op for the customer."""

    channel: str

    async def send(self, conversation: Conversation, message: OutboundMessage, key: str) -> None:
        """Put the message in front of the customer, or raise one of the delivery errors."""
        ...
