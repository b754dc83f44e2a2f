"""The call-back and survey dialogue through real Rasa: the domain, rules and forms as trained,
and the real action server over HTTP.

Button payloads run on a model trained core-only from this checkout's domain and rules
(seconds; the policies are rules and memoization), exactly as in production; a typed answer
reaches the form with no intent, which is what the form must cope with anyway. Text the
customer types outside a form ("cancel my call", "4 out of 5") runs on the full trained
model (``scripts/train_model.py``, or ``E2E_MODEL``), whose classifier reads it as a
customer's words would be read. The business is made to be closed now and open in two days
(``COMPLAINTS_CONFIG_DIR`` points at a copy of settings/ with those hours), so asking for
a person is out of hours whatever the time the test runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.server import update_conversation_with_events
from rasa.shared.core.events import Event
from rasa.utils.endpoints import EndpointConfig

from bot.callbacks.policy import WEEKDAYS
from bot.callbacks.service import pushed_payload
from bot.callbacks.store import CallbackStore
from bot.db import make_engine, make_sessionmaker, migrate
from bot.followup.messages import step_message
from bot.followup.store import FollowupStore
from bot.outbound.messages import Conversation
from bot.outbound.store import DeliveryRecord
from bot.outbound.transcript import transcript_events
from bot.tickets import TicketStore
from scripts.train_model import model_path
from tests.action_server_process import running_action_server
from tests.callbacks.conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, ROOT
from tests.followup.support import file_ticket, resolve

ACTION_PORT = 15055 + int(os.environ.get("E2E_PORT_OFFSET", "0")) + 60
LONDON = ZoneInfo("Europe/London")


def open_day() -> date:
    """The day, two days from now in London, on which the test's business opens."""
    return datetime.now(LONDON).date() + timedelta(days=2)


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("settings")
    for path in (ROOT / "settings").glob("*.yml"):
        shutil.copy(path, folder / path.name)
    raw = yaml.safe_load((ROOT / "settings" / "callbacks.yml").read_text(encoding="utf-8"))
    raw["business_hours"] = {WEEKDAYS[open_day().weekday()]: ["09:00-17:00"]}
    (folder / "callbacks.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def core_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "core", "--config", "config.yml", "--domain", "domain.yml",
         "--stories", "data", "--out", str(out), "--fixed-model-name", "core"],
        cwd=ROOT, check=True, capture_output=True, timeout=600,
    )
    return out / "core.tar.gz"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'complaints.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def action_server(config_dir: Path, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real action server on loopback; yields its token."""
    env = {
        **os.environ, "DATABASE_URL": database_url, "COMPLAINTS_CONFIG_DIR": str(config_dir),
        "COMPLAINTS_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")), "REDIS_HOST": REDIS_HOST,
        "REDIS_PORT": str(REDIS_PORT), "WORKER_REDIS_DB": str(REDIS_DB),
    }
    with running_action_server(ACTION_PORT, env, tmp_path_factory.mktemp("logs") / "actions.log") as token:
        yield token


