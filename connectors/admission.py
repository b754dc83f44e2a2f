"""How many customer messages a Rasa process works on at once; the rest wait in line.

Rasa handles every request it receives at once. Under a burst (fifty customers writing
within the same second) each Rasa process starts all of its messages, parses every one
of them (the sentence embedding of a new complaint costs tens of milliseconds), and only
then gets back to the first, which waits for its action-server answer behind all the
others: every message of the burst finishes at about the same, late, moment. The work
is CPU-bound, so doing it all at once buys no throughput; letting a few messages through
at a time, first come first served, gives the same throughput and answers most customers
much sooner. A few rather than one, so that a message waiting on the action server or
Redis does not leave the process idle.

Both channels (``connectors.rest``, ``connectors.telegram``) wrap Rasa's message
handler with :func:`admitted`; the limit is ``RASA_MESSAGES_IN_PROGRESS``
(``bot.settings.messages_in_progress``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.settings import messages_in_progress

Message = TypeVar("Message")

_GATES: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}


def _gate(limit: int) -> asyncio.Semaphore:
    """The process's gate in the running loop (one per loop: a semaphore belongs to its loop)."""
    loop = asyncio.get_running_loop()
    kept = _GATES.get(limit)
    if kept is None or kept[0] is not loop:
        kept = _GATES[limit] = (loop, asyncio.Semaphore(limit))
    return kept[1]


def admitted(
    handle: Callable[[Message], Awaitable[Any]], limit: int | None = None
) -> Callable[[Message], Awaitable[Any]]:
    """``handle`` behind the process's gate: at most ``limit`` messages in progress, FIFO.

    ``limit`` defaults to ``RASA_MESSAGES_IN_PROGRESS``; 0 returns ``handle`` unchanged.
    asyncio's semaphore wakes its waiters in the order they started waiting.
    """
    size = messages_in_progress() if limit is None else limit
    if size == 0:
        return handle

    async def handle_in_turn(message: Message) -> Any:
        async with _gate(size):
            return await handle(message)

    return handle_in_turn
