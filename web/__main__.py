"""``python -m web``: serve the web chat on WEB_HOST:WEB_PORT (127.0.0.1:8080)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot import log_privacy
from web.app import create_app
from web.settings import WebSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    log_privacy.install()
    settings = WebSettings.from_env()
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
