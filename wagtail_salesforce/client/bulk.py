"""Bulk API 2.0 ingest jobs for :meth:`SalesforceClient.bulk_ingest`.

One job per call: create it (``POST jobs/ingest``), upload the records as one CSV (``PUT
.../batches``), close it (``PATCH state=UploadComplete``), poll it until it ends, then read its
``successfulResults``, ``failedResults`` and ``unprocessedrecords`` CSVs. Every request goes
through the connection's :class:`~.transport.Transport` (``rest()`` for JSON, ``raw()`` for the
CSVs), so it is counted, refreshes an expired session and retries transient failures like any
other call.

Mapping results back to the input. The result CSVs are not in input order and Salesforce accepts
no extra column to carry a position (an unknown column fails the job). But every result row
echoes the columns we submitted, exactly as uploaded. So each input row is keyed by its own CSV
values (the same strings we wrote) and each result row is matched on the values it echoes;
identical input rows share a key and take their results in order (they carry the same data, so
either assignment is correct). Should Salesforce ever echo a value differently from how it was
sent, updates fall back to the ``Id`` column and upserts to the external ID column. An input row
with no result at all is reported as a transient failure (its outcome is unknown).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import time
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from wagtail_salesforce.exceptions import (
    ApiError,
    BatchOutcomeUnknown,
    NetworkError,
    OutcomeUnknown,
    api_error,
)
from wagtail_salesforce.observability import get_logger

from .budget import finishing
from .results import RecordResult, log_failures, not_saved
from .transport import Transport
from .validation import check_update_records, check_upsert_records, valid_sobject_name

logger = get_logger(__name__)

BulkOperation = Literal["insert", "update", "upsert"]
BULK_OPERATIONS: tuple[str, ...] = ("insert", "update", "upsert")
# "#N/A" sets a field to null; an empty cell leaves it as it is (Bulk API 2.0's CSV rules).
BULK_NULL = "#N/A"
DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_TIMEOUT = 600.0
FIRST_POLL_DELAY = 0.1
_ENDED_STATES = ("JobComplete", "Failed", "Aborted")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
_FIELD_LIST = re.compile(r"[A-Za-z0-9_.]+(?:\s*,\s*[A-Za-z0-9_.]+)*")

Key = tuple[str, ...]


def csv_value(value: Any) -> str:
    """One record value as a Bulk API CSV cell (None clears the field)."""
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal | str):
        return str(value)
    raise TypeError(f"A Bulk API value must be a scalar, not {type(value).__name__}")


def build_csv(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]], str]:
    """The header (the union of the records' keys, in first-seen order), the rows and the CSV.

    A key a record lacks is an empty cell, which leaves that field unchanged, just as a key left
    out of a collections record does.
    """
    header: list[str] = []
    seen: set[str] = set()
    for record in records:
        for name in record:
            if name not in seen:
                seen.add(name)
                header.append(name)
    rows = [
        [csv_value(record[name]) if name in record else "" for name in header] for record in records
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return header, rows, buffer.getvalue()


def parse_bulk_error(text: str, index: int) -> ApiError:
    """Our exception for one ``sf__Error`` cell, e.g.
    ``REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --``."""
    body = text.strip().removesuffix("--").strip()
    code_part, separator, rest = body.partition(":")
    if not separator or not _ERROR_CODE.fullmatch(code_part):
        return api_error(None, body or "The record failed without an error text.", index=index)
    message, fields = rest, ""
    head, separator, tail = rest.rpartition(":")
    if separator and (not tail.strip() or _FIELD_LIST.fullmatch(tail.strip())):
        message, fields = head, tail.strip()
    names = tuple(name.strip() for name in fields.split(",") if name.strip())
    return api_error(code_part, message.strip(), fields=names, index=index)


class _ResultMatcher:
    """Hands each result row the input index it belongs to (see the module docstring)."""

    def __init__(self, header: list[str], rows: list[list[str]], key_column: str | None) -> None:
        self._header = header
        self._by_row: dict[Key, deque[int]] = {}
        self._by_key: dict[str, deque[int]] = {}
        self._key_position = self._position(key_column) if key_column else None
        self._taken: set[int] = set()
        for index, row in enumerate(rows):
            self._by_row.setdefault(tuple(row), deque()).append(index)
            if self._key_position is not None:
                self._by_key.setdefault(row[self._key_position], deque()).append(index)

    def _position(self, column: str) -> int | None:
        lowered = column.lower()
        return next((i for i, name in enumerate(self._header) if name.lower() == lowered), None)

    def match(self, echoed: Mapping[str, str]) -> int | None:
        row = tuple(echoed.get(name, "") for name in self._header)
        index = self._take(self._by_row.get(row))
        if index is None and self._key_position is not None:
            index = self._take(self._by_key.get(row[self._key_position]))
        return index

    def _take(self, candidates: deque[int] | None) -> int | None:
        while candidates:
            index = candidates.popleft()
            if index not in self._taken:
                self._taken.add(index)
                return index
        return None

    def unmatched(self, size: int) -> list[int]:
        return [index for index in range(size) if index not in self._taken]


def bulk_ingest(
    transport: Transport,
    sobject: str,
    operation: BulkOperation,
    records: Sequence[Mapping[str, Any]],
    *,
    external_id_field: str | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[RecordResult]:
    """Run one Bulk API 2.0 ingest job; one result per input record, in input order.

    Raises ``ValueError`` for bad arguments (before anything is sent), :class:`ApiError` when
    the job ends ``Failed`` or ``Aborted`` (with the job's ``errorMessage``), and
    :class:`BatchOutcomeUnknown` when the job was started but its end was not seen in time (or
    the answer to closing it was lost): records may or may not have been saved.
    """
    sobject = valid_sobject_name(sobject)
    if operation not in BULK_OPERATIONS:
        raise ValueError(
            f"Not a Bulk API ingest operation: {operation!r} "
            f"(expected one of {', '.join(BULK_OPERATIONS)})"
        )
    if operation == "upsert":
        if external_id_field is None:
            raise ValueError("An upsert needs external_id_field")
        check_upsert_records(external_id_field, records)
    elif external_id_field is not None:
        raise ValueError(f"external_id_field is only for upserts, not {operation}")
    if operation == "update":
        check_update_records(records)
    if poll_interval <= 0 or timeout <= 0:
        raise ValueError("poll_interval and timeout must be positive")
    if not records:
        return []

    header, rows, payload = build_csv(records)
    label = f"bulk {operation} {sobject}"
    spec: dict[str, Any] = {
        "object": sobject,
        "operation": operation,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if external_id_field:
        spec["externalIdFieldName"] = external_id_field
    # Creating a job saves nothing, so a lost answer may be repeated (an empty job is harmless).
    job = transport.rest(label, "jobs/ingest", method="POST", json=spec) or {}
    job_id = str(job.get("id") or "")
    if not job_id:
        raise ApiError(f"{label}: Salesforce created no job.", error_code="UNEXPECTED_RESPONSE")
    job_path = f"jobs/ingest/{job_id}"
    # Once the job exists it is finished (uploaded, closed, polled, its results read) whatever
    # the sync's share of the API budget: held back half-way, it would be left open or its
    # outcome lost, and the work done again (see budget.finishing).
    with finishing():
        try:
            transport.raw(
                label,
                "PUT",
                f"{job_path}/batches",
                idempotent=False,
                data=payload.encode("utf-8"),
                headers={"Content-Type": "text/csv", "Accept": "application/json"},
            )
        except (ApiError, OutcomeUnknown) as error:
            # The job is still Open, so nothing was saved: abort it rather than leave it behind.
            _abort(transport, label, job_path)
            if isinstance(error, OutcomeUnknown):
                raise NetworkError(
                    f"{label}: the answer to the upload was lost; the job was aborted.",
                    error_code="RESPONSE_LOST",
                ) from error
            raise
        try:
            transport.rest(
                label, job_path, method="PATCH", idempotent=False, json={"state": "UploadComplete"}
            )
        except OutcomeUnknown as error:
            raise _unknown(
                label, job_id, len(records), "the answer to closing it was lost"
            ) from error
        info = _wait(transport, label, job_path, job_id, len(records), poll_interval, timeout)
        state = info.get("state")
        if state != "JobComplete":
            raise api_error(
                f"BULK_JOB_{str(state).upper()}",
                str(info.get("errorMessage") or f"Bulk job {job_id} ended {state}."),
            )

        key_column = {"update": "Id", "upsert": external_id_field}.get(operation)
        matcher = _ResultMatcher(header, rows, key_column)
        results: dict[int, RecordResult] = {}
        for echoed in _read_csv(transport, label, f"{job_path}/successfulResults"):
            index = matcher.match(echoed)
            if index is None:
                continue
            created = echoed.get("sf__Created", "").lower() == "true"
            results[index] = RecordResult(
                index=index,
                id=echoed.get("sf__Id") or None,
                success=True,
                created=created if operation != "update" else None,
                errors=(),
            )
        for echoed in _read_csv(transport, label, f"{job_path}/failedResults"):
            index = matcher.match(echoed)
            if index is None:
                continue
            results[index] = RecordResult(
                index=index,
                id=echoed.get("sf__Id") or None,
                success=False,
                created=None,
                errors=(parse_bulk_error(echoed.get("sf__Error", ""), index),),
            )
        for echoed in _read_csv(transport, label, f"{job_path}/unprocessedrecords"):
            index = matcher.match(echoed)
            if index is not None:
                results[index] = not_saved(
                    index, "UNPROCESSED_RECORD", "Salesforce did not process this record."
                )
        for index in matcher.unmatched(len(records)):
            logger.warning("%s: job %s returned no result for record %d", label, job_id, index)
            results[index] = not_saved(
                index,
                "BULK_RESULT_MISSING",
                f"Bulk job {job_id} returned no result for this record.",
            )
        ordered = [results[index] for index in range(len(records))]
    log_failures(label, ordered)
    return ordered


def _unknown(label: str, job_id: str, size: int, why: str) -> BatchOutcomeUnknown:
    return BatchOutcomeUnknown(
        f"{label}: bulk job {job_id} was started but {why}; look the records up.",
        completed=[],
        unknown_from=0,
        unknown_to=size,
    )


def _wait(
    transport: Transport,
    label: str,
    job_path: str,
    job_id: str,
    size: int,
    poll_interval: float,
    timeout: float,
) -> dict[str, Any]:
    """Poll the job until it ends or ``timeout`` seconds pass (then the outcome is unknown)."""
    deadline = time.monotonic() + timeout
    # Small jobs often end within a second: start with short pauses, doubling up to the interval.
    delay = min(FIRST_POLL_DELAY, poll_interval)
    while True:
        info = transport.rest(label, job_path) or {}
        if info.get("state") in _ENDED_STATES:
            return info
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _unknown(label, job_id, size, f"had not ended after {timeout:g} s")
        # Production polling of a job Salesforce processes asynchronously.
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, poll_interval)


def _abort(transport: Transport, label: str, job_path: str) -> None:
    try:
        transport.rest(label, job_path, method="PATCH", json={"state": "Aborted"})
    except (ApiError, OutcomeUnknown):
        logger.warning("%s: could not abort %s after a failed upload", label, job_path)


def _read_csv(transport: Transport, label: str, path: str) -> list[dict[str, str]]:
    text = transport.raw(label, "GET", path, idempotent=True, headers={"Accept": "text/csv"})
    return list(csv.DictReader(io.StringIO(text)))
