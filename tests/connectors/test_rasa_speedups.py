"""The hot-path fixes behave exactly like the Rasa code they replace."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

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


def test_install_replaces_both() -> None:
    original_validate, original_resolve = RemoteAction._validate_action_result, Event.__dict__["resolve_by_type"]
    try:
        rasa_speedups.install()
        assert RemoteAction._validate_action_result is rasa_speedups._validate_action_result
        assert Event.resolve_by_type("slot").type_name == "slot"
    finally:
        RemoteAction._validate_action_result = original_validate
        Event.resolve_by_type = original_resolve
