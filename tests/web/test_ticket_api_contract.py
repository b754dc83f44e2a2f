"""Property-based contract test of the ticket API: every answer, to inputs drawn from the OpenAPI
document itself, is one the document describes, and none is a server error.

schemathesis does not install beside Rasa's pins: every release needs either pytest<8 (3.19 and
older), anyio<4 (3.24 to 3.26) or jsonschema>=4.18 (3.27 on, and 4.x), and Rasa 3.6 holds
jsonschema<4.18 while the project runs pytest 8 and anyio 4. This does the same job with the
parts that do install: hypothesis draws the requests (hypothesis-jsonschema turns each
parameter's and body's schema into a strategy) and openapi-core validates each response
(status, content type, body schema) against web/openapi.yaml. Requests go over real HTTP on
loopback to a ``python -m web`` process on the real SQLite and PostgreSQL stores.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from openapi_core import Spec, V31ResponseValidator, validate_response
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate_spec

from bot.callbacks.store import STATES as CALLBACK_STATES
from bot.domain_config import CATEGORIES, PRIORITIES
from bot.followup.store import STATES as FOLLOWUP_STATES
from bot.lifecycle import STATES
from web.api import load_openapi
from web.directories import callback_id
from tests.web.ticket_api_support import Extras, TicketApi, extras, ticket_api

__all__ = ["extras", "ticket_api"]

DOCUMENT = load_openapi()
METHODS = ("get", "post")


def resolve(node: Any) -> Any:
    """The document with every local ``$ref`` replaced by what it points to (there are no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = DOCUMENT
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


OPERATIONS = [
    (method, path, resolve(item.get("parameters", []) + operation.get("parameters", [])), resolve(operation.get("requestBody")))
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]


def test_the_document_is_valid_openapi_and_names_the_products_own_values() -> None:
    validate_spec(DOCUMENT)
    schemas = DOCUMENT["components"]["schemas"]
    assert (tuple(schemas["Status"]["enum"]), tuple(schemas["Category"]["enum"]), tuple(schemas["Priority"]["enum"])) == (
        STATES, CATEGORIES, PRIORITIES,
    )
    assert (tuple(schemas["CallbackState"]["enum"]), tuple(schemas["Survey"]["properties"]["state"]["enum"])) == (
        CALLBACK_STATES, FOLLOWUP_STATES,
    )
    assert {(m.upper(), p) for m, p, _, _ in OPERATIONS} == {
        ("GET", "/api/v1/tickets"), ("GET", "/api/v1/tickets/{number}"), ("GET", "/api/v1/tickets/{number}/history"),
        ("POST", "/api/v1/tickets/{number}/transitions"), ("GET", "/api/v1/tickets/{number}/survey"),
        ("GET", "/api/v1/callbacks"), ("POST", "/api/v1/callbacks/{callback_id}/done"),
    }


class ResponseForSpec(RequestsOpenAPIResponse):
    """openapi-core 0.17 compares the whole Content-Type with the document's media type; the
    charset aiohttp adds (``application/json; charset=utf-8``) is a parameter, not another type."""

    @property
    def mimetype(self) -> str:
        return super().mimetype.split(";")[0].strip()


def as_query_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@st.composite
def api_calls(draw: st.DrawFn, known: dict[str, list[str]]) -> tuple[str, str, dict[str, str], Any, bool]:
    """(method, path, query, JSON body or None, with token) drawn from one operation of the document;
    a path parameter is often one the store knows (``known``, by parameter name)."""
    method, template, parameters, body = draw(st.sampled_from(OPERATIONS))
    path, query = template, {}
    for parameter in parameters:
        schema = parameter["schema"]
        if parameter["in"] == "path":
            value = draw(st.sampled_from(known[parameter["name"]]) | from_schema(schema))
            path = path.replace("{" + parameter["name"] + "}", quote(value, safe=""))
        elif draw(st.booleans()):
            query[parameter["name"]] = as_query_value(draw(from_schema(schema)))
    payload = None
    if body is not None and (body.get("required") or draw(st.booleans())):
        payload = draw(from_schema(body["content"]["application/json"]["schema"]))
    return method.upper(), path, query, payload, draw(st.integers(0, 9)) > 0


def check_call(api: TicketApi, spec: Spec, call: tuple[str, str, dict[str, str], Any, bool]) -> int:
    """Send one call; fail on a server error or an answer the document does not describe."""
    method, path, query, payload, with_token = call
    headers = {"Authorization": f"Bearer {api.token}"} if with_token else {}
    request = requests.Request(method, api.url + path, params=query, json=payload, headers=headers).prepare()
    with requests.Session() as session:
        response = session.send(request, timeout=10)
    assert response.status_code < 500, (call, response.status_code, response.text)
    if not with_token:
        assert response.status_code == 401, (call, response.status_code)
    validate_response(RequestsOpenAPIRequest(request), ResponseForSpec(response), spec=spec, cls=V31ResponseValidator)
    return response.status_code


def test_every_answer_to_inputs_drawn_from_the_document_is_described_by_it(ticket_api: TicketApi, extras: Extras) -> None:
    spec = Spec.from_dict(DOCUMENT)
    known = {
        "number": list(ticket_api.seeded.numbers.values()),
        "callback_id": [callback_id(record) for record in extras.callbacks.values()],
    }
    statuses: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(api_calls(known))
    def property_holds(call: tuple[str, str, dict[str, str], Any, bool]) -> None:
        statuses.append(check_call(ticket_api, spec, call))

    property_holds()

    assert {200, 401, 404, 409} <= set(statuses), sorted(set(statuses))
