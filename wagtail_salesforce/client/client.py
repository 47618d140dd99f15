"""``SalesforceClient``: a small typed client over simple-salesforce.

simple-salesforce builds the URLs and sends the requests through our own ``requests.Session``
(see :mod:`wagtail_salesforce.client.http`); this class adds what a web-server-flow integration
needs around it: token refresh through a :class:`Credentials` object, bounded retries with full
jitter, translation of every failure into :mod:`wagtail_salesforce.exceptions`, batching helpers
and API-call accounting.

Retry rules. An *answer* from Salesforce that is transient (5xx, ``UNABLE_TO_LOCK_ROW``) means the
save was rolled back, so any call may be repeated, a create included. A request that never left
this machine (connection refused, connect timeout) may be repeated too. A request that was sent
but whose answer was lost (read timeout, connection reset) is repeated only when it is idempotent
(GET, PATCH update/upsert, DELETE, queries); a lost create raises :class:`OutcomeUnknown` so the
caller looks the record up instead of creating a duplicate.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote, urlencode

import requests
from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from wagtail_salesforce import conf
from wagtail_salesforce.exceptions import (
    ApiError,
    BatchOutcomeUnknown,
    MultipleMatches,
    NetworkError,
    NotFound,
    OutcomeUnknown,
    ReauthorizationRequired,
    SessionExpired,
    TLSVerificationFailed,
    TransientError,
    api_error,
)

from .bulk import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, BulkOperation, bulk_ingest
from .http import (
    RequestNotSent,
    ResponseInfo,
    ResponseLost,
    Timeout,
    TLSVerificationError,
    build_session,
    classify_transport_error,
)
from .soql import soql_field_list, soql_identifier, soql_in_batches

logger = logging.getLogger(__name__)

T = TypeVar("T")

# sObject Collections take at most 200 records per request.
COLLECTION_CHUNK_SIZE = 200
# A /composite request may hold at most 5 queries.
COMPOSITE_MAX_QUERIES = 5
# ... and at most 5 queries or sObject Collections subrequests together.
COMPOSITE_MAX_COLLECTIONS = 5
# Describe results change only when an admin edits the org's metadata.
DESCRIBE_CACHE_SECONDS = 300.0
# lookup(): literals per IN list, and the URL-encoded characters they may take (well under the
# ~16 KB request-line limit once the rest of the query is added).
LOOKUP_MAX_VALUES = 200
LOOKUP_MAX_CHARS = 8000

_SOBJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_REFERENCE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

_describe_cache: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
_describe_cache_lock = threading.Lock()


def clear_describe_cache() -> None:
    """Forget every process-wide cached describe result."""
    with _describe_cache_lock:
        _describe_cache.clear()


class Credentials(Protocol):
    """What the client needs from a connection (``wagtail_salesforce.connection`` provides one)."""

    @property
    def connection_key(self) -> str:
        """A short, non-secret label for logs and counters."""
        ...

    @property
    def instance_url(self) -> str: ...

    @property
    def access_token(self) -> str: ...

    @property
    def api_version(self) -> str:
        """e.g. ``"62.0"``."""
        ...

    def refresh(self, stale_access_token: str) -> None:
        """Obtain a new access token, unless another process already replaced the stale one.

        Raises :class:`ReauthorizationRequired` on ``invalid_grant`` (and marks the connection).
        """
        ...

    def record_api_usage(self, used: int, limit: int) -> None:
        """Called with the org's usage whenever an answer carries ``Sforce-Limit-Info``."""
        ...


@dataclass(frozen=True)
class RecordResult:
    """The outcome of one record of an sObject Collections call; ``index`` is its input position.

    ``created`` is True/False when Salesforce says (creates, upserts) and None otherwise.
    """

    index: int
    id: str | None
    success: bool
    created: bool | None
    errors: tuple[ApiError, ...]


@dataclass(frozen=True)
class UpsertResult:
    id: str
    created: bool


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
        _sobject_name(self.sobject)
        # A tuple, so a write cannot change after it was checked.
        records = tuple(self.records)
        object.__setattr__(self, "records", records)
        if self.operation == "upsert":
            if self.external_id_field is None:
                raise ValueError("An upsert needs external_id_field")
            _check_upsert_records(self.external_id_field, records)
        elif self.external_id_field is not None:
            raise ValueError(f"external_id_field is only for upserts, not {self.operation}")
        if self.operation == "update":
            _check_update_records(records)

    @property
    def method(self) -> str:
        return "POST" if self.operation == "create" else "PATCH"

    def path(self) -> str:
        """The collection's path below ``/services/data/vNN.N/``."""
        if self.operation == "upsert":
            return f"composite/sobjects/{self.sobject}/{self.external_id_field}"
        return "composite/sobjects"


