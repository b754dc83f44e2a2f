"""The compiled validator accepts and rejects exactly what Rasa's own check does."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from connectors import action_validation

GOOD = {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{"text": "hi"}]}
BAD = [{"events": "not a list"}, {"events": [{"no_event_key": 1}]}, {"responses": [5]}]


def test_good_responses_pass_both_ways() -> None:
    schema = RemoteAction.action_response_format_spec()
    jsonschema.validate(GOOD, schema)
    assert action_validation._validate_action_result(None, GOOD) is True


@pytest.mark.parametrize("result", BAD)
def test_bad_responses_fail_both_ways(result: dict) -> None:
    schema = RemoteAction.action_response_format_spec()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(result, schema)
    with pytest.raises(jsonschema.ValidationError) as error:
        action_validation._validate_action_result(None, result)
    assert "Failed to validate Action server response" in error.value.message


def test_install_replaces_rasas_check() -> None:
    original = RemoteAction._validate_action_result
    try:
        action_validation.install()
        assert RemoteAction._validate_action_result is action_validation._validate_action_result
    finally:
        RemoteAction._validate_action_result = original
