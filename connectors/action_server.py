"""The action server, reachable only by the Rasa servers.

``rasa run actions`` listens on 0.0.0.0 (rasa_sdk reads ``SANIC_HOST``, default
0.0.0.0), allows every CORS origin and runs any action for anyone who can reach the
port. This entrypoint builds the same rasa_sdk app but binds the interface it is given
(loopback by default, see ``scripts/stack.py``), drops CORS (no browser calls it) and
refuses every request without the shared token Rasa sends from ``endpoints.yml``
(``Authorization: Bearer $ACTION_TOKEN``). ``GET /health`` stays open for the process
manager and monitors: it says nothing but "ok".

Usage: ``python -m connectors.action_server --interface 127.0.0.1 --port 5055``
with ``ACTION_TOKEN`` in the environment.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import sys
from collections.abc import Sequence

from rasa_sdk import utils as sdk_utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import log_privacy
from bot.callbacks.policy import CallbackPolicyError, callback_policy
from bot.handoff.policy import HandoffPolicyError, handoff_policy
from bot.settings import SettingsError, service_token

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})
SERVER_KEEPALIVE_S = 30.0
"""Seconds an idle connection from a Rasa server is kept open; Rasa reuses its connections
(``connectors.rasa_speedups``) and closes them sooner, so it never sends on one being closed."""
BEARER = "Bearer "


def token_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries the token (constant-time comparison)."""
    if not authorization or not authorization.startswith(BEARER):
        return False
    return hmac.compare_digest(authorization[len(BEARER):].encode(), token.encode())


def build_app(token: str, actions_package: str = "bot.actions") -> Sanic:
    """rasa_sdk's app without CORS, behind a token check on every path but ``/health``."""
    app = create_app(actions_package, cors_origins=None)

    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS or token_matches(request.headers.get("Authorization"), token):
            return None
        return response.json({"error": "not_authenticated"}, status=401)

    app.register_middleware(require_token, "request")
    app.config.KEEP_ALIVE_TIMEOUT = SERVER_KEEPALIVE_S
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, read the token, serve until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interface", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5055, help="port (default 5055)")
    parser.add_argument("--actions", default="bot.actions", help="package of actions (default bot.actions)")
    args = parser.parse_args(argv)
    try:
        token = service_token("ACTION_TOKEN")
        handoff_policy().agents.opening_hours(callback_policy())  # a bad policy stops start-up, not a conversation
    except (SettingsError, HandoffPolicyError, CallbackPolicyError) as exc:
        print(f"action server: {exc}", file=sys.stderr)
        return 2
    sdk_utils.configure_colored_logging(logging.INFO)
    sdk_utils.update_sanic_log_level()
    log_privacy.install()
    app = build_app(token, args.actions)
    logger.info("action server listening on http://%s:%d", args.interface, args.port)
    app.run(args.interface, args.port, workers=sdk_utils.number_of_sanic_workers())
    return 0


if __name__ == "__main__":
    sys.exit(main())
