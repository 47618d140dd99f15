"""The sync's settings, read from ``WAGTAIL_SALESFORCE`` at call time.

They fall back to the defaults here until ``conf.DEFAULTS`` lists them (then ``conf.get`` wins).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

SYNC_DEFAULTS: dict[str, Any] = {
    # Re-read this many seconds before the watermark, so changes committed late are not missed.
    "SYNC_OVERLAP_SECONDS": 300.0,
    # How long a worker holds a connection's sync lease; past it another worker may take over.
    "SYNC_LEASE_SECONDS": 900.0,
    # Local leads handled per database batch (bounds memory on large pulls and pushes).
    "SYNC_BATCH_SIZE": 1000,
    # Emails per IN list when looking leads up (each list travels inside a /composite body).
    "SYNC_LOOKUP_BATCH": 500,
}


def sync_setting(name: str) -> Any:
    """The setting ``name`` from ``WAGTAIL_SALESFORCE``, or its sync default."""
    if name not in SYNC_DEFAULTS:
        raise KeyError(f"Unknown sync setting {name!r}")
    user = getattr(settings, "WAGTAIL_SALESFORCE", {}) or {}
    return user.get(name, SYNC_DEFAULTS[name])
