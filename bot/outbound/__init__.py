"""The one outbound path: every message the customer did not just ask for goes through here.

An agent's reply, a callback reminder, a status change, the 72-hour survey: any process
calls :func:`deliver` with the conversation and a key that names the message once
(``followup:CX-1234:72h``). The message is recorded in SQL, sent by the worker through
the channel's registered :class:`Transport`, retried while the failure is transient,
and appended to the customer's Rasa conversation once sent. No Rasa import here.
"""

from bot.outbound.delivery import Outbound, deliver, use
from bot.outbound.messages import (
    Button,
    Conversation,
    OutboundMessage,
    Outgoing,
    PermanentDeliveryError,
    Transport,
    TransientDeliveryError,
)
from bot.outbound.registry import register_transport
from bot.outbound.store import DeliveryRecord

__all__ = [
    "Button",
    "Conversation",
    "DeliveryRecord",
    "Outbound",
    "OutboundMessage",
    "Outgoing",
    "PermanentDeliveryError",
    "Transport",
    "TransientDeliveryError",
    "deliver",
    "register_transport",
    "use",
]
