"""Settings for wagtail-salesforce, read from one dict: ``settings.WAGTAIL_SALESFORCE``.

Every key is declared once here, with its default and the type it must have; every key is
documented in docs/en/settings.md. ``manage.py check`` reports a value of the wrong type
(``wagtail_salesforce.E001``) and an unknown key (``wagtail_salesforce.W001``). Values are read
at call time (never cached at import) so tests and ``override_settings`` see changes.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

SETTINGS_NAME = "WAGTAIL_SALESFORCE"


@dataclass(frozen=True)
class Setting:
    """One key of ``WAGTAIL_SALESFORCE``: its default and the type a value must have.

    ``type`` is a type expression: a class, ``X | Y``, ``None``, ``Sequence[X]`` (a list or a
    tuple, not a string) or ``tuple[X, Y]``. ``float`` accepts an ``int`` too; neither accepts
    a ``bool``.
    """

    default: Any
    type: Any


StrPath = str | os.PathLike[str]

SETTINGS: dict[str, Setting] = {
    # Salesforce REST API version used for every call (simple-salesforce defaults to an old one).
    "API_VERSION": Setting("62.0", str),
    # YAML files with form mappings and sync rules; default: salesforce.yaml beside manage.py.
    "CONFIG_FILES": Setting(None, Sequence[StrPath] | None),
    # A YAML config file larger than this many bytes is refused unread (parsing a huge or
    # hostile file would take minutes and gigabytes).
    "CONFIG_MAX_BYTES": Setting(1_048_576, int),
    # CA bundle to trust for Salesforce's API (e.g. the local sandbox's). None: the system store.
    "CA_FILE": Setting(None, StrPath | None),
    # Key for encrypting secrets at rest (Fernet, urlsafe base64, 32 bytes). None: from SECRET_KEY.
    "ENCRYPTION_KEY": Setting(None, str | bytes | None),
    # Older keys still accepted for decryption while rotating (newest first).
    "OLD_ENCRYPTION_KEYS": Setting([], Sequence[str | bytes]),
    # Connected-app credentials as code: when set, the admin panel shows them as managed here.
    "CONSUMER_KEY": Setting(None, str | None),
    "CONSUMER_SECRET": Setting(None, str | None),
    # Default login URL offered for a new connection (the one in use when CONSUMER_SECRET is set).
    "LOGIN_URL": Setting("https://login.salesforce.com", str),
    # Hosts besides Salesforce's own a login URL may name: "host", "host:port" or "*.domain".
    # HTTPS only, except loopback hosts (the local sandbox), which may use plain HTTP.
    "ALLOWED_LOGIN_HOSTS": Setting([], Sequence[str]),
    # HTTP timeouts (seconds): connect, read (one number: both).
    "TIMEOUT": Setting((5.0, 30.0), tuple[float, float] | float),
    # Retries of transient failures inside one client call (bounded exponential backoff).
    "MAX_RETRIES": Setting(3, int),
    "RETRY_BACKOFF_SECONDS": Setting(0.5, float),
    "RETRY_BACKOFF_MAX_SECONDS": Setting(8.0, float),
    # How long an OAuth state (Connect button -> callback) stays valid, in seconds.
    "OAUTH_STATE_MAX_AGE": Setting(600, int),
    # Form outbox: delivery attempts before a transient failure becomes a dead letter.
    "OUTBOX_MAX_ATTEMPTS": Setting(12, int),
    # Backoff between delivery attempts (seconds): base * 2**(attempts-1), full jitter, capped.
    "OUTBOX_RETRY_BASE_SECONDS": Setting(30.0, float),
    "OUTBOX_RETRY_MAX_SECONDS": Setting(3600.0, float),
    # How long a worker holds an entry it is delivering; past it another worker may take over.
    "OUTBOX_LEASE_SECONDS": Setting(300.0, float),
    # A web process queues at most one delivery task per this many seconds; that task keeps
    # watching the outbox until the window has passed, so it delivers every entry committed
    # meanwhile. 0: one delivery task per submission.
    "OUTBOX_WAKEUP_WINDOW_SECONDS": Setting(1.0, float),
    # Entries delivered together (one look-up call and one write call per batch); at most 200,
    # what one sObject Collection takes. A lone submission is a batch of one.
    "OUTBOX_BATCH_SIZE": Setting(200, int),
    # Paused by the daily API limit: wait this long before trying again.
    "OUTBOX_API_LIMIT_PAUSE_SECONDS": Setting(900.0, float),
    # The API budget (wagtail_salesforce.client.budget): the org-wide daily usage (every
    # integration's, from Sforce-Limit-Info) past which the plugin spends no call. A share of
    # the org's daily limit, or an absolute number of calls (wins when set).
    "API_BUDGET_PERCENT": Setting(50.0, float),
    "API_BUDGET_CALLS": Setting(None, int | None),
    # Shares of the budget: from the first the sync stretches its interval and prefers Bulk
    # API 2.0; from the second it yields (skips cycles) and leaves the rest to form delivery.
    "API_BUDGET_SYNC_SLOW_PERCENT": Setting(80.0, float),
    "API_BUDGET_SYNC_YIELD_PERCENT": Setting(95.0, float),
    # While slowed, the sync's interval is multiplied by this.
    "API_BUDGET_SYNC_STRETCH": Setting(4.0, float),
    # While the budget holds work back, the usage is re-read (one counted /limits call) when
    # the last reading is older than this, so the limit's window freeing calls is noticed.
    "API_USAGE_CHECK_MINUTES": Setting(10.0, float),
    # Delivered submissions keep their submitted data in the outbox this many days; then a daily
    # task clears it, keeping the entry's status, ids and times. 0 or None: keep it forever.
    "OUTBOX_RETENTION_DAYS": Setting(90, int | None),
    # What erasing a person on request may do to their Salesforce records, from least to most:
    # "keep", "anonymise" (empty their personal fields) or "delete". The value is also the
    # choice the dialog and the command start from.
    "ERASURE_SALESFORCE": Setting("keep", str),
    # Sync: re-read this many seconds before the watermark, so changes committed late are seen.
    "SYNC_OVERLAP_SECONDS": Setting(300.0, float),
    # How long a worker holds a connection's sync lease; past it another worker may take over.
    "SYNC_LEASE_SECONDS": Setting(900.0, float),
    # Local leads handled per database batch (bounds memory on large pulls and pushes).
    "SYNC_BATCH_SIZE": Setting(1000, int),
    # Emails per IN list when looking leads up (each list travels inside a /composite body).
    "SYNC_LOOKUP_BATCH": Setting(500, int),
    # More leads than this waiting to be pushed in one cycle: write them with Bulk API 2.0 jobs
    # instead of sObject Collections.
    "SYNC_BULK_THRESHOLD": Setting(10000, int),
    # Leads per Bulk API 2.0 job when the sync writes with Bulk (one job per batch).
    "SYNC_BULK_BATCH_SIZE": Setting(10000, int),
    # Let log messages at INFO and above carry personal data (emails, names, free text and the
    # Salesforce messages that echo them). Off: such values are left out of the message; the
    # JSON log still has them as separate fields (see docs/en/security.md).
    "LOG_PERSONAL_DATA": Setting(False, bool),
    # Health warnings (dashboard panel, wagtail_salesforce.health): the org's daily API usage
    # share, a submission's wait for delivery, and sync intervals missed before warning.
    "HEALTH_API_USAGE_WARNING_RATIO": Setting(0.8, float),
    "HEALTH_OUTBOX_MAX_AGE_MINUTES": Setting(15.0, float),
    "HEALTH_SYNC_LATE_INTERVALS": Setting(3.0, float),
    # Forms: how often the background task re-reads the mapped objects' describes (the form
    # validates against the last one read; a visitor's request never calls Salesforce).
    "DESCRIBE_REFRESH_MINUTES": Setting(15, int),
    # Spam defence (a mapping's ``spam:`` block overrides the limits). What it catches is stored
    # and held, never delivered automatically. The Django cache alias the counters live in
    # (shared by every web process: Redis or the database cache, not local memory).
    "FORMS_CACHE": Setting("default", str),
    # Name of the hidden honeypot input the form gains (a person never sees or fills it).
    "SPAM_HONEYPOT_FIELD": Setting("contact_homepage", str),
    # A form sent back sooner than this after it was shown is held. 0: no fill-time check.
    "SPAM_MIN_FILL_SECONDS": Setting(3.0, float),
    # Submissions one client may have queued per window; beyond it they are held.
    "SPAM_RATE_LIMIT": Setting(20, int),
    "SPAM_RATE_WINDOW_SECONDS": Setting(600, int),
    # The same submitted values within this many seconds are delivered once. 0: off.
    "SPAM_DUPLICATE_WINDOW_SECONDS": Setting(600, int),
    # Verification backend: {"BACKEND": dotted path, "OPTIONS": {"site_key", "secret_key",
    # "verify_url"?, "timeout"?}}; backends for Turnstile, reCAPTCHA and hCaptcha ship in
    # wagtail_salesforce.forms.verification. None: no challenge.
    "SPAM_VERIFICATION": Setting(None, dict | None),
    # Addresses of the reverse proxies in front of the site (IPs or CIDR networks). Only a
    # request arriving from one of them has its X-Forwarded-For believed.
    "TRUSTED_PROXIES": Setting([], Sequence[str]),
}

DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}


def _user_settings() -> dict[str, Any]:
    """The configured dict (empty when missing, or when not a dict: E001 reports that)."""
    user = getattr(settings, SETTINGS_NAME, None)
    return user if isinstance(user, dict) else {}


def get(name: str) -> Any:
    """Return the setting ``name`` from ``WAGTAIL_SALESFORCE``, or its default."""
    if name not in SETTINGS:
        raise KeyError(f"Unknown wagtail-salesforce setting {name!r}")
    return _user_settings().get(name, SETTINGS[name].default)


def get_number(name: str, *, positive: bool = False) -> float:
    """The numeric setting ``name``; ValueError (naming the key) if it is not a number."""
    value = get(name)
    if not matches(value, float):
        raise ValueError(f"{SETTINGS_NAME}[{name!r}] must be a number, not {value!r}")
    number = float(value)
    if positive and number <= 0:
        raise ValueError(f"{SETTINGS_NAME}[{name!r}] must be positive, not {value!r}")
    return number


def unknown_settings() -> set[str]:
    return set(_user_settings()) - set(SETTINGS)


@dataclass(frozen=True)
class TypeProblem:
    """A configured value whose type is not the declared one."""

    key: str
    found: str
    expected: str


def type_problems() -> Iterator[TypeProblem]:
    """Every known key of ``WAGTAIL_SALESFORCE`` whose value has the wrong type (and the dict
    itself, under the key ``""``, when it is not a dict)."""
    user = getattr(settings, SETTINGS_NAME, None)
    if user is None:
        return
    if not isinstance(user, dict):
        yield TypeProblem("", type(user).__name__, "dict")
        return
    for key, value in user.items():
        setting = SETTINGS.get(key)
        if setting is not None and not matches(value, setting.type):
            yield TypeProblem(key, describe_value(value), describe_type(setting.type))


def matches(value: Any, expected: Any) -> bool:
    """Whether ``value`` is of the type expression ``expected`` (see :class:`Setting`)."""
    if expected is None or expected is type(None):
        return value is None
    origin = typing.get_origin(expected)
    arguments = typing.get_args(expected)
    if origin in (types.UnionType, typing.Union):
        return any(matches(value, option) for option in arguments)
    if origin is Sequence:
        return isinstance(value, list | tuple) and all(matches(v, arguments[0]) for v in value)
    if origin is tuple:
        return (
            isinstance(value, list | tuple)
            and len(value) == len(arguments)
            and all(matches(v, t) for v, t in zip(value, arguments, strict=True))
        )
    if origin is not None:  # a parametrised class such as os.PathLike[str]
        expected = origin
    if isinstance(value, bool) and expected is not bool:
        return False
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def describe_type(expected: Any) -> str:
    """The type expression as a reader writes it: ``list[str | PathLike] | None``."""
    if expected is None or expected is type(None):
        return "None"
    origin = typing.get_origin(expected)
    arguments = typing.get_args(expected)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(describe_type(option) for option in arguments)
    if origin is Sequence:
        return f"list[{describe_type(arguments[0])}]"
    if origin is tuple:
        return f"tuple[{', '.join(describe_type(argument) for argument in arguments)}]"
    return str((origin or expected).__name__)


def describe_value(value: Any) -> str:
    """The type of ``value`` as found, with its items' types for a list or tuple."""
    if isinstance(value, list | tuple) and value:
        items = sorted({type(item).__name__ for item in value})
        return f"{type(value).__name__}[{' | '.join(items)}]"
    return type(value).__name__


def config_files() -> list[Path]:
    """The YAML config files, resolved: the setting, or ``salesforce.yaml`` beside manage.py."""
    configured = get("CONFIG_FILES")
    if configured:
        return [Path(p) for p in configured]
    base = Path(getattr(settings, "BASE_DIR", Path.cwd()))
    return [base / "salesforce.yaml"]
