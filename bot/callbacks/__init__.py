"""Booked callbacks: slots in business hours, bookings in SQL, reminders and missed-call checks.

No Rasa import here: the action server (``bot/actions/callbacks.py``), the worker and the
ticket API all use this package. The agents' work queue uses :func:`list_callbacks` and
:func:`mark_done`; the SLA watcher calls :func:`push_offer` when a ticket nears a breach.
"""

from bot.callbacks.service import PUSHED_OFFER_RESPONSES, Callbacks, list_callbacks, mark_done, push_offer, pushed_offer
from bot.callbacks.store import (
    CallbackNotFound,
    CallbackRecord,
    CallbackStateError,
    CallbackStore,
    SlotFull,
    WorkItem,
)

__all__ = [
    "PUSHED_OFFER_RESPONSES",
    "CallbackNotFound",
    "CallbackRecord",
    "CallbackStateError",
    "CallbackStore",
    "Callbacks",
    "SlotFull",
    "WorkItem",
    "list_callbacks",
    "mark_done",
    "push_offer",
    "pushed_offer",
]