def _check_update_records(records: Sequence[Mapping[str, Any]]) -> None:
    for position, record in enumerate(records):
        if not record.get("Id"):
            raise ValueError(f"Record {position} has no Id to update")
        _record_id(str(record["Id"]))


def _check_upsert_records(ext_field: str, records: Sequence[Mapping[str, Any]]) -> None:
    if not _SOBJECT_NAME.fullmatch(ext_field):
        raise ValueError(f"Not a valid external ID field: {ext_field!r}")
    for position, record in enumerate(records):
        if not record.get(ext_field):
            raise ValueError(f"Record {position} has no {ext_field} to upsert on")


def _collection_body(sobject: str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "allOrNone": False,
        "records": [{**record, "attributes": {"type": sobject}} for record in records],
    }


def _record_results(items: Sequence[Any], start: int, *, creates: bool) -> list[RecordResult]:
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
                errors=tuple(_record_error(e, index) for e in item.get("errors") or []),
            )
        )
    return results


def _failed_records(start: int, size: int, error: ApiError) -> list[RecordResult]:
    """Results for a chunk that failed as a whole: its error on each record, at its index."""
    return [
        RecordResult(
            index=index,
            id=None,
            success=False,
            created=None,
            errors=(_with_index(error, index),),
        )
        for index in range(start, start + size)
    ]


def _log_failures(operation: str, results: Sequence[RecordResult]) -> None:
    failures = [(r.index, [e.error_code for e in r.errors]) for r in results if not r.success]
    if failures:
        logger.info(
            "%s: %d of %d records failed: %s",
            operation,
            len(failures),
            len(results),
            failures[:20],
        )


def _sobject_name(name: str) -> str:
    if not isinstance(name, str) or not _SOBJECT_NAME.fullmatch(name):
        raise ValueError(f"Not a valid sObject name: {name!r}")
    return name


def _record_id(record_id: str) -> str:
    if not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
        raise ValueError(f"Not a Salesforce record Id: {record_id!r}")
    return record_id


