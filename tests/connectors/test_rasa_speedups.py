"""The hot-path fixes behave exactly like the Rasa code they replace."""

from __future__ import annotations

import asyncio
import socket

import jsonschema
import numpy as np
import pytest
import scipy.sparse
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.slots import AnySlot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from connectors import rasa_speedups

GOOD = {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{"text": "hi"}]}
BAD = [{"events": "not a list"}, {"events": [{"no_event_key": 1}]}, {"responses": [5]}]


def test_good_responses_pass_both_ways() -> None:
    schema = RemoteAction.action_response_format_spec()
    jsonschema.validate(GOOD, schema)
    assert rasa_speedups._validate_action_result(None, GOOD) is True


@pytest.mark.parametrize("result", BAD)
def test_bad_responses_fail_both_ways(result: dict) -> None:
    schema = RemoteAction.action_response_format_spec()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(result, schema)
    with pytest.raises(jsonschema.ValidationError) as error:
        rasa_speedups._validate_action_result(None, result)
    assert "Failed to validate Action server response" in error.value.message


def _sample_events() -> list[dict]:
    """Real events of many types, as an action server would send them."""
    from datetime import datetime

    from rasa.shared.core import events as ev

    made = [
        ev.SlotSet("contact", "a@b.c"), ev.ActionExecuted("action_listen"), ev.BotUttered("hi", {"buttons": []}),
        ev.UserUttered("hello", {"name": "greet", "confidence": 0.9}, [{"entity": "x", "value": 1, "start": 0, "end": 1}]),
        ev.FollowupAction("action_x"), ev.ActiveLoop("complaint_form"), ev.ActiveLoop(None), ev.Restarted(),
        ev.ConversationPaused(), ev.ConversationResumed(), ev.AllSlotsReset(), ev.UserUtteranceReverted(),
        ev.ActionReverted(), ev.SessionStarted(), ev.LoopInterrupted(True), ev.ActionExecutionRejected("a"),
        ev.ReminderScheduled("EXTERNAL_x", datetime(2026, 12, 1, 9, 0), name="r"), ev.ReminderCancelled(name="r"),
        ev.EntitiesAdded([{"entity": "x", "value": 1}]), ev.AgentUttered("agent says"),
    ]
    return [event.as_dict() for event in made]


def _broken(event: dict) -> list[dict]:
    """The event with each field in turn given a value of a type no schema allows there."""
    return [{**event, key: [object.__name__]} for key in event] + [{**event, "event": "no_such_event"}]


def test_the_per_type_check_accepts_exactly_what_the_schema_accepts() -> None:
    schema = RemoteAction.action_response_format_spec()
    full = jsonschema.validators.validator_for(schema)(schema)
    events = _sample_events()
    candidates = [{"events": [e]} for e in events] + [{"events": [b]} for e in events for b in _broken(e)]
    candidates += [{"events": events, "responses": [{"text": "x"}]}, *BAD, {"events": [5]}, {"events": [{}]}]
    assert sum(full.is_valid(c) for c in candidates) >= len(events)  # the valid ones are really valid
    assert any(not full.is_valid(c) for c in candidates)
    for candidate in candidates:
        assert rasa_speedups._is_valid_response(candidate) == full.is_valid(candidate), candidate


def _original_resolve(type_name: str, default=None):
    for cls in all_subclasses(Event):
        if cls.type_name == type_name:
            return cls
    if type_name == "topic":
        return None
    if default is not None:
        return default
    raise ValueError(type_name)


def test_every_event_type_resolves_to_the_same_class() -> None:
    for cls in all_subclasses(Event):
        assert rasa_speedups._resolve_by_type(cls.type_name) is _original_resolve(cls.type_name)
    assert rasa_speedups._resolve_by_type("topic") is None
    assert rasa_speedups._resolve_by_type("nope", Event) is Event
    with pytest.raises(ValueError):
        rasa_speedups._resolve_by_type("nope")


def test_install_replaces_them_all() -> None:
    replaced = [
        (RemoteAction, "_validate_action_result"), (Event, "resolve_by_type"),
        (EndpointConfig, "request"), (RedisTrackerStore, "_merge_trackers"), (Domain, "is_empty"),
        (LogisticRegressionClassifier, "load"),
    ]
    originals = [(owner, name, owner.__dict__[name]) for owner, name in replaced]
    try:
        rasa_speedups.install()
        assert RemoteAction._validate_action_result is rasa_speedups._validate_action_result
        assert Event.resolve_by_type("slot").type_name == "slot"
        assert EndpointConfig.request is rasa_speedups._request
        assert RedisTrackerStore._merge_trackers is rasa_speedups._merge_trackers
        assert Domain.is_empty is rasa_speedups._domain_is_empty
        assert LogisticRegressionClassifier.load.__func__ is rasa_speedups._load_classifier
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


ORIGINAL_MERGE = RedisTrackerStore.__dict__["_merge_trackers"].__func__


def _tracker(events: list) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("merge", events, slots=[AnySlot("session_started_metadata", []), AnySlot("contact", [])])


