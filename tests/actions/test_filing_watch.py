"""Filing through the actions: the ticket keeps the time zone the customer's channel reported, or
else their phone number's (the survey's quiet hours are then theirs), and its SLA checks are
planned and queued at once.
Real SQLite store, real Redis (REDIS_HOST/REDIS_PORT, this suite's database)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.runtime import Runtime
from bot.actions.tickets import ActionCreateTicket
from tests.actions.conftest import ACTIONS_REDIS_DB
from tests.actions.events import user_event
from tests.actions.test_conversation_actions import FILLED

SENDER = "web:session-zone"
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
async def queue() -> AsyncIterator[aioredis.Redis]:
    """The job queue's Redis database of these tests, empty before and after."""
    client = aioredis.Redis(host=os.environ.get("REDIS_HOST", "127.0.0.1"), port=int(os.environ.get("REDIS_PORT", "6379")),
                            db=int(os.environ.get("ACTIONS_TEST_REDIS_DB", str(ACTIONS_REDIS_DB))))
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.close(close_connection_pool=True)


async def file_with(make_tracker: Callable[..., Tracker], domain: dict[str, Any], metadata: dict[str, Any] | None,
                    sender_id: str = SENDER, **slots: Any) -> str:
    """The customer's words (the first carrying ``metadata``), then the confirmed complaint is filed
    (the intake's slots updated with ``slots``)."""
    opening = user_event("My kettle arrived with a cracked lid", "complain_product")
    if metadata is not None:
        opening["metadata"] = metadata
    tracker = make_tracker([opening, user_event("yes, file it", "affirm")], {**FILLED, **slots}, sender_id=sender_id)
    events = await ActionCreateTicket().run(CollectingDispatcher(), tracker, domain)
    return next(e["value"] for e in events if e["event"] == "slot" and e["name"] == "ticket_number")


def resolve(rt: Runtime, number: str) -> datetime:
    """The ticket resolved at 12:00 UTC a week after filing (07:00 in New York, 12:00 in London); when."""
    at = datetime.combine(rt.store.get(number).created_at.date() + timedelta(days=7), time(12, 0), tzinfo=timezone.utc)
    for state in ("acknowledged", "in_progress", "resolved"):
        rt.store.transition(number, state, actor="agent:Priya", now=at)
    return at


async def test_the_browsers_zone_is_kept_on_the_ticket_and_the_survey_waits_for_its_morning(
    action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any], queue: aioredis.Redis
) -> None:
    number = await file_with(make_tracker, domain, {"channel": "webchat", "timezone": "America/New_York"})
    assert action_runtime.store.get(number).customer_timezone == "America/New_York"
    resolved = resolve(action_runtime, number)
    followup = action_runtime.followups.for_ticket(number)
    assert followup.time_zone == "America/New_York"
    due = resolved + timedelta(hours=72)  # 07:00 in New York: quiet, so the survey waits until 09:00 there
    assert followup.survey_due_at == datetime.combine(due.astimezone(NEW_YORK).date(), time(9, 0), tzinfo=NEW_YORK)


@pytest.mark.parametrize("metadata", [None, {"channel": "webchat", "timezone": "Mars/Olympus_Mons"},
                                      {"timezone": "../../etc/passwd"}, {"timezone": 5}])
async def test_no_zone_or_an_unknown_one_leaves_the_default(
    metadata: dict[str, Any] | None, action_runtime: Runtime, make_tracker: Callable[..., Tracker],
    domain: dict[str, Any], queue: aioredis.Redis,
) -> None:
    number = await file_with(make_tracker, domain, metadata)
    assert action_runtime.store.get(number).customer_timezone is None
    resolved = resolve(action_runtime, number)
    followup = action_runtime.followups.for_ticket(number)
    assert (followup.time_zone, followup.survey_due_at) == ("Europe/London", resolved + timedelta(hours=72))


@pytest.mark.parametrize(("metadata", "phone", "zone"), [
    (None, "+12125550123", "America/New_York"),  # Telegram: no zone, a New York number
    ({"channel": "webchat", "timezone": "Europe/Berlin"}, "+12125550123", "Europe/Berlin"),  # the browser wins
    (None, "+447911123456", None),  # a UK mobile lies in four zones: the default
], ids=["telegram-new-york-number", "browser-wins", "several-zones"])
async def test_with_no_zone_from_the_channel_the_phone_numbers_zone_is_kept(
    metadata: dict[str, Any] | None, phone: str, zone: str | None, action_runtime: Runtime,
    make_tracker: Callable[..., Tracker], domain: dict[str, Any], queue: aioredis.Redis,
) -> None:
    number = await file_with(make_tracker, domain, metadata, "tg:4242", contact=phone, contact_kind="phone")
    ticket = action_runtime.store.get(number)
    assert (ticket.channel, ticket.contact, ticket.customer_timezone) == ("telegram", phone, zone)
    resolved = resolve(action_runtime, number)
    followup = action_runtime.followups.for_ticket(number)
    if zone == "America/New_York":  # resolved at 07:00 there: the survey waits for 09:00 in New York
        due = resolved + timedelta(hours=72)
        expected = datetime.combine(due.astimezone(NEW_YORK).date(), time(9, 0), tzinfo=NEW_YORK)
    else:
        expected = resolved + timedelta(hours=72)
    assert (followup.time_zone, followup.survey_due_at) == (zone or "Europe/London", expected)


async def test_a_filed_ticket_has_its_sla_checks_planned_and_queued_at_once(
    action_runtime: Runtime, make_tracker: Callable[..., Tracker], domain: dict[str, Any], queue: aioredis.Redis
) -> None:
    number = await file_with(make_tracker, domain, None)
    ticket = action_runtime.store.get(number)
    checks = {check.check: check.due_at for check in action_runtime.sla_watch.checks(number)}
    assert checks == {
        "classify": ticket.sla_classify_by, "analyse": ticket.sla_analyse_by, "resolve": ticket.sla_resolve_by,
        "total": ticket.sla_close_by, "escalate": ticket.sla_resolve_by - timedelta(hours=1),
    }
    queued = sorted(key.decode() for key in await queue.zrange("arq:queue", 0, -1))
    assert queued == sorted(f"sla:{number}:{check}" for check in checks)