def _error_entries(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        return [entry for entry in content if isinstance(entry, dict)]
    return []


def error_from_response(status: int, content: Any) -> ApiError:
    """Our exception for an error answer (``content`` is the decoded body, or its text)."""
    entries = _error_entries(content)
    if status == 300:
        return MultipleMatches(
            "The external ID matches more than one record.",
            error_code="MULTIPLE_CHOICES",
            status=status,
            content=content,
        )
    if entries:
        first = entries[0]
        return api_error(
            first.get("errorCode") or first.get("statusCode"),
            str(first.get("message") or ""),
            status=status,
            fields=first.get("fields") or (),
            content=content,
        )
    return api_error(None, f"Salesforce answered HTTP {status}.", status=status, content=content)


def _record_error(entry: Mapping[str, Any], index: int) -> ApiError:
    # Collections say "statusCode" where the rest of the REST API says "errorCode".
    return api_error(
        entry.get("statusCode") or entry.get("errorCode"),
        str(entry.get("message") or ""),
        fields=entry.get("fields") or (),
        index=index,
    )


def _with_index(error: ApiError, index: int) -> ApiError:
    return api_error(
        error.error_code,
        error.message,
        status=error.status,
        fields=error.fields,
        index=index,
    )


def _field_value(record: Mapping[str, Any], field: str) -> Any:
    """``record[field]``, matching the name case-insensitively (answers use canonical case)."""
    if field in record:
        return record[field]
    lowered = field.lower()
    for name, value in record.items():
        if name.lower() == lowered:
            return value
    return None


def _api_version(version: str) -> str:
    version = version.removeprefix("v")
    if not re.fullmatch(r"\d{2,3}\.\d", version):
        raise ValueError(f"Not a Salesforce API version: {version!r}")
    return version


def _default_timeout() -> Timeout:
    value = conf.get("TIMEOUT")
    if isinstance(value, list | tuple):
        connect, read = value
        return (float(connect), float(read))
    return float(value)


class SalesforceClient:
    """The one door to Salesforce's REST API for one connection.

    ``api_calls`` counts the calls this instance made the way Salesforce counts them (a
    ``/composite`` request once, each queryMore page once; OAuth and 401 answers not at all).
    ``api_usage`` is ``(used, max)`` from the latest ``Sforce-Limit-Info`` header.

    ``on_api_call`` (optional) is called with ``1`` for each counted call, as it happens: the
    connection uses it for its per-day counter. It runs inside the HTTP call, so it must be quick;
    its exceptions are logged and swallowed (a counter must never fail a call that succeeded).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        ca_file: str | None = None,
        session: requests.Session | None = None,
        on_api_call: Callable[[int], None] | None = None,
        timeout: Timeout | None = None,
    ) -> None:
        self._credentials = credentials
        self._on_api_call = on_api_call
        self._lock = threading.Lock()
        self.api_calls = 0
        self.api_usage: tuple[int, int] | None = None
        self._version = _api_version(credentials.api_version)
        self._session = build_session(
            ca_file=ca_file if ca_file is not None else conf.get("CA_FILE"),
            timeout=timeout if timeout is not None else _default_timeout(),
            observer=self._observe,
            session=session,
        )
        self._instance_url = ""
        self._simple: Salesforce | None = None
        self._describe: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<SalesforceClient {self._credentials.connection_key}>"

    @property
    def connection_key(self) -> str:
        return self._credentials.connection_key

    # --- plumbing ------------------------------------------------------------------------

    def _observe(self, info: ResponseInfo) -> None:
        if info.counted:
            with self._lock:
                self.api_calls += 1
            if self._on_api_call is not None:
                try:
                    self._on_api_call(1)
                except Exception:
                    logger.exception("API call counter hook failed for %s", self.connection_key)
        if info.api_usage is not None:
            self.api_usage = info.api_usage
            try:
                self._credentials.record_api_usage(*info.api_usage)
            except Exception:
                logger.exception("Recording API usage failed for %s", self.connection_key)

    def _sf(self) -> Salesforce:
        """simple-salesforce bound to the current instance URL (a refresh may move it)."""
        instance_url = self._credentials.instance_url
        if self._simple is None or instance_url != self._instance_url:
            if not instance_url.startswith("https://"):
                raise ValueError("Salesforce's API is only reachable over https://")
            # The session id given here is never used: every call sends its own Authorization
            # header with the token current at that moment (see _call).
            self._simple = Salesforce(
                instance_url=instance_url,
                session_id="unused",  # noqa: S106
                version=self._version,
                session=self._session,
                object_pairs_hook=dict,
            )
            self._instance_url = instance_url
        return self._simple

    def _sobject(self, sobject: str) -> SFType:
        sf = self._sf()
        return SFType(
            _sobject_name(sobject),
            "unused",
            sf.sf_instance,
            sf_version=self._version,
            session=self._session,
            salesforce=sf,
            object_pairs_hook=dict,
        )

    def _translate(
        self,
        error: SimpleSalesforceError | requests.RequestException,
        operation: str,
        idempotent: bool,
    ) -> Exception:
        if isinstance(error, SimpleSalesforceError):
            return error_from_response(error.status, error.content)
        error = classify_transport_error(error)
        if isinstance(error, TLSVerificationError):
            return TLSVerificationFailed(
                "The Salesforce server's TLS certificate is not trusted (check CA_FILE)."
            )
        if isinstance(error, RequestNotSent):
            return NetworkError("Could not connect to Salesforce.", error_code="CONNECTION_FAILED")
        if isinstance(error, ResponseLost) and not idempotent:
            return OutcomeUnknown(
                f"{operation} was sent to Salesforce but its answer was lost; "
                "look the record up before trying again."
            )
        if isinstance(error, ResponseLost):
            return NetworkError("Salesforce's answer was lost.", error_code="RESPONSE_LOST")
        return NetworkError(
            f"HTTP failure talking to Salesforce ({type(error).__name__}).",
            error_code="HTTP_FAILURE",
        )

    def _attempt(
        self, operation: str, send: Callable[[dict[str, str]], T], token: str, idempotent: bool
    ) -> T:
        try:
            return send({"Authorization": f"Bearer {token}"})
        except (SimpleSalesforceError, requests.RequestException) as error:
            raise self._translate(error, operation, idempotent) from error

    def _call(self, operation: str, send: Callable[[dict[str, str]], T], *, idempotent: bool) -> T:
        """Run ``send(headers)``: refresh once on an expired session, retry transient failures."""
        max_retries = int(conf.get("MAX_RETRIES"))
        retries = 0
        refreshed = False
        while True:
            token = self._credentials.access_token
            try:
                return self._attempt(operation, send, token, idempotent)
            except SessionExpired:
                if refreshed:
                    logger.warning(
                        "%s: session still rejected after a refresh (%s)",
                        operation,
                        self.connection_key,
                    )
                    raise
                logger.info("%s: session expired; refreshing (%s)", operation, self.connection_key)
                try:
                    self._credentials.refresh(token)
                except ReauthorizationRequired:
                    logger.warning("Connection %s needs re-authorisation", self.connection_key)
                    raise
                refreshed = True
            except TransientError as error:
                if retries >= max_retries:
                    logger.warning(
                        "%s: giving up after %d attempts (%s, %s)",
                        operation,
                        retries + 1,
                        error.error_code,
                        self.connection_key,
                    )
                    raise
                retries += 1
                delay = self._backoff(retries)
                logger.info(
                    "%s: %s; retry %d of %d in %.2f s (%s)",
                    operation,
                    error.error_code,
                    retries,
                    max_retries,
                    delay,
                    self.connection_key,
                )
                time.sleep(delay)

    @staticmethod
    def _backoff(retry: int) -> float:
        """Exponential backoff with full jitter, capped."""
        base = float(conf.get("RETRY_BACKOFF_SECONDS"))
        cap = float(conf.get("RETRY_BACKOFF_MAX_SECONDS"))
        return secrets.SystemRandom().uniform(0.0, min(cap, base * 2 ** (retry - 1)))

    def _rest(
        self,
        operation: str,
        path: str,
        *,
        method: str = "GET",
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        """A call to ``/services/data/vNN.N/{path}`` answering JSON (None for 204)."""

        def send(headers: dict[str, str]) -> Any:
            return self._sf().restful(path, method=method, headers=headers, **kwargs)

        return self._call(operation, send, idempotent=idempotent)

    # --- metadata ------------------------------------------------------------------------

    def describe_global(self) -> dict[str, Any]:
        return self._rest("describe_global", "sobjects") or {}

    def describe(self, sobject: str) -> dict[str, Any]:
        """The sObject's describe, cached per client and (for a few minutes) per process."""
        sobject = _sobject_name(sobject)
        if sobject in self._describe:
            return self._describe[sobject]
        key = (self._credentials.instance_url, self._version, sobject)
        now = time.monotonic()
        with _describe_cache_lock:
            cached = _describe_cache.get(key)
        if cached is not None and now - cached[0] < DESCRIBE_CACHE_SECONDS:
            result = cached[1]
        else:
            result = self._rest("describe", f"sobjects/{sobject}/describe") or {}
            with _describe_cache_lock:
                _describe_cache[key] = (now, result)
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

    def limits(self) -> dict[str, Any]:
        return self._rest("limits", "limits") or {}

    # --- queries -------------------------------------------------------------------------

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """The first page of a SOQL query (``totalSize``, ``done``, ``records``, ...)."""

        def send(headers: dict[str, str]) -> Any:
            return self._sf().query(soql, include_deleted=include_deleted, headers=headers)

        return self._call("query", send, idempotent=True)

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        """The page at a ``nextRecordsUrl``."""
        if not next_records_url.startswith("/services/data/"):
            raise ValueError(f"Not a nextRecordsUrl: {next_records_url!r}")

        def send(headers: dict[str, str]) -> Any:
            return self._sf().query_more(next_records_url, identifier_is_url=True, headers=headers)

        return self._call("query_more", send, idempotent=True)

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
        sobject = _sobject_name(sobject)
        if not _SOBJECT_NAME.fullmatch(field):
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
            if not _REFERENCE_ID.fullmatch(reference):
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
                        "url": f"/services/data/v{self._version}/{resource}?"
                        + urlencode({"q": soql}),
                        "referenceId": reference,
                    }
                    for reference, soql in chunk
                ],
            }
            answer = self._rest("composite_query", "composite", method="POST", json=body) or {}
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
        sobject = _sobject_name(sobject)
        record_id = _record_id(record_id)
        params = {"fields": ",".join(soql_identifier(f) for f in fields)} if fields else None

        def send(headers: dict[str, str]) -> Any:
            return self._sobject(sobject).get(record_id, headers=headers, params=params)

        return self._call(f"get {sobject}", send, idempotent=True)

    def create(self, sobject: str, data: Mapping[str, Any]) -> str:
        """Create one record and return its Id; OutcomeUnknown if the answer was lost."""
        sobject = _sobject_name(sobject)
        payload = dict(data)

        def send(headers: dict[str, str]) -> Any:
            return self._sobject(sobject).create(payload, headers=headers)

        result = self._call(f"create {sobject}", send, idempotent=False)
        logger.info("Created %s %s (%s)", sobject, result.get("id"), self.connection_key)
        return str(result["id"])

    def update(self, sobject: str, record_id: str, data: Mapping[str, Any]) -> None:
        sobject = _sobject_name(sobject)
        record_id = _record_id(record_id)
        payload = dict(data)

        def send(headers: dict[str, str]) -> Any:
            return self._sobject(sobject).update(record_id, payload, headers=headers)

        self._call(f"update {sobject}", send, idempotent=True)

    def upsert(
        self, sobject: str, ext_field: str, ext_value: str, data: Mapping[str, Any]
    ) -> UpsertResult:
        """Create or update the record whose ``ext_field`` is ``ext_value``.

        MultipleMatches (HTTP 300) when several records carry that value.
        """
        sobject = _sobject_name(sobject)
        if not _SOBJECT_NAME.fullmatch(ext_field):
            raise ValueError(f"Not a valid external ID field: {ext_field!r}")
        if not ext_value:
            raise ValueError("An upsert needs a non-empty external ID value")
        path = f"{ext_field}/{quote(ext_value, safe='')}"
        payload = dict(data)

        def send(headers: dict[str, str]) -> Any:
            return self._sobject(sobject).upsert(path, payload, raw_response=True, headers=headers)

        response: requests.Response = self._call(f"upsert {sobject}", send, idempotent=True)
        body = response.json() if response.content else {}
        created = bool(body.get("created", response.status_code == 201))
        record_id = body.get("id")
        if not record_id:
            # Before API v46 an update answered 204 with no body: ask for the Id.
            def fetch(headers: dict[str, str]) -> Any:
                return self._sobject(sobject).get(path, headers=headers, params={"fields": "Id"})

            record_id = self._call(f"get {sobject} by {ext_field}", fetch, idempotent=True)["Id"]
        return UpsertResult(id=str(record_id), created=created)

    def delete(self, sobject: str, record_id: str) -> None:
        sobject = _sobject_name(sobject)
        record_id = _record_id(record_id)

        def send(headers: dict[str, str]) -> Any:
            return self._sobject(sobject).delete(record_id, headers=headers)

        self._call(f"delete {sobject}", send, idempotent=True)

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
        _check_update_records(records)
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
        _check_upsert_records(ext_field, records)
        return self._collection(
            sobject,
            records,
            method="PATCH",
            path=f"composite/sobjects/{_sobject_name(sobject)}/{ext_field}",
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
        sobject = _sobject_name(sobject)
        operation = f"collection {method} {sobject}"
        results: list[RecordResult] = []
        stop_error: ApiError | None = None
        for start in range(0, len(records), COLLECTION_CHUNK_SIZE):
            chunk = records[start : start + COLLECTION_CHUNK_SIZE]
            if stop_error is not None:
                results.extend(_failed_records(start, len(chunk), stop_error))
                continue
            body = _collection_body(sobject, chunk)
            try:
                answer = self._rest(
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
                results.extend(_failed_records(start, len(chunk), error))
                if _stops_the_batch(error):
                    stop_error = error  # the limit or a permission: later chunks would fail too
                continue
            if not isinstance(answer, list) or len(answer) != len(chunk):
                raise ApiError(
                    f"{operation}: expected {len(chunk)} results from Salesforce.",
                    error_code="UNEXPECTED_RESPONSE",
                )
            results.extend(_record_results(answer, start, creates=method == "POST"))
        _log_failures(operation, results)
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
                answer = self._rest(
                    "composite collections",
                    "composite",
                    method="POST",
                    # A lost answer to creates must not be repeated: they may have been saved.
                    idempotent=all(piece.write.operation != "create" for piece in batch),
                    json={
                        "allOrNone": False,
                        "compositeRequest": [piece.subrequest(self._version) for piece in batch],
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
            _log_failures(f"composite collection {write.operation} {write.sobject}", write_results)
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
            self,
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
        return _failed_records(self.start, len(self.records), error)

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
        return _record_results(body, self.start, creates=self.write.operation == "create")
