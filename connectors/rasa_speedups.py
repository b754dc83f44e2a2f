"""Two hot spots of Rasa 3.6's message path, computed once instead of per call.

Profiling our Rasa servers under load (py-spy, 50 and 200 concurrent conversations)
found two pieces of constant work redone on every message:

- every action-server response is checked with ``jsonschema.validate(result, schema)``,
  which first re-validates the constant schema against its meta-schema: about 37 % of
  a server's CPU. Here a validator is compiled once from the same schema; every
  response is still validated, with the same errors.
- every stored event is deserialised through ``Event.resolve_by_type``, which walks
  all subclasses of ``Event`` for each event: about 12 % once the first fix was in.
  Here the walk is done once into a table, keeping the first class for each name in
  the same order.

Installed by the channel at start-up (``connectors.rest``), so both are in force in
every Rasa server process this project runs; behaviour is unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses


@functools.lru_cache(maxsize=1)
def _response_validator() -> Validator:
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _response_validator().validate(result)
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


def install() -> None:
    """Use the compiled validator and the event table in this process."""
    RemoteAction._validate_action_result = _validate_action_result
    Event.resolve_by_type = staticmethod(_resolve_by_type)
