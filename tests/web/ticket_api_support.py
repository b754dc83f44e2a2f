"""A real web app process (``python -m web``) serving the ticket API on loopback, over a store
(SQLite or PostgreSQL, the ``db_url`` fixture) seeded with tickets.

| variable | default | meaning |
|---|---|---|
| REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis the app's sessions and the outbound queue use |
| API_TEST_REDIS_DB | 8 | its database (web chat and job queue; flushed before and after) |
| E2E_PORT_OFFSET | 0 | the app listens on 15000 + offset + 99 (the last of the web tests' ports) |
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import requests

from bot.callbacks import CallbackRecord, CallbackStore
from bot.callbacks.slots import Slot
from bot.db import make_engine, make_sessionmaker, migrate
from bot.domain_config import load_domain_config
from bot.followup import FollowupStore
from bot.followup.answers import SurveyAnswers
from bot.followup.messages import SurveyValue
from bot.settings import PROJECT_ROOT
from bot.tickets import TicketStore
from tests.sla.conftest import make_draft
from tests.web.conftest import UNUSED_RASA_PORT, WEB_PORTS, start_web, web_env

REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_DB = int(os.environ.get("API_TEST_REDIS_DB", "8"))
API_PORT = WEB_PORTS[-1]
OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
BOOKED_AT = OPENED + timedelta(hours=1)
SLOTS = {
    name: Slot(start, start + timedelta(minutes=30))
    for name, start in (
        ("a", datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)),
        ("b", datetime(2026, 3, 3, 11, 0, tzinfo=timezone.utc)),
        ("c", datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)),
        ("d", datetime(2026, 3, 4, 14, 0, tzinfo=timezone.utc)),
    )
}
RUDE_RESOLVED = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)
"""10:00 in London (GMT in March), so 72 h later is outside the quiet hours: the survey is due then."""
BILL_RESOLVED = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)
BILL_RATED = BILL_RESOLVED + timedelta(hours=73)


@dataclass
class Seeded:
    """What the store holds before the test: ticket numbers by name."""

    numbers: dict[str, str]
    store: TicketStore


@dataclass
class TicketApi:
    """The running app, its token and the seeded store."""

    url: str
    token: str
    seeded: Seeded
    database_url: str

    def call(self, method: str, path: str, *, token: str | None = "", **kwargs: object) -> requests.Response:
        """A request with the right token (``token=""``), none (None) or the one given."""
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.token}"
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def seed(database_url: str) -> Seeded:
    """Five tickets across statuses, categories, channels, priorities and days."""
    engine = make_engine(database_url)
    migrate(engine)
    sla = load_domain_config(PROJECT_ROOT / "settings").sla
    store = TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.05, sla=sla)
    specs = {
        "kettle": dict(days=0, sender_id="web:kettle", category="product", priority="P3", contact="jane@example.com", customer_name="Jane Morris"),
        "parcel": dict(days=1, sender_id="web:parcel", category="delivery", priority="P2"),
        "bill": dict(days=2, sender_id="tg:4242", channel="telegram", category="billing", priority="P3"),
        "rude": dict(days=3, sender_id="web:rude", category="service", priority="P1", status="escalated"),
        "gone": dict(days=4, sender_id="tg:777", channel="telegram", category="delivery", priority="P4", status="withdrawn"),
    }
    numbers = {}
    for name, spec in specs.items():
        opened = OPENED + timedelta(days=spec.pop("days"))  # type: ignore[arg-type]
        numbers[name] = store.create(make_draft(opened, sla, **spec), opened).number
    return Seeded(numbers, store)


@dataclass
class Extras:
    """Callbacks and follow-ups written beside the seeded tickets: bookings by name, and the stores."""

    callbacks: dict[str, CallbackRecord]
    callback_store: CallbackStore
    followups: FollowupStore


def _resolve(store: TicketStore, number: str, at: datetime) -> None:
    store.transition(number, "acknowledged", actor="agent:Priya Shah", now=at - timedelta(minutes=2))
    store.transition(number, "in_progress", actor="agent:Priya Shah", now=at - timedelta(minutes=1))
    store.transition(number, "resolved", actor="agent:Priya Shah", now=at)


class SetClock:
    """A clock the seeding sets before each call."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def extras(ticket_api: TicketApi) -> Iterator[Extras]:
    """Callbacks in every state the list shows, and follow-ups in the three ways a ticket can stand.

    Callbacks (soonest first): kettle booked at a; bill booked at a, then cancelled; parcel
    booked at b, then moved to d (its first booking ``rescheduled``); rude booked at c and
    flagged missed. Follow-ups: kettle none; rude resolved (survey scheduled); bill resolved,
    surveyed, rated 3, solved and commented through the code the chat uses (which closes it).
    """
    engine = make_engine(ticket_api.database_url)
    sessions = make_sessionmaker(engine)
    callbacks = CallbackStore(sessions, capacity=2)
    followups = FollowupStore(sessions)
    tickets = ticket_api.seeded.store
    n = ticket_api.seeded.numbers

    def book(name: str, slot: str) -> CallbackRecord:
        ticket = tickets.get(n[name])
        assert ticket is not None
        return callbacks.book(
            ticket_number=ticket.number, channel=ticket.channel, sender_id=ticket.sender_id, slot=SLOTS[slot],
            customer_timezone="Europe/London", now=BOOKED_AT,
        )

    booked = {"kettle": book("kettle", "a"), "bill": book("bill", "a"), "parcel_first": book("parcel", "b")}
    booked["parcel"] = book("parcel", "d")
    booked["rude"] = book("rude", "c")
    callbacks.cancel(booked["bill"].key, BOOKED_AT + timedelta(hours=1))
    callbacks.mark_missed(booked["rude"].key, SLOTS["c"].end + timedelta(minutes=30))

    tickets.transition(n["rude"], "resolved", actor="agent:Priya Shah", now=RUDE_RESOLVED)
    _resolve(tickets, n["bill"], BILL_RESOLVED)
    bill = followups.for_ticket(n["bill"])
    assert bill is not None
    followups.advance([bill.key], "survey", bill.survey_due_at, bill.survey_due_at + timedelta(hours=24))  # its survey went out
    clock = SetClock(BILL_RATED)
    answers = SurveyAnswers(followups, tickets, clock)
    answers.answer("tg:4242", SurveyValue(n["bill"], "rating", "3"))
    clock.now += timedelta(minutes=1)
    answers.answer("tg:4242", SurveyValue(n["bill"], "solved", "yes"))
    clock.now += timedelta(minutes=1)
    answers.comment("tg:4242", "A phone call would have been quicker.")
    records = {name: callbacks.get(record.key) for name, record in booked.items()}
    yield Extras({name: record for name, record in records.items() if record is not None}, callbacks, followups)
    engine.dispose()


@pytest.fixture
def ticket_api(db_url: str, tmp_path: Path) -> Iterator[TicketApi]:
    """The web app on the seeded store, with a fresh API token."""
    seeded = seed(db_url)
    token = secrets.token_urlsafe(24)
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    client.flushdb()
    env = web_env(
        db_url, tmp_path / "files", UNUSED_RASA_PORT, secrets.token_urlsafe(24),
        RASA_PROCESSES="1", TICKET_API_TOKEN=token, REDIS_HOST=REDIS_HOST, REDIS_PORT=str(REDIS_PORT),
        WEBCHAT_REDIS_DB=str(REDIS_DB), WORKER_REDIS_DB=str(REDIS_DB),
    )
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    app = start_web(API_PORT, env, log_dir)
    try:
        yield TicketApi(app.url, token, seeded, db_url)
    finally:
        app.stop()
        client.flushdb()
        client.close()
