"""Settings for wagtail-salesforce, read from one dict: ``settings.WAGTAIL_SALESFORCE``.

Every key is documented in docs/en/settings.md. Values are read at call time (never cached at
import) so tests and ``override_settings`` see changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Salesforce REST API version used for every call (simple-salesforce defaults to an old one).
    "API_VERSION": "62.0",
    # YAML files with form mappings and sync rules; default: salesforce.yaml beside manage.py.
    "CONFIG_FILES": None,
    # CA bundle to trust for Salesforce's API (e.g. the local sandbox's). None: the system store.
    "CA_FILE": None,
    # Key for encrypting secrets at rest (Fernet, urlsafe base64, 32 bytes). None: from SECRET_KEY.
    "ENCRYPTION_KEY": None,
    # Older keys still accepted for decryption while rotating (newest first).
    "OLD_ENCRYPTION_KEYS": [],
    # Connected-app credentials as code: when set, the admin panel shows them as managed here.
    "CONSUMER_KEY": None,
    "CONSUMER_SECRET": None,
    # Default login URL offered for a new connection.
    "LOGIN_URL": "https://login.salesforce.com",
    # HTTP timeouts (seconds): connect, read.
    "TIMEOUT": (5.0, 30.0),
    # Retries of transient failures inside one client call (bounded exponential backoff).
    "MAX_RETRIES": 3,
    "RETRY_BACKOFF_SECONDS": 0.5,
    "RETRY_BACKOFF_MAX_SECONDS": 8.0,
    # How long an OAuth state (Connect button -> callback) stays valid, in seconds.
    "OAUTH_STATE_MAX_AGE": 600,
    # Form outbox: delivery attempts before a transient failure becomes a dead letter.
    "OUTBOX_MAX_ATTEMPTS": 12,
    # Backoff between delivery attempts (seconds): base * 2**(attempts-1), full jitter, capped.
    "OUTBOX_RETRY_BASE_SECONDS": 30.0,
    "OUTBOX_RETRY_MAX_SECONDS": 3600.0,
    # How long a worker holds an entry it is delivering; past it another worker may take over.
    "OUTBOX_LEASE_SECONDS": 300.0,
    # A web process queues at most one delivery task per this many seconds; that task keeps
    # watching the outbox until the window has passed, so it delivers every entry committed
    # meanwhile. 0: one delivery task per submission.
    "OUTBOX_WAKEUP_WINDOW_SECONDS": 1.0,
    # Paused by the daily API limit: wait this long before trying again.
    "OUTBOX_API_LIMIT_PAUSE_SECONDS": 900.0,
    # Sync: re-read this many seconds before the watermark, so changes committed late are seen.
    "SYNC_OVERLAP_SECONDS": 300.0,
    # How long a worker holds a connection's sync lease; past it another worker may take over.
    "SYNC_LEASE_SECONDS": 900.0,
    # Local leads handled per database batch (bounds memory on large pulls and pushes).
    "SYNC_BATCH_SIZE": 1000,
    # Emails per IN list when looking leads up (each list travels inside a /composite body).
    "SYNC_LOOKUP_BATCH": 500,
    # More leads than this waiting to be pushed in one cycle: write them with Bulk API 2.0 jobs
    # instead of sObject Collections.
    "SYNC_BULK_THRESHOLD": 10000,
    # Leads per Bulk API 2.0 job when the sync writes with Bulk (one job per batch).
    "SYNC_BULK_BATCH_SIZE": 10000,
    # Health warnings (dashboard panel, wagtail_salesforce.health): the org's daily API usage
    # share, a submission's wait for delivery, and sync intervals missed before warning.
    "HEALTH_API_USAGE_WARNING_RATIO": 0.8,
    "HEALTH_OUTBOX_MAX_AGE_MINUTES": 15.0,
    "HEALTH_SYNC_LATE_INTERVALS": 3.0,
}


def get(name: str) -> Any:
    """Return the setting ``name`` from ``WAGTAIL_SALESFORCE``, or its default."""
    if name not in DEFAULTS:
        raise KeyError(f"Unknown wagtail-salesforce setting {name!r}")
    user = getattr(settings, "WAGTAIL_SALESFORCE", {}) or {}
    return user.get(name, DEFAULTS[name])


def unknown_settings() -> set[str]:
    user = getattr(settings, "WAGTAIL_SALESFORCE", {}) or {}
    return set(user) - set(DEFAULTS)


def config_files() -> list[Path]:
    """The YAML config files, resolved: the setting, or ``salesforce.yaml`` beside manage.py."""
    configured = get("CONFIG_FILES")
    if configured:
        return [Path(p) for p in configured]
    base = Path(getattr(settings, "BASE_DIR", Path.cwd()))
    return [base / "salesforce.yaml"]
