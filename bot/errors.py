"""The errors the domain raises on purpose.

Each edge (an action, the console, the worker) translates them once into what its
caller understands; anything that is not a :class:`BotError` is a bug.
"""

from __future__ import annotations


class BotError(Exception):
    """A failure the domain expects and names, as opposed to a bug."""


class TicketStoreUnavailable(BotError):
    """The ticket database did not answer after every retry; keep the ticket in the spool."""


class TicketNotFound(BotError):
    """No ticket has that number."""


class InvalidTransition(BotError):
    """The ticket cannot take that status from the one it has (or start in it)."""
