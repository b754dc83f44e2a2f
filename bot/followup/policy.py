"""When a follow-up is due: the delay after resolution, quiet hours, the reminder's delay.

Policy is data (``settings/followup.yml``, the delay itself in ``settings/sla.yml``),
validated once with pydantic so a wrong value stops start-up instead of a survey
going out at 3 a.m. Quiet hours are the customer's local time: a survey that falls
inside them waits until they end, in that time zone, across daylight-saving changes.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ValidationError, confloat, validator

from bot.domain_config import load_domain_config
from bot.settings import load_settings

POLICY_FILE = "followup.yml"


class FollowupPolicyError(ValueError):
    """settings/followup.yml (or sla.yml's followup_after_h) holds a value the follow-up cannot run with."""


class QuietHours(BaseModel):
    """Local times between which nobody is contacted; ``start`` after ``end`` spans midnight."""

    start: time
    end: time

    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("end")
    def _not_empty(cls, end: time, values: dict) -> time:  # noqa: N805 (pydantic validator)
        if values.get("start") == end:
            raise ValueError("start and end must differ (remove quiet_hours' meaning by choosing a real span)")
        return end

    def contains(self, moment: time) -> bool:
        """Whether the local wall-clock time ``moment`` is quiet."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class FollowupFile(BaseModel):
    """The contents of settings/followup.yml."""

    default_time_zone: str
    quiet_hours: QuietHours
    reminder_after_h: confloat(gt=0)  # type: ignore[valid-type]
    unanswered_after_h: confloat(gt=0)  # type: ignore[valid-type]

    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("default_time_zone")
    def _known_zone(cls, name: str) -> str:  # noqa: N805 (pydantic validator)
        zone(name)
        return name


class FollowupPolicy(BaseModel):
    """Everything the scheduler needs: followup.yml plus sla.yml's delay."""

    after: timedelta
    default_time_zone: str
    quiet_hours: QuietHours
    reminder_after: timedelta
    unanswered_after: timedelta

    class Config:
        allow_mutation = False

    @property
    def horizon_label(self) -> str:
        """The delay as the business key names it (``72h``)."""
        hours = self.after.total_seconds() / 3600
        return f"{hours:g}h"

    def survey_due(self, resolved_at: datetime, time_zone: str | None = None) -> datetime:
        """When the survey for a ticket resolved at ``resolved_at`` goes out (UTC)."""
        return self.outside_quiet_hours(resolved_at + self.after, time_zone)

    def outside_quiet_hours(self, moment: datetime, time_zone: str | None = None) -> datetime:
        """``moment`` itself if the customer's local time is not quiet, else the next end of quiet hours (UTC)."""
        if moment.utcoffset() is None:
            raise ValueError("moment must be timezone-aware")
        tz = zone(time_zone or self.default_time_zone)
        local = moment.astimezone(tz)
        if not self.quiet_hours.contains(local.time().replace(tzinfo=None)):
            return moment.astimezone(timezone.utc)
        end_day = local.date()
        if local.time().replace(tzinfo=None) >= self.quiet_hours.end:
            end_day += timedelta(days=1)
        end = datetime.combine(end_day, self.quiet_hours.end, tzinfo=tz)
        return end.astimezone(timezone.utc)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{name!r} is not a known time zone") from error


def parse_followup_policy(path: Path, followup_after_h: float) -> FollowupPolicy:
    """Read and validate ``path``; the error names the file and the bad key."""
    try:
        raw = FollowupFile.parse_obj(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as error:
        raise FollowupPolicyError(f"{path}: {error}") from error
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise FollowupPolicyError(f"{path}: {problems}") from error
    if followup_after_h <= 0:
        raise FollowupPolicyError(f"sla.yml: followup_after_h must be positive, got {followup_after_h}")
    return FollowupPolicy(
        after=timedelta(hours=followup_after_h),
        default_time_zone=raw.default_time_zone,
        quiet_hours=raw.quiet_hours,
        reminder_after=timedelta(hours=raw.reminder_after_h),
        unanswered_after=timedelta(hours=raw.unanswered_after_h),
    )


@lru_cache(maxsize=1)
def followup_policy() -> FollowupPolicy:
    """The policy from the configured settings folder, read once per process."""
    config_dir = load_settings().config_dir
    return parse_followup_policy(config_dir / POLICY_FILE, load_domain_config(config_dir).sla.followup_after_h)
