"""How long a customer is likely to wait for a person, from the queue and recent claims.

Two readings of the same recent evidence, and the longer one is told, so the customer is
never promised sooner than the data supports:

- how long the conversations agents took recently had waited (their median), which is what
  waiting is like now;
- the people ahead in the queue, plus this customer, divided by how many conversations
  agents have been taking per minute, which is what a longer queue adds.

Too little evidence (fewer claims than ``min_claims`` in the window) or an estimate longer
than ``max_minutes`` gives no number: the customer is told honestly that we cannot say.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bot.handoff.policy import WaitEstimatePolicy

MIN_MINUTES = 2
"""The shortest wait ever told: "about 1 minute" would promise more than a queue can keep."""
ROUND_TO_FIVE_ABOVE = 10
"""Longer waits are told in fives ("about 15 minutes"), as nobody can promise the minute."""


@dataclass(frozen=True)
class WaitEstimate:
    """The wait to tell the customer: whole minutes, or None when we cannot say."""

    minutes: int | None

    @property
    def seconds(self) -> int | None:
        """The told wait in seconds, as the hand-off row keeps it."""
        return None if self.minutes is None else self.minutes * 60


def estimate_wait(ahead: int, recent_waits_s: Sequence[float], policy: WaitEstimatePolicy) -> WaitEstimate:
    """The wait for a customer with ``ahead`` people before them, given the waits (in seconds)
    of the conversations claimed within the policy's window."""
    if len(recent_waits_s) < policy.min_claims:
        return WaitEstimate(None)
    typical = statistics.median(recent_waits_s) / 60
    claims_per_minute = len(recent_waits_s) / policy.window_minutes
    through_queue = (ahead + 1) / claims_per_minute
    minutes = max(typical, through_queue, MIN_MINUTES)
    if minutes > policy.max_minutes:
        return WaitEstimate(None)
    whole = math.ceil(minutes)
    if whole > ROUND_TO_FIVE_ABOVE:
        whole = 5 * math.ceil(whole / 5)
    return WaitEstimate(whole)
