"""Which transport reaches which channel, in this process.

Only the worker sends, so only the worker registers transports; a process that merely
calls :func:`bot.outbound.deliver` needs none.
"""

from __future__ import annotations

from bot.outbound.messages import Transport

_transports: dict[str, Transport] = {}


def register_transport(transport: Transport) -> None:
    """Use ``transport`` for its channel from now on (replacing an earlier one)."""
    _transports[transport.channel] = transport


def transport_for(channel: str) -> Transport | None:
    """The transport registered for ``channel``, or None."""
    return _transports.get(channel)


def registered_channels() -> list[str]:
    """The channels this process can send to, sorted (for start-up logs)."""
    return sorted(_transports)
