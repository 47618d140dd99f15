"""The two batched requests the sync needs that the client does not offer yet, in one place.

- several ``queryAll`` queries in one ``/composite`` call (``composite_query`` only sends
  ``/query``, which hides deleted records), and
- up to five sObject Collections (200 records each) in one ``/composite`` call, so 1,000 writes
  cost one API call instead of five.

Both go through the client's ``_rest`` (its retry, refresh and call counting); when the client
grows public methods for them, only this module changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from wagtail_salesforce.client import (
    COLLECTION_CHUNK_SIZE,
    COMPOSITE_MAX_QUERIES,
    SalesforceClient,
)
from wagtail_salesforce.client.client import error_from_response
from wagtail_salesforce.exceptions import ApiError

# Salesforce counts queries and sObject Collections together: at most five per /composite.
COMPOSITE_MAX_HEAVY = COMPOSITE_MAX_QUERIES
TRANSIENT_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})


def _version(client: SalesforceClient) -> str:
    return str(client._version)  # noqa: SLF001 - see the module docstring


def composite_queries(
    client: SalesforceClient, queries: Mapping[str, str], *, include_deleted: bool = False
) -> dict[str, dict[str, Any]]:
    """First page of each query (by reference id), five queries per ``/composite`` call."""
    endpoint = "queryAll" if include_deleted else "query"
    items = list(queries.items())
    pages: dict[str, dict[str, Any]] = {}
    for start in range(0, len(items), COMPOSITE_MAX_HEAVY):
        chunk = items[start : start + COMPOSITE_MAX_HEAVY]
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": f"/services/data/v{_version(client)}/{endpoint}?"
                    + urlencode({"q": soql}),
                    "referenceId": reference,
                }
                for reference, soql in chunk
            ],
        }
        answer = client._rest("sync queries", "composite", method="POST", json=body) or {}  # noqa: SLF001
        for sub in answer.get("compositeResponse") or []:
            status = int(sub.get("httpStatusCode") or 0)
            if status >= 300:
                raise error_from_response(status, sub.get("body"))
            pages[str(sub.get("referenceId"))] = sub.get("body") or {}
        missing = [reference for reference, _soql in chunk if reference not in pages]
        if missing:
            raise ApiError(
                f"/composite answered without subresponses for {missing}.",
                error_code="INCOMPLETE_COMPOSITE_RESPONSE",
            )
    return pages


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
    pieces: list[tuple[int, int, dict[str, Any]]] = []  # (write index, offset, subrequest)
    for write_index, write in enumerate(writes):
        for offset in range(0, len(write.records), COLLECTION_CHUNK_SIZE):
            chunk = write.records[offset : offset + COLLECTION_CHUNK_SIZE]
            pieces.append(
                (
                    write_index,
                    offset,
                    {
                        "method": write.method,
                        "url": f"/services/data/v{_version(client)}/composite/sobjects",
                        "referenceId": f"w{write_index}_{offset}",
                        "body": {
                            "allOrNone": False,
                            "records": [
                                {**record, "attributes": {"type": write.sobject}}
                                for record in chunk
                            ],
                        },
                    },
                )
            )
    results: list[list[WriteResult]] = [
        [WriteResult(id=None, success=False)] * len(write.records) for write in writes
    ]
    for start in range(0, len(pieces), COMPOSITE_MAX_HEAVY):
        batch = pieces[start : start + COMPOSITE_MAX_HEAVY]
        creates = any(sub["method"] == "POST" for _w, _o, sub in batch)
        body = {"allOrNone": False, "compositeRequest": [sub for _w, _o, sub in batch]}
        try:
            answer = (
                client._rest(  # noqa: SLF001
                    "sync writes", "composite", method="POST", idempotent=not creates, json=body
                )
                or {}
            )
        except ApiError as error:
            for write_index, offset, sub in batch:
                _fail_chunk(results[write_index], offset, len(sub["body"]["records"]), error)
            if not error.retryable and error.status in (401, 403):
                # The daily limit or a permission problem: later calls would fail the same way.
                for write_index, offset, sub in pieces[start + COMPOSITE_MAX_HEAVY :]:
                    _fail_chunk(results[write_index], offset, len(sub["body"]["records"]), error)
                break
            continue
        by_reference = {
            str(sub.get("referenceId")): sub for sub in answer.get("compositeResponse") or []
        }
        for write_index, offset, sub in batch:
            size = len(sub["body"]["records"])
            reply = by_reference.get(sub["referenceId"])
            status = int((reply or {}).get("httpStatusCode") or 0)
            items = (reply or {}).get("body")
            if reply is None or status >= 300 or not isinstance(items, list):
                error = error_from_response(status or 500, items)
                _fail_chunk(results[write_index], offset, size, error)
                continue
            for position, item in enumerate(items[:size]):
                results[write_index][offset + position] = _record_result(item)
    return results


def _record_result(item: Mapping[str, Any]) -> WriteResult:
    if item.get("success"):
        return WriteResult(id=item.get("id"), success=True)
    errors = item.get("errors") or [{}]
    first = errors[0]
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    message = "; ".join(str(e.get("message") or "") for e in errors)
    return WriteResult(
        id=item.get("id"),
        success=False,
        error_code=code,
        message=message,
        transient=code in TRANSIENT_RECORD_CODES,
    )


def _fail_chunk(results: list[WriteResult], offset: int, size: int, error: ApiError) -> None:
    failure = WriteResult(
        id=None,
        success=False,
        error_code=error.error_code,
        message=error.message,
        transient=error.retryable or error.status in (401, 403),
    )
    for index in range(offset, offset + size):
        results[index] = failure
