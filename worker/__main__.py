"""Run the worker: ``python -m worker`` (settings from the environment, see bot.outbound.settings).

Stops cleanly on SIGTERM or SIGINT, finishing the jobs it holds; the process manager
restarts it if it dies.
"""

from __future__ import annotations

import logging

from arq import run_worker

from bot import log_privacy
from bot.outbound.settings import load_outbound_settings, rasa_auth_token
from bot.settings import SettingsError, load_settings
from worker.main import worker_settings


def main() -> int:
    """Read the settings, then serve jobs until stopped."""
    logging.basicConfig(level=logging.INFO)
    log_privacy.install()
    try:
        settings = worker_settings(
            load_outbound_settings(), database_url=load_settings().database_url, rasa_token=rasa_auth_token()
        )
    except SettingsError as error:
        logging.getLogger("worker").error("worker cannot start: %s", error)
        return 2
    run_worker(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
