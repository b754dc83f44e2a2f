"""The follow-up rate: surveys delivered over resolutions whose survey was due (``python -m bot.followup.report``).

ISO 10002 9.1 asks that complainants be followed up; settings/sla.yml sets the target
(``followup_rate_target``, 90 %). A resolution counts as due once its survey's due time
has passed, unless the ticket was reopened, closed or withdrawn first (then no survey was
owed). A survey counts as delivered when the outbound path recorded it sent, so a
conversation that expired before the survey reached it lowers the rate, as it should.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import sessionmaker

from bot.db import make_engine, make_sessionmaker
from bot.domain_config import load_domain_config
from bot.followup.store import NO_SURVEY_REASONS, FollowupRow
from bot.outbound.store import OutboundMessageRow, utcnow
from bot.settings import load_settings


@dataclass(frozen=True)
class FollowupRate:
    """The rate at one moment, with the counts it is made of."""

    at: datetime
    due: int
    delivered: int
    by_state: dict[str, int]

    @property
    def rate(self) -> float | None:
        """delivered / due; None while nothing was due."""
        return self.delivered / self.due if self.due else None


def followup_rate(sessions: sessionmaker, at: datetime) -> FollowupRate:
    """The follow-up rate over every resolution whose survey was due by ``at``."""
    owed = and_(
        FollowupRow.survey_due_at <= at,
        or_(FollowupRow.cancel_reason.is_(None), FollowupRow.cancel_reason.notin_(NO_SURVEY_REASONS)),
    )
    with sessions() as session:
        due = session.scalar(select(func.count()).select_from(FollowupRow).where(owed))
        delivered = session.scalar(
            select(func.count())
            .select_from(FollowupRow)
            .join(OutboundMessageRow, OutboundMessageRow.key == FollowupRow.key + ":survey")
            .where(owed, OutboundMessageRow.status == "sent")
        )
        by_state = dict(session.execute(select(FollowupRow.state, func.count()).group_by(FollowupRow.state)).all())
    return FollowupRate(at=at, due=due or 0, delivered=delivered or 0, by_state=by_state)


def render(rate: FollowupRate, target: float) -> str:
    """The report as printed: the rate against the target, then the counts."""
    if rate.rate is None:
        verdict = "no survey was due yet"
    else:
        verdict = f"{rate.rate:.1%} (target {target:.0%}): {'met' if rate.rate >= target else 'BELOW TARGET'}"
    states = ", ".join(f"{state} {count}" for state, count in sorted(rate.by_state.items())) or "none"
    return "\n".join([
        f"follow-up rate at {rate.at.isoformat(timespec='seconds')}: {verdict}",
        f"resolutions whose survey was due: {rate.due}",
        f"surveys delivered: {rate.delivered}",
        f"follow-ups by state: {states}",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Print the follow-up rate of the configured store; exit 1 when it is below the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", type=datetime.fromisoformat, help="moment to report at (ISO 8601 with offset); default now")
    args = parser.parse_args(argv)
    at = args.at or utcnow()
    if at.utcoffset() is None:
        parser.error("--at needs a UTC offset, e.g. 2026-12-01T09:00+00:00")
    settings = load_settings()
    target = load_domain_config(settings.config_dir).sla.followup_rate_target
    engine = make_engine(settings.database_url)
    try:
        rate = followup_rate(make_sessionmaker(engine), at)
    finally:
        engine.dispose()
    print(render(rate, target))
    return 1 if rate.rate is not None and rate.rate < target else 0


if __name__ == "__main__":
    raise SystemExit(main())
