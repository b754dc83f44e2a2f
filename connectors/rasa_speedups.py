"""Hot spots of Rasa 3.6's message path, done once instead of per call.

Profiling our Rasa servers under load (py-spy, 50 and 200 concurrent conversations)
found two pieces of constant work redone on every message:

- every action-server response is checked with ``jsonschema.validate(result, schema)``,
  which first re-validates the constant schema against its meta-schema: about 37 % of
  a server's CPU. Here validators are compiled once from the same schema, and each event
  is checked against the branch of the schema's ``oneOf`` that its type names, instead of
  against all 23 (another 10 %): what is accepted is exactly what the schema accepts, and
  a response that fails is checked again with the whole schema for Rasa's own error.
- every stored event is deserialised through ``Event.resolve_by_type``, which walks
  all subclasses of ``Event`` for each event: about 12 % once the first fix was in.
  Here the walk is done once into a table, keeping the first class for each name in
  the same order.
- every call to the action server (several a message) opens a new HTTP session and TCP
  connection (``EndpointConfig.request`` builds a ``ClientSession`` per call), and the
  action server accepts and tears each one down. Here each endpoint keeps one session
  per event loop and reuses its connections; an idle connection is closed by the client
  after ``KEEPALIVE_S``, before the action server's ``SERVER_KEEPALIVE_S``
  (``connectors.action_server``), so a request never lands on a connection the server is
  closing. Requests, headers, parameters and errors are Rasa's own.
- saving a tracker to Redis merges it with the stored one, and when the two do not list
  the same events in the same order, every event is compared with every other through
  ``as_dict()``: quadratic in the conversation's length. A message with metadata (every
  Telegram update) starts its session with events whose stored order differs from the
  order in memory, so every save of such a conversation took that path (17 % of a
  server's CPU on Telegram). Here each event is compared only with the events of the same
  type and timestamp (two events with equal ``as_dict()`` always share both): the same
  merge, in linear time.
- the tracker sent with each action call is serialised by ``json.dumps`` (about 7 % of a
  server's CPU under load, the tracker being tens of kilobytes by the end of a complaint).
  The kept session serialises with ``ujson`` (already in Rasa's dependency tree), about
  twice as fast for the same JSON value.
- ``Domain.is_empty`` serialises the whole domain twice (``as_dict()`` of it and of an
  empty one) on every parsed message (about 2 %). A loaded domain never changes, so the
  answer is kept on the instance after the first call.
- the intent classifier's ``predict_proba`` multiplies the message's sparse features by
  ``coef_.T``, a transposed (column-major) view of the weights; scipy needs it row-major
  and copies the whole matrix, every n-gram of the vocabulary times every intent, on
  every message (5 ms a message, 12 % of a server's CPU under load). The loaded
  classifier keeps its weights in column-major order instead, so ``coef_.T`` is
  row-major already and nothing is copied: the same numbers, multiplied the same way.

Installed by the channel at start-up (``connectors.rest``), so both are in force in
every Rasa server process this project runs; behaviour is unchanged.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import ssl
from collections import defaultdict
from typing import Any

import aiohttp
import numpy as np
import ujson
from jsonschema import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.core.tracker_store import RedisTrackerStore
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import FileNotFoundException
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url

from connectors.action_server import SERVER_KEEPALIVE_S

KEEPALIVE_S = SERVER_KEEPALIVE_S / 3
"""How long the Rasa server keeps an idle connection to the action server open: well
under the action server's own limit, so the client always closes first."""

_dumps = functools.partial(ujson.dumps, escape_forward_slashes=False)
"""JSON for the action server: the same value as ``json.dumps`` gives, without escaping ``/``."""

