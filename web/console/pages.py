"""Server-rendered console pages: Jinja2 templates in ``web/console/templates``.

Every sentence a person reads is in a template, none in Python. Autoescaping is on for
every template, so text that came from anyone (later: customers' messages) is shown
inert; an undefined name fails the render instead of printing nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = Path(__file__).resolve().parent / "console.css"
SCRIPT = Path(__file__).resolve().parent / "console.js"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class Pages:
    """Renders a template into an HTML answer with the console's security headers."""

    def __init__(self, folder: Path = TEMPLATES) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, *, status: int = 200, **context: Any) -> web.Response:
        response = web.Response(text=self._env.get_template(template).render(**context), status=status,
                                content_type="text/html", charset="utf-8")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        return response
