"""What the ticket API shows of callbacks and satisfaction surveys, read from their own features.

The API (:mod:`web.api`) speaks JSON; the callbacks (:mod:`bot.callbacks`) and the
follow-ups (:mod:`bot.followup`) speak records. These adapters turn one into the other and
decide nothing themselves: listing is the agents' work queue
(:func:`bot.callbacks.list_callbacks`) and marking a call done is
:func:`bot.callbacks.mark_done`, so a call marked done through the API leaves the work
queue and the missed-call check (:mod:`bot.callbacks.jobs`) finds it done and escalates
nothing, exactly as when the console marks it.

A callback's id in the API is ``<ticket>-<n>`` (``CX-7K3F9Q-1``): its business key
``callback:<ticket>:<n>`` without the prefix and colons, which a URL path carries awkwardly.
Times are RFC 3339 strings; the conversation's id (for the web chat, the customer's session
secret) is never shown. Methods are synchronous; the API calls them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import sessionmaker

from bot.callbacks import CallbackNotFound, CallbackRecord, CallbackStore, WorkItem, list_callbacks, mark_done
from bot.callbacks.policy import callback_policy
from bot.callbacks.store import STATES as CALLBACK_STATES
from bot.callbacks.store import callback_key
from bot.followup.store import Followup, FollowupStore, SurveyAnswer
from bot.ticket_numbers import normalise_ticket_number

_CALLBACK_ID = re.compile(r"(?P<ticket>.{1,32})-(?P<seq>[1-9][0-9]{0,5})")


def callback_id(record: CallbackRecord) -> str:
    """The API's id of a booking: ``<ticket>-<n>``."""
    return f"{record.ticket_number}-{record.seq}"


def key_of_callback_id(value: str) -> str | None:
    """The business key an API id names (ticket number case and slips forgiven), or None."""
    match = _CALLBACK_ID.fullmatch(value)
    ticket = normalise_ticket_number(match["ticket"]) if match else None
    return None if match is None or ticket is None else callback_key(ticket, int(match["seq"]))


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def callback_json(item: WorkItem) -> dict[str, Any]:
    """A callback in the shape of web/openapi.yaml's ``Callback``."""
    record = item.callback
    return {
        "id": callback_id(record),
        "ticket_number": record.ticket_number,
        "state": record.state,
        "channel": record.channel,
        "slot_start": record.slot_start.isoformat(),
        "slot_end": record.slot_end.isoformat(),
        "time_zone": record.customer_timezone,
        "reminder": record.reminder,
        "customer_name": item.customer_name,
        "contact": item.contact,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "done_at": _moment(record.done_at),
        "done_by": record.done_by,
    }


class CallbackDirectory:
    """Callbacks for the API, on the callbacks store."""

    def __init__(self, store: CallbackStore) -> None:
        self._store = store

    def list(self, *, state: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """A page of callbacks, soonest first, only those in ``state`` if given; and how many match in all."""
        states = CALLBACK_STATES if state is None else (state,)
        items = list_callbacks(self._store, states=states, limit=limit, offset=offset)
        total = self._store.count(due_by=None, states=states, ticket_number=None)
        return [callback_json(item) for item in items], total

    def mark_done(self, callback_id: str, *, actor: str, note: str | None, now: datetime) -> dict[str, Any] | None:
        """Record the call as made (again: unchanged); the callback afterwards, or None when there is no such callback.

        Raises :class:`~bot.callbacks.CallbackStateError` for a call cancelled or rescheduled.
        """
        key = key_of_callback_id(callback_id)
        if key is None:
            return None
        try:
            mark_done(self._store, key, actor=actor, now=now, note=note)
        except CallbackNotFound:
            return None
        item = self._store.work_item(key)
        return None if item is None else callback_json(item)


def survey_json(followup: Followup, answer: SurveyAnswer | None) -> dict[str, Any]:
    """A ticket's follow-up and its answer in the shape of web/openapi.yaml's ``Survey``."""
    return {
        "ticket_number": followup.ticket_number,
        "state": followup.state,
        "channel": followup.conversation.channel,
        "resolved_at": followup.resolved_at.isoformat(),
        "due_at": followup.survey_due_at.isoformat(),
        "next_step": followup.step,
        "next_step_at": None if followup.step is None else followup.due_at.isoformat(),
        "sent_at": _moment(followup.sent_at),
        "reminded_at": _moment(followup.reminded_at),
        "answered_at": _moment(followup.answered_at),
        "finished_at": _moment(followup.finished_at),
        "cancel_reason": followup.cancel_reason,
        "rating": None if answer is None else answer.rating,
        "solved": None if answer is None else answer.solved,
        "comment": None if answer is None else answer.comment,
    }


class SurveyDirectory:
    """Satisfaction follow-ups for the API, on the follow-up store."""

    def __init__(self, store: FollowupStore) -> None:
        self._store = store

    def for_ticket(self, number: str) -> dict[str, Any] | None:
        """The ticket's latest follow-up with what was answered, or None when it has none."""
        followup = self._store.for_ticket(number)
        if followup is None:
            return None
        return survey_json(followup, self._store.answer(followup.key))


def open_directories(sessions: sessionmaker) -> tuple[CallbackDirectory, SurveyDirectory]:
    """Both adapters on the ticket database's sessions (the callbacks policy read from settings/)."""
    callbacks = CallbackStore(sessions, capacity=callback_policy().capacity_per_slot)
    return CallbackDirectory(callbacks), SurveyDirectory(FollowupStore(sessions))