_SESSIONS: dict[int, tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = {}


@functools.lru_cache(maxsize=1)
def _response_validator() -> Validator:
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@functools.lru_cache(maxsize=1)
def _dispatching_validators() -> tuple[Validator, dict[str, Validator]]:
    """The response schema without its per-event ``oneOf``, and one validator per event type.

    The schema's events are a ``oneOf`` of 23 branches, each fixing ``event`` to its own
    constant, so an event can only ever match the branch of its own type: checking that
    branch alone accepts exactly what the ``oneOf`` accepts, without trying the other 22.
    """
    schema = copy.deepcopy(RemoteAction.action_response_format_spec())
    item = schema["properties"]["events"]["items"]
    branches = item.pop("oneOf")
    schema["properties"]["events"]["items"] = {"type": "object"}
    validator_class = validator_for(schema)
    by_type = {}
    for branch in branches:
        event_type = branch["properties"]["event"]["const"]
        by_type[event_type] = validator_class({**item, "allOf": [branch]})
    return validator_class(schema), by_type


def _is_valid_response(result: Any) -> bool:
    outer, by_type = _dispatching_validators()
    if not outer.is_valid(result):
        return False
    for event in result.get("events") or []:
        validator = by_type.get(event.get("event")) if isinstance(event.get("event"), str) else None
        if validator is None or not validator.is_valid(event):
            return False
    return True


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    if _is_valid_response(result):
        return True
    try:
        _response_validator().validate(result)  # the full schema, for Rasa's own error
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


@functools.lru_cache(maxsize=1)
def _event_classes() -> dict[str, type[Event]]:
    classes: dict[str, type[Event]] = {}
    for cls in all_subclasses(Event):
        classes.setdefault(cls.type_name, cls)
    return classes


def _resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    cls = _event_classes().get(type_name)
    if cls is not None:
        return cls
    if type_name == "topic":
        return None
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


def _shared_session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """The endpoint's session in the running loop, with Rasa's headers, auth and timeout."""
    loop = asyncio.get_running_loop()
    kept = _SESSIONS.get(id(endpoint))
    session = kept[1] if kept and kept[0] is loop else None  # never a session of a finished loop
    if session is None or session.closed:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"]) if endpoint.basic_auth else None
        session = aiohttp.ClientSession(
            headers=endpoint.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
            json_serialize=_dumps,
        )
        _SESSIONS[id(endpoint)] = (loop, session)
    return session


async def _request(
    self: EndpointConfig,
    method: str = "post",
    subpath: str | None = None,
    content_type: str | None = "application/json",
    compress: bool = False,
    **kwargs: Any,
) -> Any | None:
    """``EndpointConfig.request`` on the endpoint's kept session (see the module docstring)."""
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(kwargs.pop("headers", None) or {})
    headers.update(self.headers or {})
    sslcontext = None
    if self.cafile:
        try:
            sslcontext = ssl.create_default_context(cafile=self.cafile)
        except FileNotFoundError as error:
            raise FileNotFoundException(
                f"Failed to find certificate file, '{os.path.abspath(self.cafile)}' does not exist."
            ) from error
    async with _shared_session(self).request(
        method,
        concat_url(self.url, subpath),
        headers=headers,
        params=self.combine_parameters(kwargs),
        compress=compress,
        ssl=sslcontext,
        **kwargs,
    ) as response:
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason, await response.content.read())
        try:
            return await response.json()
        except aiohttp.ContentTypeError:
            return None


def _merge_trackers(prior_tracker: DialogueStateTracker, tracker: DialogueStateTracker) -> DialogueStateTracker:
    """``RedisTrackerStore._merge_trackers`` with the event comparison bucketed (see above)."""
    if not prior_tracker.events:
        return tracker
    past_tracker = tracker.travel_back_in_time(target_time=prior_tracker.events[-1].timestamp)
    if past_tracker.events == prior_tracker.events:
        return tracker
    merged = tracker.init_copy()
    merged.update_with_events(list(prior_tracker.events), override_timestamp=False, domain=None)
    seen: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for existing in merged.events:
        as_dict = existing.as_dict()
        seen[(as_dict.get("event"), as_dict.get("timestamp"))].append(as_dict)
    for new_event in tracker.events:
        as_dict = new_event.as_dict()
        bucket = seen[(as_dict.get("event"), as_dict.get("timestamp"))]
        if all(as_dict != existing for existing in bucket):
            merged.update(new_event)
            bucket.append(as_dict)
    return merged


_DOMAIN_IS_EMPTY = Domain.is_empty


def _domain_is_empty(self: Domain) -> bool:
    """``Domain.is_empty``, computed once per domain instance (see the module docstring)."""
    kept = self.__dict__.get("_speedups_is_empty")
    if kept is None:
        kept = self.__dict__["_speedups_is_empty"] = _DOMAIN_IS_EMPTY(self)
    return kept


_LOAD_CLASSIFIER = LogisticRegressionClassifier.load.__func__


def _load_classifier(cls: type[LogisticRegressionClassifier], *args: Any, **kwargs: Any) -> LogisticRegressionClassifier:
    """``LogisticRegressionClassifier.load``, with the weights column-major (see the module docstring)."""
    component = _LOAD_CLASSIFIER(cls, *args, **kwargs)
    weights = getattr(component.clf, "coef_", None)
    if weights is not None:
        component.clf.coef_ = np.asfortranarray(weights)
    return component


def install() -> None:
    """Use the compiled validator, the event table, kept connections, the kept domain answer
    and column-major classifier weights in this process."""
    RemoteAction._validate_action_result = _validate_action_result
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    EndpointConfig.request = _request
    RedisTrackerStore._merge_trackers = staticmethod(_merge_trackers)
    Domain.is_empty = _domain_is_empty
    LogisticRegressionClassifier.load = classmethod(_load_classifier)
