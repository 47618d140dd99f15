"""What the client's batch writes return: one result per record, at its input position.

sObject Collections, ``/composite`` collections and Bulk API 2.0 jobs all answer with
:class:`RecordResult` lists, built by the helpers below, so callers handle every path alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wagtail_salesforce.exceptions import ApiError, TransientError, api_error
from wagtail_salesforce.observability import get_logger

logger = get_logger(__name__)


@dataclass(frozen=True)
class RecordResult:
    """The outcome of one record of a batch write; ``index`` is its input position.

    ``created`` is True/False when Salesforce says (creates, upserts) and None otherwise.
    """

    index: int
    id: str | None
    success: bool
    created: bool | None
    errors: tuple[ApiError, ...]


@dataclass(frozen=True)
class UpsertResult:
    """The outcome of one upsert: the record's Id and whether it was created."""

    id: str
    created: bool


def record_error(entry: Mapping[str, Any], index: int) -> ApiError:
    """Our exception for one error entry of a record's result."""
    # Collections say "statusCode" where the rest of the REST API says "errorCode".
    return api_error(
        entry.get("statusCode") or entry.get("errorCode"),
        str(entry.get("message") or ""),
        fields=entry.get("fields") or (),
        index=index,
    )


def with_index(error: ApiError, index: int) -> ApiError:
    """A copy of ``error`` reported on the record at ``index``."""
    return api_error(
        error.error_code,
        error.message,
        status=error.status,
        fields=error.fields,
        index=index,
    )


def record_results(items: Sequence[Any], start: int, *, creates: bool) -> list[RecordResult]:
    """One collection answer's per-record results; ``start`` is the chunk's first index."""
    results: list[RecordResult] = []
    for offset, item in enumerate(items):
        index = start + offset
        success = bool(item.get("success"))
        if creates:
            created: bool | None = True if success else None
        elif "created" in item:
            created = bool(item["created"])
        else:
            created = None
        results.append(
            RecordResult(
                index=index,
                id=item.get("id"),
                success=success,
                created=created,
                errors=tuple(record_error(e, index) for e in item.get("errors") or []),
            )
        )
    return results


def failed_records(start: int, size: int, error: ApiError) -> list[RecordResult]:
    """Results for a chunk that failed as a whole: its error on each record, at its index."""
    return [
        RecordResult(
            index=index,
            id=None,
            success=False,
            created=None,
            errors=(with_index(error, index),),
        )
        for index in range(start, start + size)
    ]


def not_saved(index: int, code: str, message: str) -> RecordResult:
    """A record that is worth sending again: it was not processed, or its outcome is unknown."""
    error = TransientError(message, error_code=code, index=index)
    return RecordResult(index=index, id=None, success=False, created=None, errors=(error,))


def log_failures(operation: str, results: Sequence[RecordResult]) -> None:
    """One log line for the failed records of a batch (indexes and error codes, no data)."""
    failures = [(r.index, [e.error_code for e in r.errors]) for r in results if not r.success]
    if failures:
        logger.info(
            "%s: %d of %d records failed: %s",
            operation,
            len(failures),
            len(results),
            failures[:20],
        )
