"""The domain services one action-server process shares, built on first use.

rasa-sdk imports every module of this package at start-up, so nothing here may open
a connection at import time; the first action that needs the store builds it.
"""

from __future__ import annotations

import functools
import logging
import threading

from sqlalchemy.engine import Engine

from bot.db import make_engine, make_sessionmaker, migrate
from bot import log_privacy
from bot.domain_config import DomainConfig, load_domain_config
from bot.followup.store import FollowupStore
from bot.settings import Settings, load_settings
from bot.sla.watch import SlaWatch
from bot.spool import Spool
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)


class Runtime:
    """Settings, policy data and stores for the actions of this process."""

    def __init__(self, settings: Settings, config: DomainConfig, engine: Engine) -> None:
        self.settings = settings
        self.config = config
        self.store = TicketStore(
            make_sessionmaker(engine), attempts=settings.db_retry_attempts, delay_s=settings.db_retry_delay_s,
            sla=config.sla,
        )
        self.spool = Spool(settings.spool_dir)
        self.followups = FollowupStore(make_sessionmaker(engine))
        self.sla_watch = SlaWatch(make_sessionmaker(engine), self.store, config.sla)
        self._engine = engine
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The process's database engine, shared by every store the actions use."""
        return self._engine

    def ensure_schema(self) -> bool:
        """Migrate once; a database that was down at start-up is migrated when it returns."""
        with self._schema_lock:
            if not self._schema_ready:
                try:
                    migrate(self._engine)
                    self._schema_ready = True
                except Exception:
                    logger.exception("ticket store migration failed; will retry on the next write")
            return self._schema_ready


@functools.lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Build the process-wide runtime once, and keep personal data out of this process's logs."""
    log_privacy.install()
    settings = load_settings()
    config = load_domain_config(settings.config_dir)
    return Runtime(settings, config, make_engine(settings.database_url))
