"""Structured logging: one JSON object per line, with a correlation id per unit of work.

A *correlation id* ties together every log line of one submission's delivery (across its
attempts, workers and retries: it is the outbox entry's idempotency token) or of one sync run.
It lives in a :mod:`contextvars` variable, so threads and asyncio tasks each see their own::

    with bind_correlation_id(str(entry.idempotency_token), outbox_entry=entry.pk):
        ...  # every wagtail_salesforce log record in here carries the id and the fields

:class:`CorrelationIdFilter` copies the id (and the bound fields) onto each record; attach it to
a handler. :class:`JsonFormatter` writes the record as JSON. Enable both in settings::

    from wagtail_salesforce.observability import structured_logging

    LOGGING = structured_logging(level="INFO")

or by hand (``"()"`` is Django's/``dictConfig``'s factory key)::

    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"correlation": {"()": "wagtail_salesforce.observability.CorrelationIdFilter"}},
        "formatters": {"json": {"()": "wagtail_salesforce.observability.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "filters": ["correlation"],
                "formatter": "json",
            }
        },
        "loggers": {"wagtail_salesforce": {"handlers": ["json"], "level": "INFO"}},
    }

Secrets never reach the log through this module: it adds only the id and the fields the code
binds (ids, never tokens or personal data).

**Log hygiene.** Values from outside the site (what a visitor typed, what Salesforce answered,
which often echoes it) reach the log only through :class:`LogValue`::

    logger = get_logger(__name__)  # the package's loggers carry LogHygieneFilter
    logger.warning("Outbox entry %s failed: %s", entry.pk, personal(message, "salesforce_message"))

In the message every argument has its control characters escaped (a CR/LF cannot forge a line)
and is cut past :data:`MAX_LOGGED_CHARS` with its length noted; a :func:`personal` value is left
out (``[salesforce_message withheld, 42 chars]``) at INFO and above unless the
``LOG_PERSONAL_DATA`` setting allows it. Each :class:`LogValue` is also put on the record as a
field of its own (cut, never escaped twice: the JSON formatter escapes it), and the names of the
personal ones under ``personal_fields``, so operators can filter them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import re
import types
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings

from wagtail_salesforce import conf

NO_CORRELATION_ID = "-"

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "wagtail_salesforce_correlation_id", default=None
)
_correlation_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "wagtail_salesforce_correlation_fields", default=types.MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` or a filter.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "correlation_id",
    "correlation_fields",
    "taskName",
    "log_hygiene",
}

# Longest outside value a message carries, and a field: a line stays readable, and a 40,000
# character submission does not become a 40,000 character log line.
MAX_LOGGED_CHARS = 500
MAX_FIELD_CHARS = 2000

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# overrides (which can make a line read differently from what it holds).
_CONTROL_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def new_correlation_id(prefix: str = "") -> str:
    """A fresh id: 16 hex characters, after ``prefix-`` when given."""
    token = uuid.uuid4().hex[:16]
    return f"{prefix}-{token}" if prefix else token


def get_correlation_id() -> str | None:
    """The id bound in the current context, or None."""
    return _correlation_id.get()


def get_correlation_fields() -> Mapping[str, Any]:
    """The fields bound with the current id (e.g. ``outbox_entry``, ``sync_run``)."""
    return _correlation_fields.get()


@contextlib.contextmanager
def bind_correlation_id(
    correlation_id: str | None = None, *, prefix: str = "", **fields: Any
) -> Iterator[str]:
    """Bind ``correlation_id`` (a new one when None) and ``fields`` for the block; yields the id.

    Nested binds keep the outer fields and override them with their own; on exit the outer
    binding is back.
    """
    if correlation_id is not None and not str(correlation_id).strip():
        raise ValueError("A correlation id must not be blank (pass None for a new one).")
    bound = str(correlation_id) if correlation_id is not None else new_correlation_id(prefix)
    id_token = _correlation_id.set(bound)
    fields_token = _correlation_fields.set(
        types.MappingProxyType({**_correlation_fields.get(), **fields})
    )
    try:
        yield bound
    finally:
        _correlation_fields.reset(fields_token)
        _correlation_id.reset(id_token)


class CorrelationIdFilter(logging.Filter):
    """Adds ``record.correlation_id`` (``"-"`` outside any binding) and
    ``record.correlation_fields`` to every record; never drops one.

    A filter on a *logger* sees only records logged on that very logger, so attach this one to
    the handler that writes the package's records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", None):
            record.correlation_id = get_correlation_id() or NO_CORRELATION_ID
        if not hasattr(record, "correlation_fields"):
            record.correlation_fields = dict(get_correlation_fields())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``correlation_id``, the bound fields, any ``extra=`` values, and ``exception`` (the
    formatted traceback) when there is one. Values JSON cannot hold are written as ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None)
            or get_correlation_id()
            or NO_CORRELATION_ID,
        }
        fields = getattr(record, "correlation_fields", None)
        if fields is None:
            fields = get_correlation_fields()
        entry.update(fields)
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRIBUTES and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# --- log hygiene ------------------------------------------------------------------------------


