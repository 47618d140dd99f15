"""The one backoff: uniform in [0, min(cap, base * 2**(attempt-1))]."""

from __future__ import annotations

import random

from wagtail_salesforce.core.backoff import backoff_delay


class Highest(random.Random):
    """Always draws the top of the range, so the ceiling itself is visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    ceilings = [backoff_delay(n, base=0.5, cap=8.0, rng=Highest()) for n in range(1, 8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_delays_are_spread_over_the_whole_range() -> None:
    delays = [backoff_delay(3, base=1.0, cap=60.0) for _ in range(500)]
    assert all(0.0 <= delay <= 4.0 for delay in delays)
    assert min(delays) < 1.0 and max(delays) > 3.0  # full jitter, not a fixed delay


def test_a_very_long_run_of_attempts_stays_at_the_cap() -> None:
    assert backoff_delay(10_000, base=30.0, cap=3600.0, rng=Highest()) == 3600.0
