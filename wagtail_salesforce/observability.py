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
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import types
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

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
}


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
