"""Whether anyone takes live chats now, and when someone will reply if nobody does.

The agents' hours are the business hours of settings/callbacks.yml unless settings/handoff.yml
gives its own (``agents.hours``); ``agents.live_chat: false`` means nobody ever takes a
live chat. The reply time promised out of hours is the SLA's own (never sooner), moved to
the next opening when it would fall while nobody is there to keep it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.callbacks.policy import CallbackPolicy
from bot.callbacks.slots import in_business_hours, slots_between
from bot.handoff.policy import AgentsPolicy

OPENING_SEARCH = timedelta(days=14)
"""How far ahead the next opening is looked for (a fortnight without one is a configuration error)."""


def agents_online(agents: AgentsPolicy, hours: CallbackPolicy, now: datetime) -> bool:
    """Whether a person can join a live chat now."""
    return agents.live_chat and in_business_hours(hours, now)


def next_opening(hours: CallbackPolicy, moment: datetime) -> datetime | None:
    """The first moment at or after ``moment`` when the agents are in (``moment`` itself if they are)."""
    if in_business_hours(hours, moment):
        return moment
    first = next(slots_between(hours, moment, moment + OPENING_SEARCH), None)
    return None if first is None else first.start


def reply_by(sla_contact_by: datetime, hours: CallbackPolicy) -> datetime:
    """When someone will have replied: the SLA's deadline, or the next opening after it if the
    team is out then (later than the SLA, never sooner)."""
    return next_opening(hours, sla_contact_by) or sla_contact_by
