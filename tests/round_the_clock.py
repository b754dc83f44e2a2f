"""A copy of ``settings/`` for the test stacks, open for call-backs round the clock.

Whether a person is there, and so whether asking for one also books a call back, depends
on the wall clock and ``settings/callbacks.yml``. A test stack must answer the same at
3 a.m. on a Sunday as at noon on a Monday, so its opening hours cover every day (the
out-of-hours path is tested with a driven clock in ``tests/callbacks``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

SETTINGS = Path(__file__).resolve().parent.parent / "settings"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def round_the_clock_settings(directory: Path) -> Path:
    """``settings/`` copied into ``directory``, with every weekday open 00:00-23:59."""
    target = directory / "settings"
    shutil.copytree(SETTINGS, target)
    policy_file = target / "callbacks.yml"
    policy = yaml.safe_load(policy_file.read_text(encoding="utf-8"))
    policy["business_hours"] = {day: ["00:00-23:59"] for day in WEEKDAYS}
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return target
