"""The one retry delay of the plugin: exponential backoff with full jitter."""

from __future__ import annotations

import random
import secrets

_random = secrets.SystemRandom()


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random = _random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Drawn uniformly from ``[0, min(cap, base * 2**(attempt - 1))]`` ("full jitter"): retries of
    many workers spread out instead of arriving together.
    """
    # The exponent is bounded so that a long run of attempts cannot overflow a float.
    ceiling = min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))
    return rng.uniform(0.0, ceiling)