def _endpoint(token: str) -> EndpointConfig:
    return EndpointConfig(f"http://127.0.0.1:{ACTION_PORT}/webhook", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def agent(core_model: Path, action_server: str) -> AsyncIterator[Agent]:
    yield Agent.load(str(core_model), action_endpoint=_endpoint(action_server))


@pytest.fixture(scope="module")
def full_model() -> Path:
    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    assert model.exists(), f"no trained model at {model}: run scripts/train_model.py (or 'make setup') first"
    return model


@pytest.fixture
async def full_agent(full_model: Path, action_server: str) -> AsyncIterator[Agent]:
    """The full trained model (NLU and dialogue) against the same action server."""
    yield Agent.load(str(full_model), action_endpoint=_endpoint(action_server))


async def say(agent: Agent, sender: str, text: str) -> list[dict[str, Any]]:
    channel = CollectingOutputChannel()
    await agent.handle_message(UserMessage(text, channel, sender))
    return channel.messages


def payload(entity: str, value: str) -> str:
    return "/choose_option" + json.dumps({entity: value}, separators=(",", ":"))


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [message.get("text") or "" for message in messages]


async def test_a_person_asked_for_out_of_hours_gets_a_call_back_booked_cancelled_and_booked_from_a_push(
    agent: Agent, database_url: str
) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    opened = await say(agent, sender, "/ask_human")
    handoff, out_of_hours, offer = opened[0], opened[1], opened[2]
    assert handoff["text"] == "Of course, I'll bring in a member of our team."
    assert out_of_hours["text"].startswith("Nobody from our team is online right now (our hours are ")
    assert "I've passed your case to them as ticket CX-" in out_of_hours["text"]
    assert offer["text"].startswith("When shall we call you? These are the next free times (your time, Europe/London):\n1. ")
    first = offer["buttons"][0]
    assert first["payload"].startswith('/choose_option{"callback_time":"' + open_day().isoformat() + "T")
    assert offer["buttons"][-1] == {"title": "No call, thanks", "payload": payload("callback_time", "none")}

    refused = await say(agent, sender, "flibber wobble")
    assert texts(refused)[0].startswith("Sorry, I couldn't read a time from that, so nothing is booked yet.")
    assert texts(refused)[1].startswith("When shall we call you?")
    assert "Sorry, I didn't get that" not in " ".join(texts(refused))

    booked = await say(agent, sender, first["payload"])
    assert texts(booked)[0].startswith("Booked: we'll call you about ticket CX-")
    assert f"on {first['title']}. I'll send you a reminder 15 minutes before." in texts(booked)[0]
    assert [button["title"] for button in booked[0]["buttons"]] == ["Change the time", "Cancel the call"]
    assert texts(booked)[1] == "Is there anything else I can help you with?"

    engine = make_engine(database_url)
    store = CallbackStore(make_sessionmaker(engine), capacity=2)
    record = store.active_for_sender(sender)
    assert record is not None and record.state == "booked"
    assert record.slot_start.isoformat() == json.loads(first["payload"].removeprefix("/choose_option"))["callback_time"]

    cancelled = await say(agent, sender, payload("callback_action", "cancel"))
    assert texts(cancelled) == [f"Done: the call about ticket {record.ticket_number} on {first['title']} is cancelled."]
    assert store.get(record.key).state == "cancelled"

    first_time = json.loads(first["payload"].removeprefix("/choose_option"))["callback_time"]
    pushed = await say(agent, sender, pushed_payload(first_time, record.ticket_number))
    assert texts(pushed)[0].startswith(f"Booked: we'll call you about ticket {record.ticket_number} on {first['title']}.")
    assert store.active_for_sender(sender).key == f"callback:{record.ticket_number}:2"
    engine.dispose()


async def test_a_typed_time_on_the_open_day_is_booked_and_can_be_moved(agent: Agent, database_url: str) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    await say(agent, sender, "/ask_human")
    day = open_day()
    booked = await say(agent, sender, f"{day.day} {day:%B} at 2pm")
    assert texts(booked)[0].startswith("Booked: we'll call you about ticket CX-")
    assert f"{day.day} {day:%b}, 14:00" in texts(booked)[0]

    moved = await say(agent, sender, payload("callback_action", "reschedule"))
    assert texts(moved)[0].startswith("When shall we call you?")
    rebooked = await say(agent, sender, f"{day.day} {day:%B} at 3pm")
    assert f"{day.day} {day:%b}, 15:00" in texts(rebooked)[0]

    engine = make_engine(database_url)
    store = CallbackStore(make_sessionmaker(engine), capacity=2)
    active = store.active_for_sender(sender)
    assert active.slot_start.astimezone(LONDON).hour == 15
    assert store.get(active.key.rsplit(":", 1)[0] + ":1").state == "rescheduled"
    engine.dispose()


async def book_a_call(agent: Agent, sender: str, database_url: str) -> tuple[CallbackStore, Any, dict[str, str]]:
    """Ask for a person out of hours and book the first offered time by its button."""
    opened = await say(agent, sender, "/ask_human")
    first = opened[2]["buttons"][0]
    booked = await say(agent, sender, first["payload"])
    assert texts(booked)[0].startswith("Booked: we'll call you about ticket CX-")
    store = CallbackStore(make_sessionmaker(make_engine(database_url)), capacity=2)
    return store, store.active_for_sender(sender), first


async def test_cancel_my_call_typed_cancels_the_booked_call(full_agent: Agent, database_url: str) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    store, record, first = await book_a_call(full_agent, sender, database_url)
    cancelled = await say(full_agent, sender, "cancel my call")
    assert texts(cancelled) == [f"Done: the call about ticket {record.ticket_number} on {first['title']} is cancelled."]
    assert store.get(record.key).state == "cancelled"


async def test_a_call_moved_in_words_is_booked_at_the_time_named(full_agent: Agent, database_url: str) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    store, record, _ = await book_a_call(full_agent, sender, database_url)
    day = open_day()
    moved = await say(full_agent, sender, f"can we move the call to {day:%A} at 10")
    assert texts(moved)[0].startswith(f"Booked: we'll call you about ticket {record.ticket_number} on ")
    assert f"{day.day} {day:%b}, 10:00" in texts(moved)[0]
    active = store.active_for_sender(sender)
    assert active.key == f"callback:{record.ticket_number}:2"
    assert active.slot_start.astimezone(LONDON).replace(tzinfo=None) == datetime.combine(day, datetime.min.time()).replace(hour=10)
    assert store.get(record.key).state == "rescheduled"


async def test_a_call_asked_for_in_words_with_none_booked_is_booked(full_agent: Agent, database_url: str) -> None:
    """The customer said no to the offered call, then asks for one after all: the words (which the
    classifier reads as a change of a call) book the day they name for the conversation's ticket."""
    sender = f"web:{secrets.token_hex(6)}"
    opened = await say(full_agent, sender, "/ask_human")
    declined = await say(full_agent, sender, opened[2]["buttons"][-1]["payload"])
    assert texts(declined)[0].startswith("No problem, no call is booked")
    day = open_day()
    asked = await say(full_agent, sender, f"please call me on {day:%A}")
    assert texts(asked)[0].startswith("Booked: we'll call you about ticket CX-")
    assert f"{day:%a} {day.day} {day:%b}, 09:00" in texts(asked)[0]
    store = CallbackStore(make_sessionmaker(make_engine(database_url)), capacity=2)
    active = store.active_for_sender(sender)
    assert active.key.endswith(":1") and active.state == "booked"
    assert active.slot_start.astimezone(LONDON).replace(tzinfo=None) == datetime.combine(day, datetime.min.time()).replace(hour=9)

    other = f"web:{secrets.token_hex(6)}"
    opened = await say(full_agent, other, "/ask_human")
    await say(full_agent, other, opened[2]["buttons"][-1]["payload"])
    closed = await say(full_agent, other, "can you call me tomorrow please")  # the business opens the day after
    assert texts(closed)[0].startswith("We don't make calls that day (our hours are ")
    assert texts(closed)[1].startswith("When shall we call you? These are the next free times")
    assert closed[1]["buttons"][0]["payload"].startswith('/choose_option{"callback_time":"' + day.isoformat() + "T")
    assert store.active_for_sender(other) is None


def open_survey(database_url: str, sender: str) -> tuple[str, list[dict[str, Any]]]:
    """A ticket of ``sender`` resolved 80 h ago whose survey was just sent; its number and the
    events the outbound path appends to the conversation (the survey, and ``survey_step`` "asked")."""
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        tickets, followups = TicketStore(sessions, attempts=1, delay_s=0.0), FollowupStore(sessions)
        now = datetime.now(timezone.utc)
        ticket = file_ticket(tickets, now - timedelta(hours=80), sender_id=sender)
        resolve(tickets, ticket.number, now - timedelta(hours=80))
        key = f"followup:{ticket.number}:72h"
        assert key in [f.key for f in followups.claim_due(now, limit=10, lease=timedelta(minutes=1))]
        followups.advance([key], "survey", now, now + timedelta(hours=24))
    finally:
        engine.dispose()
    record = DeliveryRecord(
        key=f"{key}:survey", conversation=Conversation.from_sender_id(sender),
        message=step_message("survey", ticket.number, "webchat"), status="sent", attempts=1, last_error=None,
        next_attempt_at=now, created_at=now, sent_at=now, transcript_status="pending", transcript_attempts=0,
    )
    return ticket.number, transcript_events(record)


async def append(agent: Agent, sender: str, events: list[dict[str, Any]]) -> None:
    """What Rasa's ``POST /conversations/{id}/tracker/events`` does with the outbound path's events."""
    parsed = [Event.from_parameters(event) for event in events]
    tracker = await update_conversation_with_events(sender, agent.processor, agent.domain, parsed)
    await agent.tracker_store.save(tracker)


async def test_a_survey_answered_in_words_is_understood(full_agent: Agent, database_url: str) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    number, events = open_survey(database_url, sender)
    assert [event["event"] for event in events] == ["bot", "slot"]
    await append(full_agent, sender, events)

    rated = await say(full_agent, sender, "4 out of 5")
    assert texts(rated) == ["Thank you. And was your problem really solved?"]
    assert [button["title"] for button in rated[0]["buttons"]] == ["Yes, it was", "No, it wasn't"]
    not_solved = await say(full_agent, sender, "no, it is still broken")
    assert texts(not_solved) == [
        f"I'm sorry we didn't get this right. I've reopened your complaint {number} with a higher priority, "
        "and a member of our team will take it on personally."
    ]

    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        ticket = TicketStore(sessions, attempts=1, delay_s=0.0).get(number)
        answer = FollowupStore(sessions).answer(f"followup:{number}:72h")
    finally:
        engine.dispose()
    assert (ticket.status, ticket.priority) == ("escalated", "P2")
    assert (answer.rating, answer.solved, answer.comment) == (4, False, None)


async def test_bad_typed_survey_answers_are_asked_about_again_and_change_nothing(full_agent: Agent, database_url: str) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    number, events = open_survey(database_url, sender)
    await append(full_agent, sender, events)

    again = await say(full_agent, sender, "7")
    assert texts(again) == ["Sorry, I need a number from 1 to 5 for that question. Please tap one of the buttons or reply with a single number."]
    assert [button["title"] for button in again[0]["buttons"]] == ["1", "2", "3", "4", "5"]
    left = await say(full_agent, sender, "meh")
    assert texts(left) == [
        f"No problem, I'll leave the survey about complaint {number} there and change nothing more. "
        "You can still answer it later with its buttons."
    ]
    rated = await say(full_agent, sender, "five")  # later, typed: still the survey's
    assert texts(rated) == ["Thank you. And was your problem really solved?"]
    engine = make_engine(database_url)
    try:
        answer = FollowupStore(make_sessionmaker(engine)).answer(f"followup:{number}:72h")
    finally:
        engine.dispose()
    assert (answer.rating, answer.solved) == (5, None)
