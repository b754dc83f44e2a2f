"""Settings of the SLA watcher and the status notices, read once from the environment.

| variable | default | meaning |
|---|---|---|
| SLA_SWEEP_BATCH | 500 | checks the sweep runs (overdue) or re-queues (future) per run, and tickets it plans |
| STATUS_NOTICE_WINDOW_S | 3600 | a status change older than this is never announced to the customer (so a first deploy, or a worker that was down for a day, does not send stale news) |

The hours themselves (stage deadlines, ``supervisor_escalation_within_h``) are policy in
``settings/sla.yml``, loaded by :mod:`bot.domain_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.settings import SettingsError, _int


@dataclass(frozen=True)
class SlaWatchSettings:
    """How much one sweep does, and how old a status change may be and still be announced."""

    sweep_batch: int = 500
    notice_window: timedelta = timedelta(hours=1)


def load_sla_watch_settings() -> SlaWatchSettings:
    """Read the environment; raise :class:`SettingsError` naming the first bad value."""
    settings = SlaWatchSettings(
        sweep_batch=_int("SLA_SWEEP_BATCH", 500),
        notice_window=timedelta(seconds=_int("STATUS_NOTICE_WINDOW_S", 3600)),
    )
    if settings.sweep_batch < 1:
        raise SettingsError("SLA_SWEEP_BATCH must be at least 1")
    if settings.notice_window <= timedelta(0):
        raise SettingsError("STATUS_NOTICE_WINDOW_S must be positive")
    return settings