def _escape_character(match: re.Match[str]) -> str:
    character = match.group()
    if character in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[character]
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def cut(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """``text``, or its first ``limit`` characters and ``…[cut, N chars]`` when longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[cut, {len(text)} chars]"


def escape_controls(text: str) -> str:
    """``text`` with control characters written as escapes (``\\r``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL_CHARACTERS.sub(_escape_character, text)


def loggable(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """``text`` safe for one log line: cut (its full length noted), then escaped."""
    return escape_controls(cut(text, limit))


class LogValue:
    """A value from outside the site, given as a log call's argument.

    ``name`` names its field on the record (and in the JSON log); ``personal`` marks a value that
    may hold personal data (an email, a name, free text, a Salesforce message echoing them).
    ``str()`` gives the safe rendering, so even a handler without :class:`LogHygieneFilter` never
    writes it raw.
    """

    __slots__ = ("name", "personal", "value")

    def __init__(self, value: object, name: str, *, personal: bool) -> None:
        self.value = value
        self.name = name
        self.personal = personal

    def render(self, *, personal_allowed: bool = False) -> str:
        text = str(self.value)
        if self.personal and not personal_allowed:
            return f"[{self.name} withheld, {len(text)} chars]"
        return loggable(text)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"<LogValue {self.name}: {self.render()}>"


def personal(value: object, name: str) -> LogValue:
    """A value that may carry personal data: left out of messages at INFO and above."""
    return LogValue(value, name, personal=True)


def untrusted(value: object, name: str) -> LogValue:
    """Remote text without personal data (an error code, an OAuth error): escaped and cut."""
    return LogValue(value, name, personal=False)


def personal_data_allowed(level: int) -> bool:
    """Whether a record of ``level`` may carry personal data in its message."""
    if level < logging.INFO:
        return True
    return bool(settings.configured and conf.get("LOG_PERSONAL_DATA"))


class LogHygieneFilter(logging.Filter):
    """Makes a record's arguments safe for its message (see the module docstring) and puts each
    :class:`LogValue` on the record as a field. Never drops a record.

    :func:`get_logger` attaches it to the package's loggers. Arguments that are not text
    (numbers, None) are left for the format string; anything else is rendered with ``str()``,
    escaped and cut; the format string itself has its control characters escaped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "log_hygiene", False):
            return True
        record.log_hygiene = True
        allowed = personal_data_allowed(record.levelno)
        personal_fields: list[str] = []
        if isinstance(record.msg, str):
            record.msg = escape_controls(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {
                key: self._argument(record, value, allowed, personal_fields)
                for key, value in record.args.items()
            }
        elif record.args:
            record.args = tuple(
                self._argument(record, value, allowed, personal_fields) for value in record.args
            )
        if personal_fields:
            record.personal_fields = personal_fields
        return True

    @staticmethod
    def _argument(
        record: logging.LogRecord, value: object, allowed: bool, personal_fields: list[str]
    ) -> object:
        if isinstance(value, LogValue):
            if value.name not in _STANDARD_ATTRIBUTES:
                setattr(record, value.name, cut(str(value.value), MAX_FIELD_CHARS))
                if value.personal:
                    personal_fields.append(value.name)
            return value.render(personal_allowed=allowed)
        if value is None or isinstance(value, int | float):
            return value
        return loggable(str(value))


_HYGIENE = LogHygieneFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`LogHygieneFilter`: how the package's modules get
    their logger (a filter on a logger sees the records logged on that very logger only)."""
    logger = logging.getLogger(name)
    if _HYGIENE not in logger.filters:
        logger.addFilter(_HYGIENE)
    return logger


def structured_logging(
    level: str = "INFO", *, loggers: tuple[str, ...] = ("wagtail_salesforce",)
) -> dict[str, Any]:
    """A ``LOGGING`` dict: ``loggers`` (the package by default) write JSON lines to stderr,
    each carrying its correlation id. Other loggers keep Django's defaults."""
    if logging.getLevelName(level.upper()) == f"Level {level.upper()}":
        raise ValueError(f"Unknown log level {level!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"correlation": {"()": CorrelationIdFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "filters": ["correlation"],
                "formatter": "json",
            }
        },
        "loggers": {
            name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
            for name in loggers
        },
    }
