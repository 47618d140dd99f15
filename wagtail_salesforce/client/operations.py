"""``SalesforceClient``: the operations of Salesforce's REST API, typed.

REST CRUD on single records, SOQL (``query`` / ``queryAll`` with streamed paging, batched
look-ups), ``/composite`` (several queries, or several sObject Collections, in one API call),
sObject Collections, describes and limits, and Bulk API 2.0 ingest (:mod:`.bulk`). Each
operation validates its input before anything is sent (:mod:`.validation`) and goes through the
connection's :class:`~.transport.Transport`, which refreshes, retries, maps errors and counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import requests

from wagtail_salesforce.exceptions import (
    ApiError,
    BatchOutcomeUnknown,
    NotFound,
    OutcomeUnknown,
    TransientError,
)
from wagtail_salesforce.observability import get_logger

from .budget import PROBE, ApiBudget, api_priority
from .bulk import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, BulkOperation, bulk_ingest
from .results import RecordResult, UpsertResult, failed_records, log_failures, record_results
from .soql import soql_field_list, soql_identifier, soql_in_batches
from .transport import Credentials, Timeout, Transport, error_from_response
from .validation import (
    check_update_records,
    check_upsert_records,
    is_api_name,
    valid_external_id_field,
    valid_record_id,
    valid_sobject_name,
)

logger = get_logger(__name__)

# sObject Collections take at most 200 records per request.
COLLECTION_CHUNK_SIZE = 200
# A /composite request may hold at most 5 queries.
COMPOSITE_MAX_QUERIES = 5
# ... and at most 5 queries or sObject Collections subrequests together.
COMPOSITE_MAX_COLLECTIONS = 5
# Describe results change only when an admin edits the org's metadata: a cached describe is
# used as it is for this long, then revalidated with If-Modified-Since (a 304 keeps it).
DESCRIBE_CACHE_SECONDS = 300.0
# lookup(): literals per IN list, and the URL-encoded characters they may take (well under the
# ~16 KB request-line limit once the rest of the query is added).
LOOKUP_MAX_VALUES = 200
LOOKUP_MAX_CHARS = 8000



@dataclass(frozen=True)
class CachedDescribe:
    """A describe as fetched, with its ``Last-Modified`` and when it was last known current."""

    describe: dict[str, Any]
    last_modified: str | None
    checked_at: float  # time.monotonic()


# (instance URL, API version, sObject) -> the process's copy of that describe.
_describe_cache: dict[tuple[str, str, str], CachedDescribe] = {}
_describe_cache_lock = threading.Lock()


def clear_describe_cache() -> None:
    """Forget every process-wide cached describe result."""
    with _describe_cache_lock:
        _describe_cache.clear()


CollectionOperation = Literal["create", "update", "upsert"]
_COLLECTION_OPERATIONS: tuple[str, ...] = ("create", "update", "upsert")


@dataclass(frozen=True)
class CollectionWrite:
    """One sObject Collections write for :meth:`SalesforceClient.composite_collections`.

    ``operation`` is ``"create"``, ``"update"`` (each record carries its ``Id``) or ``"upsert"``
    (each record carries a value for ``external_id_field``). Any number of records: they are
    sent in subrequests of 200. Invalid writes raise ``ValueError`` when built, so nothing of a
    batch is sent when one of its writes is wrong.
    """

    operation: CollectionOperation
    sobject: str
    records: Sequence[Mapping[str, Any]]
    external_id_field: str | None = None

    def __post_init__(self) -> None:
        if self.operation not in _COLLECTION_OPERATIONS:
            raise ValueError(
                f"Not a collection operation: {self.operation!r} "
                f"(expected one of {', '.join(_COLLECTION_OPERATIONS)})"
            )
        valid_sobject_name(self.sobject)
        # A tuple, so a write cannot change after it was checked.
        records = tuple(self.records)
        object.__setattr__(self, "records", records)
        if self.operation == "upsert":
            if self.external_id_field is None:
                raise ValueError("An upsert needs external_id_field")
            check_upsert_records(self.external_id_field, records)
        elif self.external_id_field is not None:
            raise ValueError(f"external_id_field is only for upserts, not {self.operation}")
        if self.operation == "update":
            check_update_records(records)

    @property
    def method(self) -> str:
        return "POST" if self.operation == "create" else "PATCH"

    def path(self) -> str:
        """The collection's path below ``/services/data/vNN.N/``."""
        if self.operation == "upsert":
            return f"composite/sobjects/{self.sobject}/{self.external_id_field}"
        return "composite/sobjects"


