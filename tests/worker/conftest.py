"""Fixtures for the worker's tests (defined in tests/outbound/support.py)."""

from tests.outbound.support import migrated_url, outbound, rasa, redis_db, run_worker, settings, transports

__all__ = ["migrated_url", "outbound", "rasa", "redis_db", "run_worker", "settings", "transports"]