def _merge_cases() -> list[tuple[list, list]]:
    """(stored events, events in memory) as Redis saves meet them."""
    started = [ActionExecuted("action_session_start", timestamp=10.2),
               SlotSet("session_started_metadata", {"telegram_message_id": 1}, timestamp=10.1),
               SessionStarted(timestamp=10.3), ActionExecuted("action_listen", timestamp=10.4)]
    said = [UserUttered("my parcel is late", {"name": "complain_delivery"}, timestamp=11.0),
            SlotSet("contact", "a@b.c", timestamp=11.1), BotUttered("Sorry to hear that.", timestamp=11.2)]
    swapped = [started[1], started[0], *started[2:]]
    again = [BotUttered("Sorry to hear that.", timestamp=12.0), BotUttered("Sorry to hear that.", timestamp=12.0)]
    return [
        ([], started),
        (started, started + said),  # same order: Rasa keeps the tracker in memory
        (swapped, started + said),  # the stored session start in another order (a Telegram conversation)
        (swapped + said[:1], started + said + again),
        (swapped + [SlotSet("contact", "other@b.c", timestamp=11.05)], started + said),  # written meanwhile elsewhere
        (said, said[:2] + [SlotSet("contact", "a@b.c", timestamp=11.1)] + again),  # equal events in memory twice
    ]


@pytest.mark.parametrize("stored, in_memory", _merge_cases())
def test_merging_trackers_gives_what_rasa_gives(stored: list, in_memory: list) -> None:
    expected = ORIGINAL_MERGE(_tracker(stored), _tracker(in_memory))
    merged = rasa_speedups._merge_trackers(_tracker(stored), _tracker(in_memory))
    assert [e.as_dict() for e in merged.events] == [e.as_dict() for e in expected.events]
    assert merged.current_slot_values() == expected.current_slot_values()


async def _counting_server() -> tuple[web.AppRunner, str, list[int], list[dict[str, str]]]:
    """A loopback HTTP server that records each request's peer port and query; (runner, its URL, peers, queries)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    peers: list[int] = []
    queries: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername")[1])
        queries.append(dict(request.query) | {"auth": request.headers.get("Authorization", "")})
        if request.path.endswith("/broken"):
            return web.Response(status=500, text="no")
        if request.path.endswith("/plain"):
            return web.Response(text="not json")
        return web.json_response({"got": await request.json()})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", peers, queries


def test_endpoint_requests_reuse_one_connection_and_keep_rasas_behaviour() -> None:
    """Three calls, one TCP connection; token, headers, errors and non-JSON as Rasa has them."""
    original = EndpointConfig.request

    async def scenario() -> None:
        runner, url, peers, queries = await _counting_server()
        endpoint = EndpointConfig(url=f"{url}/webhook", token="t0k", headers={"Authorization": "Bearer s"})
        try:
            assert await endpoint.request(json={"n": 1}) == {"got": {"n": 1}}
            assert await endpoint.request(json={"n": 2}, params={"extra": "1"}) == {"got": {"n": 2}}
            assert await endpoint.request(subpath="plain", method="get") is None
            with pytest.raises(ClientResponseError) as raised:
                await endpoint.request(subpath="broken", json={})
            assert raised.value.status == 500
        finally:
            await runner.cleanup()
        assert len(set(peers)) == 1, peers
        assert queries[0] == {"token": "t0k", "auth": "Bearer s"}
        assert queries[1] == {"token": "t0k", "extra": "1", "auth": "Bearer s"}

    rasa_speedups.install()
    try:
        asyncio.run(scenario())
    finally:
        EndpointConfig.request = original


def test_a_domain_is_empty_exactly_when_rasa_says_so() -> None:
    original = Domain.__dict__["is_empty"]
    full = Domain.from_dict({"intents": ["greet"], "responses": {"utter_hi": [{"text": "hi"}]}})
    for domain in (Domain.empty(), full, Domain.empty()):
        assert rasa_speedups._domain_is_empty(domain) is original(domain)
        assert rasa_speedups._domain_is_empty(domain) is original(domain)  # the kept answer


def test_the_action_server_receives_the_same_json_value() -> None:
    """The body ujson writes decodes to exactly what Rasa sent: unicode, slashes, floats, nesting."""
    sent = {"tracker": {"events": [{"event": "user", "text": "naïve / 你好 \"quoted\" \u2028",
                                    "timestamp": 1764520000.123456789, "parse_data": {"confidence": 0.1 + 0.2}}],
                        "slots": {"amount": 1e-07, "big": 2**63, "none": None, "flag": False}},
            "next_action": "action_x", "version": "3.6.21"}
    original = EndpointConfig.request

    async def scenario() -> None:
        runner, url, _, _ = await _counting_server()
        try:
            assert await EndpointConfig(url=f"{url}/webhook").request(json=sent) == {"got": sent}
        finally:
            await runner.cleanup()

    rasa_speedups.install()
    try:
        asyncio.run(scenario())
    finally:
        EndpointConfig.request = original


def test_a_loaded_classifier_gives_rasas_probabilities_without_copying_its_weights(tmp_path) -> None:
    storage, resource = LocalModelStorage(tmp_path), Resource("intent_classifier")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**LogisticRegressionClassifier.get_default_config(), "random_state": 2026}
    random = np.random.default_rng(2026)
    features = scipy.sparse.random(60, 3000, density=0.02, format="csr", random_state=2026)
    intents = random.choice(["complain_delivery", "greet", "inform"], size=60)
    trained = LogisticRegressionClassifier.create(config, storage, resource, context)
    trained.clf.fit(features, intents)
    trained.persist()
    message = scipy.sparse.random(1, 3000, density=0.05, format="csr", random_state=7)

    rasas = rasa_speedups._LOAD_CLASSIFIER(LogisticRegressionClassifier, config, storage, resource, context)
    ours = rasa_speedups._load_classifier(LogisticRegressionClassifier, config, storage, resource, context)

    assert not rasas.clf.coef_.T.flags.c_contiguous
    assert ours.clf.coef_.T.flags.c_contiguous
    assert np.array_equal(ours.clf.coef_, rasas.clf.coef_)
    assert np.array_equal(ours.clf.predict_proba(message), rasas.clf.predict_proba(message))
    assert list(ours.clf.classes_) == ["complain_delivery", "greet", "inform"]