def _collection_body(sobject: str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "allOrNone": False,
        "records": [{**record, "attributes": {"type": sobject}} for record in records],
    }


def _field_value(record: Mapping[str, Any], field: str) -> Any:
    """``record[field]``, matching the name case-insensitively (answers use canonical case)."""
    if field in record:
        return record[field]
    lowered = field.lower()
    for name, value in record.items():
        if name.lower() == lowered:
            return value
    return None


def collection_reference(write_index: int, record_index: int, field: str = "id") -> str:
    """The ``/composite`` reference to record ``record_index``'s result of write
    ``write_index`` in :meth:`SalesforceClient.composite_writes` (its ``id`` by default)."""
    if write_index < 0 or record_index < 0 or not is_api_name(field):
        raise ValueError(f"Not a collection reference: {write_index}, {record_index}, {field!r}")
    return f"@{{w{write_index}_0[{record_index}].{field}}}"


class SalesforceClient:
    """The one door to Salesforce's REST API for one connection.

    ``api_calls`` counts the calls this instance made the way Salesforce counts them (a
    ``/composite`` request once, each queryMore page once; OAuth and 401 answers not at all).
    ``api_usage`` is ``(used, max)`` from the latest ``Sforce-Limit-Info`` header.

    ``on_api_call`` (optional) is called with ``1`` for each counted call, as it happens: the
    connection uses it for its per-day counter. It runs inside the HTTP call, so it must be quick;
    its exceptions are logged and swallowed (a counter must never fail a call that succeeded).

    ``transport`` is the :class:`~.transport.Transport` every operation goes through.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        ca_file: str | None = None,
        session: requests.Session | None = None,
        on_api_call: Callable[[int], None] | None = None,
        timeout: Timeout | None = None,
        api_usage: tuple[int, int] | None = None,
    ) -> None:
        self.transport = Transport(
            credentials,
            ca_file=ca_file,
            session=session,
            on_api_call=on_api_call,
            timeout=timeout,
            api_usage=api_usage,
        )
        self._describe: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<SalesforceClient {self.connection_key}>"

    @property
    def connection_key(self) -> str:
        return self.transport.connection_key

    @property
    def api_calls(self) -> int:
        return self.transport.api_calls

    @property
    def api_usage(self) -> tuple[int, int] | None:
        return self.transport.api_usage

    @property
    def budget(self) -> ApiBudget:
        """The API budget every call of this client is checked against."""
        return self.transport.budget

    # --- metadata ------------------------------------------------------------------------

    def describe_global(self) -> dict[str, Any]:
        return self.transport.rest("describe_global", "sobjects") or {}

    def describe(self, sobject: str, *, refresh: bool = False) -> dict[str, Any]:
        """The sObject's describe, cached per client and per process.

        The process's copy is used as it is for ``DESCRIBE_CACHE_SECONDS``, then revalidated
        with ``If-Modified-Since``: an unchanged object costs one call answered 304 with no
        body (Salesforce still counts it), a changed one brings the new describe.
        ``refresh=True`` revalidates now, whatever this client or the process holds (what a
        background refresh of form constraints or picklist choices wants).
        """
        sobject = valid_sobject_name(sobject)
        if not refresh and sobject in self._describe:
            return self._describe[sobject]
        key = (self.transport.credentials.instance_url, self.transport.version, sobject)
        now = time.monotonic()
        with _describe_cache_lock:
            cached = _describe_cache.get(key)
        if cached is not None and not refresh and now - cached.checked_at < DESCRIBE_CACHE_SECONDS:
            result = cached.describe
        else:
            body, last_modified = self.transport.get_if_modified(
                "describe",
                f"sobjects/{sobject}/describe",
                cached.last_modified if cached is not None else None,
            )
            if body is None and cached is not None:  # 304 Not Modified
                result = cached.describe
            else:
                result = body if isinstance(body, dict) else {}
            with _describe_cache_lock:
                _describe_cache[key] = CachedDescribe(result, last_modified, now)
        self._describe[sobject] = result
        return result

    def record_type_id(self, sobject: str, developer_name: str) -> str:
        """The Id of ``sobject``'s record type named ``developer_name``; NotFound if absent."""
        for info in self.describe(sobject).get("recordTypeInfos") or []:
            if info.get("developerName") == developer_name and info.get("recordTypeId"):
                return str(info["recordTypeId"])
        raise NotFound(
            f"{sobject} has no record type with DeveloperName {developer_name!r}.",
            error_code="NOT_FOUND",
        )

    def picklist_values(self, sobject: str, record_type_id: str) -> dict[str, dict[str, str]]:
        """Each picklist of ``sobject`` -> the values (value -> label, in the org's order) that
        record type ``record_type_id`` offers: the sObject describe lists every value of the
        object, the User Interface API's Picklist Values Collection
        (``ui-api/object-info/{object}/picklist-values/{recordTypeId}``, API 42.0+) only the
        record type's. One API call."""
        sobject = valid_sobject_name(sobject)
        record_type_id = valid_record_id(record_type_id)
        body = self.transport.rest(
            "picklist_values", f"ui-api/object-info/{sobject}/picklist-values/{record_type_id}"
        )
        fields = (body or {}).get("picklistFieldValues") or {}
        return {
            str(name): {
                str(value["value"]): str(value.get("label") or value["value"])
                for value in (entry or {}).get("values") or []
            }
            for name, entry in fields.items()
        }

    def limits(self) -> dict[str, Any]:
        """The org's limits. Always sent, whatever the budget: reading the usage is how a
        held-back plugin learns that calls are free again (callers keep it rare)."""
        with api_priority(PROBE):
            return self.transport.rest("limits", "limits") or {}

    # --- queries -------------------------------------------------------------------------

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """The first page of a SOQL query (``totalSize``, ``done``, ``records``, ...)."""

        def send(headers: dict[str, str]) -> Any:
            return self.transport.simple().query(
                soql, include_deleted=include_deleted, headers=headers
            )

        return self.transport.call("query", send, idempotent=True)

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        """The page at a ``nextRecordsUrl``."""
        if not next_records_url.startswith("/services/data/"):
            raise ValueError(f"Not a nextRecordsUrl: {next_records_url!r}")

        def send(headers: dict[str, str]) -> Any:
            return self.transport.simple().query_more(
                next_records_url, identifier_is_url=True, headers=headers
            )

        return self.transport.call("query_more", send, idempotent=True)

    def iter_records(self, page: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Stream the records of ``page`` and of every page after it (one call per page)."""
        while True:
            yield from page.get("records") or []
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.query_more(str(page["nextRecordsUrl"]))

    def query_iter(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Stream every record of a query, fetching pages as they are consumed."""
        yield from self.iter_records(self.query(soql, include_deleted=include_deleted))

    def lookup(
        self,
        sobject: str,
        field: str,
        values: Iterable[str],
        fields: Sequence[str],
        *,
        extra_where: str = "",
    ) -> dict[str, list[dict[str, Any]]]:
        """Find records whose ``field`` equals any of ``values`` (case-insensitively).

        Returns every requested value, lower-cased, mapped to all its matching records (an empty
        list when none match). Values are queried in batched ``IN`` lists. Empty values are
        skipped: in SOQL ``''`` means null and would match every record without one.
        ``extra_where`` is appended as ``AND (...)``; build it with ``soql_quote``.
        """
        sobject = valid_sobject_name(sobject)
        if not is_api_name(field):
            raise ValueError(f"lookup() needs a plain field name, not {field!r}")
        # API names are case-insensitive: select each field once, whatever its spelling.
        select_names: list[str] = []
        for name in [*fields, field]:
            if name.lower() not in {chosen.lower() for chosen in select_names}:
                select_names.append(name)
        select = soql_field_list(select_names)
        matches: dict[str, list[dict[str, Any]]] = {}
        for value in values:
            if value:
                matches.setdefault(value.lower(), [])
        condition = f" AND ({extra_where})" if extra_where.strip() else ""
        for batch in soql_in_batches(
            matches, max_chars=LOOKUP_MAX_CHARS, max_values=LOOKUP_MAX_VALUES
        ):
            # Identifiers are validated and every literal comes from soql_quote().
            in_list = ", ".join(batch)
            soql = f"SELECT {select} FROM {sobject} WHERE {field} IN ({in_list}){condition}"  # noqa: S608
            for record in self.query_iter(soql):
                key = str(_field_value(record, field) or "").lower()
                if key in matches:
                    matches[key].append(record)
        return matches

    def composite_query(
        self, queries: Mapping[str, str], *, include_deleted: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Run several queries in one ``/composite`` request (one API call per 5 queries).

        Keys are reference ids (letters, digits, underscores); each value is that query's first
        page (continue with :meth:`iter_records`). A failed subrequest raises its mapped error.
        ``include_deleted`` runs them as ``queryAll``: deleted and merged records (``IsDeleted``
        true, still in the recycle bin) are included.
        """
        resource = "queryAll" if include_deleted else "query"
        for reference in queries:
            if not is_api_name(reference):
                raise ValueError(f"Not a valid composite referenceId: {reference!r}")
        items = list(queries.items())
        results: dict[str, dict[str, Any]] = {}
        for start in range(0, len(items), COMPOSITE_MAX_QUERIES):
            chunk = items[start : start + COMPOSITE_MAX_QUERIES]
            body = {
                "allOrNone": False,
                "compositeRequest": [
                    {
                        "method": "GET",
                        "url": f"/services/data/v{self.transport.version}/{resource}?"
                        + urlencode({"q": soql}),
                        "referenceId": reference,
                    }
                    for reference, soql in chunk
                ],
            }
            answer = (
                self.transport.rest("composite_query", "composite", method="POST", json=body) or {}
            )
            for sub in answer.get("compositeResponse") or []:
                reference = str(sub.get("referenceId"))
                status = int(sub.get("httpStatusCode") or 0)
                if status >= 300:
                    raise error_from_response(status, sub.get("body"))
                results[reference] = sub.get("body") or {}
            missing = [reference for reference, _ in chunk if reference not in results]
            if missing:
                raise ApiError(
                    f"/composite answered without subresponses for {missing}.",
                    error_code="INCOMPLETE_COMPOSITE_RESPONSE",
                )
        return results

    # --- single records ------------------------------------------------------------------

    def get(
        self, sobject: str, record_id: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        sobject = valid_sobject_name(sobject)
        record_id = valid_record_id(record_id)
        params = {"fields": ",".join(soql_identifier(f) for f in fields)} if fields else None

        def send(headers: dict[str, str]) -> Any:
            return self.transport.sobject(sobject).get(record_id, headers=headers, params=params)

        return self.transport.call(f"get {sobject}", send, idempotent=True)

    def create(self, sobject: str, data: Mapping[str, Any]) -> str:
        """Create one record and return its Id; OutcomeUnknown if the answer was lost."""
        sobject = valid_sobject_name(sobject)
        payload = dict(data)

        def send(headers: dict[str, str]) -> Any:
            return self.transport.sobject(sobject).create(payload, headers=headers)

        result = self.transport.call(f"create {sobject}", send, idempotent=False)
        logger.info("Created %s %s (%s)", sobject, result.get("id"), self.connection_key)
        return str(result["id"])

    def update(self, sobject: str, record_id: str, data: Mapping[str, Any]) -> None:
        sobject = valid_sobject_name(sobject)
        record_id = valid_record_id(record_id)
        payload = dict(data)

        def send(headers: dict[str, str]) -> Any:
            return self.transport.sobject(sobject).update(record_id, payload, headers=headers)

        self.transport.call(f"update {sobject}", send, idempotent=True)

    def upsert(
        self, sobject: str, ext_field: str, ext_value: str, data: Mapping[str, Any]
    ) -> UpsertResult:
        """Create or update the record whose ``ext_field`` is ``ext_value``.

        MultipleMatches (HTTP 300) when several records carry that value.
        """
        sobject = valid_sobject_name(sobject)
        valid_external_id_field(ext_field)
        if not ext_value:
            raise ValueError("An upsert needs a non-empty external ID value")
        path = f"{ext_field}/{quote(ext_value, safe='')}"
        payload = dict(data)

        def send(headers: dict[str, str]) -> Any:
            return self.transport.sobject(sobject).upsert(
                path, payload, raw_response=True, headers=headers
            )

        response: requests.Response = self.transport.call(
            f"upsert {sobject}", send, idempotent=True
        )
        body = response.json() if response.content else {}
        created = bool(body.get("created", response.status_code == 201))
        record_id = body.get("id")
        if not record_id:
            # Before API v46 an update answered 204 with no body: ask for the Id.
            def fetch(headers: dict[str, str]) -> Any:
                return self.transport.sobject(sobject).get(
                    path, headers=headers, params={"fields": "Id"}
                )

            record_id = self.transport.call(
                f"get {sobject} by {ext_field}", fetch, idempotent=True
            )["Id"]
        return UpsertResult(id=str(record_id), created=created)

    def delete(self, sobject: str, record_id: str) -> None:
        sobject = valid_sobject_name(sobject)
        record_id = valid_record_id(record_id)

        def send(headers: dict[str, str]) -> Any:
            return self.transport.sobject(sobject).delete(record_id, headers=headers)

        self.transport.call(f"delete {sobject}", send, idempotent=True)

    # --- sObject Collections -------------------------------------------------------------

    def collection_create(
        self, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """Create records in chunks of 200 (allOrNone false), one result per record, in order.

        A failure of a whole chunk (a transient error past the retries, the API limit, ...) is
        reported on each record of that chunk, so the results of earlier chunks are never lost;
        after ``ApiLimitExceeded`` or another 401/403 later chunks are not sent and report the
        same error. If a chunk's answer is lost, :class:`BatchOutcomeUnknown` is raised carrying
        the results received so far. ``ReauthorizationRequired`` propagates as it is.
        """
        return self._collection(
            sobject, records, method="POST", path="composite/sobjects", idempotent=False
        )

    def collection_update(
        self, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """Update records (each with its ``Id``) in chunks of 200, one result per record.

        Chunk-level failures are reported per record as for :meth:`collection_create`.
        """
        check_update_records(records)
        return self._collection(
            sobject, records, method="PATCH", path="composite/sobjects", idempotent=True
        )

    def collection_upsert(
        self, sobject: str, ext_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """Upsert records on ``ext_field`` in chunks of 200, one result per record.

        ``created`` tells inserts from updates. Chunk-level failures are reported per record as
        for :meth:`collection_create`.
        """
        check_upsert_records(ext_field, records)
        return self._collection(
            sobject,
            records,
            method="PATCH",
            path=f"composite/sobjects/{valid_sobject_name(sobject)}/{ext_field}",
            idempotent=True,
        )

    def _collection(
        self,
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        *,
        method: str,
        path: str,
        idempotent: bool,
    ) -> list[RecordResult]:
        sobject = valid_sobject_name(sobject)
        operation = f"collection {method} {sobject}"
        results: list[RecordResult] = []
        stop_error: ApiError | None = None
        for start in range(0, len(records), COLLECTION_CHUNK_SIZE):
            chunk = records[start : start + COLLECTION_CHUNK_SIZE]
            if stop_error is not None:
                results.extend(failed_records(start, len(chunk), stop_error))
                continue
            body = _collection_body(sobject, chunk)
            try:
                answer = self.transport.rest(
                    operation, path, method=method, idempotent=idempotent, json=body
                )
            except OutcomeUnknown as error:
                raise BatchOutcomeUnknown(
                    str(error),
                    completed=results,
                    unknown_from=start,
                    unknown_to=start + len(chunk),
                ) from error
            except ApiError as error:
                # Nothing in this chunk was saved; the caller sees why on each record.
                results.extend(failed_records(start, len(chunk), error))
                if _stops_the_batch(error):
                    stop_error = error  # the limit or a permission: later chunks would fail too
                continue
            if not isinstance(answer, list) or len(answer) != len(chunk):
                raise ApiError(
                    f"{operation}: expected {len(chunk)} results from Salesforce.",
                    error_code="UNEXPECTED_RESPONSE",
                )
            results.extend(record_results(answer, start, creates=method == "POST"))
        log_failures(operation, results)
        return results

    def composite_collections(self, writes: Sequence[CollectionWrite]) -> list[list[RecordResult]]:
        """Send sObject Collections writes inside ``/composite``: one API call per 5 collections.

        Each write's records go in collections of 200 (allOrNone false), write after write, five
        collections per ``/composite`` request; so 1,000 records of one write, or five writes of
        200, cost one call. Returns one result list per write, in order, with each record's
        result at its position in its write (``RecordResult.index``), mapped exactly as
        :meth:`collection_create` / ``_update`` / ``_upsert`` map theirs.

        A collection that fails as a whole (its subrequest answered an error, or the whole
        request failed past the retries) reports its error on each of its records; after
        ``ApiLimitExceeded`` or another 401/403 the later requests are not sent and report the
        same error. A request containing creates is not repeated when its answer is lost:
        :class:`BatchOutcomeUnknown` is raised, its ``completed`` holding each write's results
        received so far (a prefix of each write's list) and ``unknown_from`` / ``unknown_to``
        counting records across the writes taken in order (the first write's, then the
        second's, ...). Requests of updates and upserts only are repeated like any idempotent
        call. ``ReauthorizationRequired`` propagates as it is.
        """
        pieces: list[_CollectionPiece] = []
        first_position = 0  # of the current write's first record, counted across all writes
        for write_index, write in enumerate(writes):
            if not isinstance(write, CollectionWrite):
                raise TypeError(f"writes[{write_index}] is not a CollectionWrite: {write!r}")
            for start in range(0, len(write.records), COLLECTION_CHUNK_SIZE):
                pieces.append(
                    _CollectionPiece(
                        write_index=write_index,
                        write=write,
                        start=start,
                        records=write.records[start : start + COLLECTION_CHUNK_SIZE],
                        position=first_position + start,
                    )
                )
            first_position += len(write.records)
        results: list[list[RecordResult]] = [[] for _write in writes]
        stop_error: ApiError | None = None
        for batch_start in range(0, len(pieces), COMPOSITE_MAX_COLLECTIONS):
            batch = pieces[batch_start : batch_start + COMPOSITE_MAX_COLLECTIONS]
            if stop_error is not None:
                for piece in batch:
                    results[piece.write_index].extend(piece.failed(stop_error))
                continue
            try:
                answer = self.transport.rest(
                    "composite collections",
                    "composite",
                    method="POST",
                    # A lost answer to creates must not be repeated: they may have been saved.
                    idempotent=all(piece.write.operation != "create" for piece in batch),
                    json={
                        "allOrNone": False,
                        "compositeRequest": [
                            piece.subrequest(self.transport.version) for piece in batch
                        ],
                    },
                )
            except OutcomeUnknown as error:
                last = batch[-1]
                raise BatchOutcomeUnknown(
                    str(error),
                    completed=[list(write_results) for write_results in results],
                    unknown_from=batch[0].position,
                    unknown_to=last.position + len(last.records),
                ) from error
            except ApiError as error:
                for piece in batch:
                    results[piece.write_index].extend(piece.failed(error))
                if _stops_the_batch(error):
                    stop_error = error
                continue
            replies = {
                str(reply.get("referenceId")): reply
                for reply in (answer or {}).get("compositeResponse") or []
                if isinstance(reply, dict)
            }
            for piece in batch:
                results[piece.write_index].extend(piece.results(replies.get(piece.reference)))
        for write, write_results in zip(writes, results, strict=True):
            log_failures(f"composite collection {write.operation} {write.sobject}", write_results)
        return results

    def composite_writes(self, writes: Sequence[CollectionWrite]) -> list[list[RecordResult]]:
        """Send up to five sObject Collections writes of up to 200 records each in ONE
        ``/composite`` request (one API call), in order, so a later write's records may name an
        earlier write's results: a value ``collection_reference(k, i)`` becomes the Id of record
        ``i`` of write ``k`` (null when that record failed, so the dependent record fails too).

        Returns one result list per write, as :meth:`composite_collections` does. A subrequest
        that fails as a whole reports its error on each of its records. The request is not
        repeated when its answer is lost if it holds a create: :class:`OutcomeUnknown` is raised
        (the caller looks its records up). A failure of the whole request raises its error.
        """
        if not writes:
            return []
        if len(writes) > COMPOSITE_MAX_COLLECTIONS:
            raise ValueError(
                f"composite_writes takes at most {COMPOSITE_MAX_COLLECTIONS} writes, "
                f"not {len(writes)}"
            )
        pieces: list[_CollectionPiece] = []
        for write_index, write in enumerate(writes):
            if not isinstance(write, CollectionWrite):
                raise TypeError(f"writes[{write_index}] is not a CollectionWrite: {write!r}")
            if not 0 < len(write.records) <= COLLECTION_CHUNK_SIZE:
                raise ValueError(
                    f"writes[{write_index}] has {len(write.records)} records "
                    f"(1 to {COLLECTION_CHUNK_SIZE} in one request)"
                )
            pieces.append(
                _CollectionPiece(
                    write_index=write_index,
                    write=write,
                    start=0,
                    records=write.records,
                    position=0,
                )
            )
        answer = self.transport.rest(
            "composite writes",
            "composite",
            method="POST",
            idempotent=all(write.operation != "create" for write in writes),
            json={
                "allOrNone": False,
                "compositeRequest": [piece.subrequest(self.transport.version) for piece in pieces],
            },
        )
        replies = {
            str(reply.get("referenceId")): reply
            for reply in (answer or {}).get("compositeResponse") or []
            if isinstance(reply, dict)
        }
        results = [piece.results(replies.get(piece.reference)) for piece in pieces]
        for write, write_results in zip(writes, results, strict=True):
            log_failures(f"composite write {write.operation} {write.sobject}", write_results)
        return results

    # --- Bulk API 2.0 ----------------------------------------------------------------------

    def bulk_ingest(
        self,
        sobject: str,
        operation: BulkOperation,
        records: Sequence[Mapping[str, Any]],
        *,
        external_id_field: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[RecordResult]:
        """Insert, update (each record with its ``Id``) or upsert (on ``external_id_field``)
        records in one Bulk API 2.0 ingest job; one result per record, in input order.

        A job that ends ``Failed`` or ``Aborted`` raises :class:`ApiError` with its
        ``errorMessage``; one whose end is not seen within ``timeout`` seconds raises
        :class:`BatchOutcomeUnknown`. See :mod:`wagtail_salesforce.client.bulk`.
        """
        return bulk_ingest(
            self.transport,
            sobject,
            operation,
            records,
            external_id_field=external_id_field,
            poll_interval=poll_interval,
            timeout=timeout,
        )


def _stops_the_batch(error: ApiError) -> bool:
    """The daily limit or a permission problem: later requests would fail the same way."""
    return not error.retryable and error.status in (401, 403)


@dataclass(frozen=True)
class _CollectionPiece:
    """Up to 200 records of one :class:`CollectionWrite`, as one ``/composite`` subrequest."""

    write_index: int
    write: CollectionWrite
    start: int  # index of the first record within its write
    records: Sequence[Mapping[str, Any]]
    position: int  # ... and counted across all the writes of the call

    @property
    def reference(self) -> str:
        return f"w{self.write_index}_{self.start}"

    def subrequest(self, version: str) -> dict[str, Any]:
        return {
            "method": self.write.method,
            "url": f"/services/data/v{version}/{self.write.path()}",
            "referenceId": self.reference,
            "body": _collection_body(self.write.sobject, self.records),
        }

    def failed(self, error: ApiError) -> list[RecordResult]:
        return failed_records(self.start, len(self.records), error)

    def results(self, reply: Mapping[str, Any] | None) -> list[RecordResult]:
        """This collection's results from its subresponse (``None``: there was none)."""
        status = int((reply or {}).get("httpStatusCode") or 0)
        body = (reply or {}).get("body")
        if reply is not None and status >= 300:
            return self.failed(error_from_response(status, body))
        if reply is None or not isinstance(body, list) or len(body) != len(self.records):
            # Salesforce answers every subrequest; a gap is treated like a 5xx: nothing is
            # known, so it is worth sending again (after looking creates up).
            return self.failed(
                TransientError(
                    f"/composite answered without the results of {self.reference}.",
                    error_code="INCOMPLETE_COMPOSITE_RESPONSE",
                    status=status or None,
                )
            )
        return record_results(body, self.start, creates=self.write.operation == "create")
