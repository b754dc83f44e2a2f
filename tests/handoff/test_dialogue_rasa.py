"""The hand-off through real Rasa: this checkout's trained model (NLU included), the real action
server over HTTP, the paused-conversation hooks of the Rasa servers, SQLite and the real Redis.

The model is the one ``scripts/train_model.py`` trains for this checkout's inputs (trained here
if it is missing, as ``make setup`` would). The business is open round the clock
(``tests/round_the_clock.py``), so a person is always "online" whatever the hour the test runs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.domain import SessionConfig
from rasa.shared.core.events import SessionStarted, UserUttered
from rasa.utils.endpoints import EndpointConfig

from bot.callbacks.policy import callback_policy
from bot.db import make_engine, make_sessionmaker, migrate
from bot.handoff.policy import handoff_policy
from bot.handoff.store import HandoffStore
from bot.tickets import TicketStore
from connectors import paused_conversations
from scripts.train_model import model_path
from tests.action_server_process import running_action_server
from tests.handoff.conftest import REDIS_HOST, REDIS_PORT, ROOT, Listener
from tests.round_the_clock import round_the_clock_settings

ACTION_PORT = 15055 + int(os.environ.get("E2E_PORT_OFFSET", "0")) + 70


@pytest.fixture(scope="module")
def trained_model() -> Path:
    """This checkout's model, trained first if no model for the same inputs exists yet."""
    target = model_path()
    if not target.exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "train_model.py")], cwd=ROOT, check=True, timeout=3600,
                       stdout=subprocess.DEVNULL)
    return target


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The settings, database and Redis both the action server and this process's Rasa use."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'complaints.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    values = {
        "DATABASE_URL": url, "COMPLAINTS_CONFIG_DIR": str(round_the_clock_settings(tmp_path_factory.mktemp("cfg"))),
        "COMPLAINTS_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")), "REDIS_HOST": REDIS_HOST, "REDIS_PORT": str(REDIS_PORT),
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    caches = (paused_conversations.handoffs, handoff_policy, callback_policy)
    for cached in caches:
        cached.cache_clear()
    yield values
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for cached in caches:
        cached.cache_clear()


@pytest.fixture(scope="module")
def action_server(environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real action server on loopback; yields its token."""
    log = tmp_path_factory.mktemp("logs") / "actions.log"
    with running_action_server(ACTION_PORT, {**os.environ, **environment}, log) as token:
        yield token


@pytest.fixture
async def agent(trained_model: Path, action_server: str) -> AsyncIterator[Agent]:
    """A Rasa server's agent with the paused-conversation hooks the channels install."""
    paused_conversations.install()
    endpoint = EndpointConfig(
        f"http://127.0.0.1:{ACTION_PORT}/webhook", headers={"Authorization": f"Bearer {action_server}"}
    )
    yield Agent.load(str(trained_model), action_endpoint=endpoint)


async def say(agent: Agent, sender: str, text: str) -> list[str]:
    channel = CollectingOutputChannel()
    await agent.handle_message(UserMessage(text, channel, sender))
    return [message.get("text") or "" for message in channel.messages]


def stores(environment: dict[str, str]) -> tuple[TicketStore, HandoffStore]:
    sessions = make_sessionmaker(make_engine(environment["DATABASE_URL"]))
    return TicketStore(sessions, attempts=2, delay_s=0.05), HandoffStore(sessions)


async def test_asking_for_a_person_pauses_the_bot_and_what_the_customer_writes_next_is_kept(
    agent: Agent, environment: dict[str, str], listener: Listener
) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    opening = await say(agent, sender, "My new kettle's lid cracked the first time I used it and I want it sorted")
    assert len(opening) >= 2 and opening[-1].endswith("?"), opening  # the acknowledgement, then the first question

    handed = await say(agent, sender, "Can I talk to a real person please?")
    assert handed[0] == "Of course, I'll bring in a member of our team."
    assert handed[1].startswith("I've passed your case to our team as ticket CX-"), handed
    assert "You can keep writing here while you wait: everything you send goes straight to them." in handed[1]
    assert len(handed) == 2
    tickets, handoffs = stores(environment)
    [ticket] = tickets.find_by_sender("webchat", sender)
    assert ticket.status == "escalated" and "kettle's lid cracked" in ticket.narrative
    handoff = handoffs.live_for_sender(sender)
    assert (handoff.ticket_number, handoff.state, handoff.rule_ids) == (ticket.number, "waiting", ["asked_for_person"])
    channel, notice = await listener.next()
    assert (channel, notice["event"], notice["ticket_number"]) == ("handoff:queue", "waiting", ticket.number)

    assert await say(agent, sender, "hello? is anyone there? my order number is 88412") == []
    tracker = await agent.tracker_store.retrieve(sender)
    assert tracker.is_paused()
    assert tracker.latest_message.text == "hello? is anyone there? my order number is 88412"
    channel, notice = await listener.next()
    assert (channel, notice["text"], notice["ticket_number"]) == (
        f"handoff:chat:{handoff.id}", "hello? is anyone there? my order number is 88412", ticket.number)
    line = tickets.get(ticket.number).transcript[-1]
    assert (line["sender"], line["text"], line["handoff_id"]) == ("customer", "hello? is anyone there? my order number is 88412", handoff.id)


async def test_the_pause_outlives_a_new_session(agent: Agent, environment: dict[str, str]) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    await say(agent, sender, "/ask_human")
    agent.processor.domain.session_config = SessionConfig(session_expiration_time=1 / 60, carry_over_slots=True)
    await asyncio.sleep(1.5)
    assert await say(agent, sender, "I've waited ages, still nobody") == []
    tracker = await agent.tracker_store.retrieve_full_tracker(sender)
    assert tracker.is_paused()
    assert any(isinstance(event, SessionStarted) for event in tracker.events)
    assert isinstance(tracker.events[-1], UserUttered) and tracker.events[-1].text == "I've waited ages, still nobody"
    tickets, handoffs = stores(environment)
    [ticket] = tickets.find_by_sender("webchat", sender)
    assert tickets.get(ticket.number).transcript[-1]["text"] == "I've waited ages, still nobody"
    assert handoffs.live_for_sender(sender).ticket_number == ticket.number


async def test_a_safety_incident_in_the_opening_goes_to_a_person_at_once(agent: Agent, environment: dict[str, str]) -> None:
    sender = f"web:{secrets.token_hex(6)}"
    replies = await say(agent, sender, "The phone charger I bought from you caught fire on my desk last night")
    assert replies[1] == ("I'm so sorry. If anyone is hurt or in danger right now, please call the emergency services "
                          "first. I'm passing this to a member of our team straight away.")
    assert replies[2].startswith("I've passed your case to our team as ticket CX-") and len(replies) == 3
    _, handoffs = stores(environment)
    record = handoffs.live_for_sender(sender)
    assert (record.priority, record.reasons) == ("P1", [{"rule": "safety_incident", "evidence": "caught fire"}])
    assert await say(agent, sender, "are you there") == []

