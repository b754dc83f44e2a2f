"""The awaited Redis tracker store stores exactly what Rasa's own store stores, on a real Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from rasa.core.tracker_store import RedisTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from connectors.tracker_store import AsyncRedisTrackerStore

REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
DB = 3
DOMAIN = Domain.from_dict({"slots": {"contact": {"type": "any", "mappings": [{"type": "custom"}]}}})


@pytest.fixture
def stores() -> Iterator[tuple[AsyncRedisTrackerStore, RedisTrackerStore]]:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=DB)
    client.flushdb()
    ours = AsyncRedisTrackerStore(DOMAIN, host=REDIS_HOST, port=REDIS_PORT, db=DB, key_prefix="ours", record_exp=600)
    rasas = RedisTrackerStore(DOMAIN, host=REDIS_HOST, port=REDIS_PORT, db=DB, key_prefix="rasas", record_exp=600)
    yield ours, rasas
    client.flushdb()


def _conversation() -> list:
    first = [ActionExecuted("action_session_start", timestamp=1.0), SessionStarted(timestamp=1.1),
             ActionExecuted("action_listen", timestamp=1.2),
             UserUttered("my parcel is late", {"name": "complain_delivery", "confidence": 0.9}, timestamp=2.0),
             SlotSet("contact", "jane@example.com", timestamp=2.1)]
    second = [ActionExecuted("action_session_start", timestamp=10.0), SessionStarted(timestamp=10.1),
              ActionExecuted("action_listen", timestamp=10.2),
              UserUttered("any news?", {"name": "ask_status", "confidence": 0.8}, timestamp=11.0)]
    return first + second


async def test_it_writes_and_reads_what_rasas_store_writes_and_reads(stores) -> None:
    ours, rasas = stores
    for store in (ours, rasas):
        await store.save(DialogueStateTracker.from_events("jane", _conversation(), slots=DOMAIN.slots))
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=DB, decode_responses=True)
    assert client.get("ours:tracker:jane") == client.get("rasas:tracker:jane")
    assert 590 < client.ttl("ours:tracker:jane") <= 600

    latest, rasas_latest = await ours.retrieve("jane"), await rasas.retrieve("jane")
    assert [e.as_dict() for e in latest.events] == [e.as_dict() for e in rasas_latest.events]
    assert latest.events[-1].text == "any news?" and len(latest.events) == 4
    whole = await ours.retrieve_full_tracker("jane")
    assert len(whole.events) == 9
    assert [e.value for e in whole.events if isinstance(e, SlotSet)] == ["jane@example.com"]
    assert await ours.retrieve("nobody") is None


async def test_saving_a_latest_session_keeps_the_earlier_ones(stores) -> None:
    ours, _ = stores
    await ours.save(DialogueStateTracker.from_events("sam", _conversation(), slots=DOMAIN.slots))
    latest = await ours.retrieve("sam")
    latest.update(ActionExecuted("utter_status", timestamp=12.0))
    await ours.save(latest)
    whole = await ours.retrieve_full_tracker("sam")
    assert [e.as_dict().get("name") or e.as_dict().get("text") for e in whole.events][-3:] == [
        "action_listen", "any news?", "utter_status"]
    assert len(whole.events) == 10


def test_endpoints_yml_names_it_the_way_rasa_loads_it() -> None:
    config = EndpointConfig(type="connectors.tracker_store.AsyncRedisTrackerStore", url=REDIS_HOST,
                            port=REDIS_PORT, db=DB, key_prefix="complaints")
    store = TrackerStore.create(config, DOMAIN)
    assert isinstance(store, AsyncRedisTrackerStore)
    assert store.key_prefix == "complaints:tracker:"
