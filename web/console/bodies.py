"""Reading a console API call's JSON body, and answering a bad one: one shape for every route."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object, or a 400 saying why not."""
    try:
        body = await request.json()
    except ValueError as error:
        raise bad_request("bad_json", "the body is not JSON") from error
    if not isinstance(body, dict):
        raise bad_request("bad_request", "send a JSON object")
    return body


def bad_request(error: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": error, "message": message}), content_type="application/json")


def json_error(status: type[web.HTTPException], error: str, /, **details: Any) -> web.HTTPException:
    """An error answer of the console API: ``{"error": ..., **details}`` with ``status``."""
    return status(text=json.dumps({"error": error, **details}), content_type="application/json")
