"""The sync's batched requests, in the engine's terms, on the client's public API.

- the first page of several queries (``queryAll`` for the pull, so deletions are seen) in one
  ``/composite`` call per five queries: :meth:`SalesforceClient.composite_query`;
- sObject Collections writes, five collections of 200 per ``/composite`` call, so 1,000 writes
  cost one API call instead of five: :meth:`SalesforceClient.composite_collections`;
- for large pushes, the same writes as Bulk API 2.0 ingest jobs:
  :meth:`SalesforceClient.bulk_ingest`.

The client does the retries, token refresh, error mapping and call counting; this module only
turns its per-record results into what the engine records on each lead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wagtail_salesforce.client import (
    BulkOperation,
    CollectionOperation,
    CollectionWrite,
    RecordResult,
    SalesforceClient,
)
from wagtail_salesforce.exceptions import ApiError

# The engine's HTTP verbs, as the client's collection operations.
_OPERATIONS: dict[str, CollectionOperation] = {"POST": "create", "PATCH": "update"}
# ... and as Bulk API 2.0 ingest operations.
_BULK_OPERATIONS: dict[str, BulkOperation] = {"POST": "insert", "PATCH": "update"}


def composite_queries(
    client: SalesforceClient, queries: Mapping[str, str], *, include_deleted: bool = False
) -> dict[str, dict[str, Any]]:
    """First page of each query (by reference id), five queries per ``/composite`` call."""
    return client.composite_query(queries, include_deleted=include_deleted)


def stream(client: SalesforceClient, first_page: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every record of a query from its first page on, fetching later pages as consumed."""
    return client.iter_records(first_page)


@dataclass(frozen=True)
class WriteResult:
    """One record's outcome. ``transient``: worth sending again next cycle."""

    id: str | None
    success: bool
    error_code: str = ""
    message: str = ""
    transient: bool = False


@dataclass(frozen=True)
class Write:
    """Records to create (``method`` POST) or update (PATCH, each with ``Id``) in one object."""

    method: str
    sobject: str
    records: Sequence[Mapping[str, Any]]


def write_collections(client: SalesforceClient, writes: Sequence[Write]) -> list[list[WriteResult]]:
    """Send every write as sObject Collections, five collections of 200 per ``/composite`` call.

    Returns one result list per write, in order. A failed collection reports its error on each
    of its records. Raises OutcomeUnknown when an answer carrying creates was lost.
    """
    collection_writes: list[CollectionWrite] = []
    for write in writes:
        if write.method not in _OPERATIONS:
            raise ValueError(f"A sync write is POST or PATCH, not {write.method!r}")
        collection_writes.append(
            CollectionWrite(_OPERATIONS[write.method], write.sobject, write.records)
        )
    return [
        [_write_result(result) for result in results]
        for results in client.composite_collections(collection_writes)
    ]


def write_bulk(client: SalesforceClient, writes: Sequence[Write]) -> list[list[WriteResult]]:
    """Send each write as one Bulk API 2.0 ingest job; results as :func:`write_collections`.

    A job that fails as a whole (it ended ``Failed`` or ``Aborted``, or a request past the
    retries) reports its error on each of its records as transient: no record was judged, so
    they are sent again next cycle. Raises OutcomeUnknown when a job was started but its end was
    not seen.
    """
    for write in writes:
        if write.method not in _BULK_OPERATIONS:
            raise ValueError(f"A sync write is POST or PATCH, not {write.method!r}")
    outcomes: list[list[WriteResult]] = []
    for write in writes:
        try:
            results = client.bulk_ingest(
                write.sobject, _BULK_OPERATIONS[write.method], write.records
            )
        except ApiError as error:
            whole_job = WriteResult(
                id=None,
                success=False,
                error_code=error.error_code,
                message=error.message,
                transient=True,
            )
            outcomes.append([whole_job] * len(write.records))
            continue
        outcomes.append([_write_result(result) for result in results])
    return outcomes


def _write_result(result: RecordResult) -> WriteResult:
    if result.success:
        return WriteResult(id=result.id, success=True)
    if not result.errors:
        return WriteResult(id=result.id, success=False, error_code="UNKNOWN")
    first = result.errors[0]
    return WriteResult(
        id=result.id,
        success=False,
        error_code=first.error_code,
        message="; ".join(error.message for error in result.errors),
        # Row locks and 5xx pass; so do the daily limit and a permission problem (fixed by an
        # administrator, not by editing the lead). Validation errors wait for a local edit.
        transient=first.retryable or first.status in (401, 403),
    )
