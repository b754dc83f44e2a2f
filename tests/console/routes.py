"""The console's routes as the app's router lists them, so the tests cover routes added later."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from web.console.guard import PREFIX, ROLE_ATTRIBUTE

PARAMETER = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    role: str
    """What the guard requires: ``agent``, ``supervisor`` or ``public`` (``missing``: no guard)."""


def console_routes(app: web.Application) -> list[Route]:
    """Every method and path under /console (HEAD included: aiohttp adds it beside each GET)."""
    found = {
        Route(route.method, route.resource.canonical, getattr(route.handler, ROLE_ATTRIBUTE, "missing"))
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(PREFIX + "/")
    }
    return sorted(found, key=lambda route: (route.path, route.method))


def with_sample_parameters(path: str) -> str:
    """A requestable path: each ``{name}`` replaced by a plausible value."""
    return PARAMETER.sub("1", path)
