"""The domain services one action-server process shares, built on first use.

rasa-sdk imports every module of this package at start-up, so nothing here may open
a connection at import time; the first action that needs the store builds it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from bot.db import make_engine, make_sessionmaker, migrate
from bot.domain_config import DomainConfig, load_domain_config
from bot.settings import Settings, load_settings
from bot.spool import Spool
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Settings, policy data and stores for the actions of this process."""

    settings: Settings
    config: DomainConfig
    store: TicketStore
    spool: Spool


@functools.lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Build the process-wide runtime once; a failed migration is retried on write."""
    settings = load_settings()
    config = load_domain_config(settings.config_dir)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except Exception:
        logger.exception("ticket store migration failed; tickets will be spooled until it answers")
    store = TicketStore(
        make_sessionmaker(engine),
        attempts=settings.db_retry_attempts,
        delay_s=settings.db_retry_delay_s,
    )
    return Runtime(settings=settings, config=config, store=store, spool=Spool(settings.spool_dir))
