"""The REST API under ``/services/data/vNN.N/``: sObjects, SOQL paging, collections, composite.

Pure request -> response logic over the engine's :class:`~.engine.Org`; :mod:`server` does the
HTTP framing, authentication, API-call counting and faults. Error bodies are always Salesforce's
JSON array shape; sObject Collections use ``statusCode`` where everything else says ``errorCode``.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import ids
from .errors import SfApiError, api_error
from .orgfile import PicklistValue
from .responses import ApiResponse, error_response, not_found_response

if TYPE_CHECKING:
    from .bulk import BulkApi
    from .engine import Org, QueryResult

MIN_API_VERSION = 20.0
LATEST_LISTED_API_VERSION = 66
DEFAULT_QUERY_BATCH = 2000
MIN_QUERY_BATCH = 200
CURSOR_IDLE_SECONDS = 15 * 60
MAX_OPEN_CURSORS = 200
COLLECTION_LIMIT = 200
TOO_MANY_RECORDS = "record limit reached. cannot submit more than 200 records into this call"
COMPOSITE_LIMIT = 25
COMPOSITE_QUERY_LIMIT = 5
BATCH_LIMIT = 25

_VERSION_PATH = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_HEAVY_SUBREQUEST = re.compile(r"/(query|queryAll|composite/sobjects)(/|\?|$)")
_CURSOR = re.compile(r"^(01g[0-9A-Za-z]{15})-(\d+)$")


def release_label(version: int) -> str:
    """Salesforce's release name for a major API version (v20 = Winter '11, three a year)."""
    steps = version - 20
    season = ("Winter", "Spring", "Summer")[steps % 3]
    return f"{season} '{11 + steps // 3:02d}"


def parse_api_version(path: str) -> tuple[str, str] | None:
    """``('62.0', '/sobjects/Lead')`` for an API path, or None when it is not one."""
    match = _VERSION_PATH.match(path)
    if match is None:
        return None
    return match.group(1), (match.group(2) or "/")


def versions_listing() -> list[dict[str, str]]:
    return [
        {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
        for v in range(int(MIN_API_VERSION), LATEST_LISTED_API_VERSION + 1)
    ]


def parse_datetime_param(value: str | None, name: str) -> datetime:
    if not value:
        raise api_error(400, "MISSING_ARGUMENT", f"{name} is a required parameter")
    text = value.strip().replace(" ", "+")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise api_error(
            400, "INVALID_FIELD", f"{name}: invalid date/time format: {value}"
        ) from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by name, whatever its case (subrequests keep the caller's case)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Wed, 3 Jul 2013 19:43:31 GMT``) as an aware datetime; None if not one."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _picklist_value(raw: Any) -> PicklistValue:
    if isinstance(raw, str) and raw:
        return PicklistValue(raw, raw)
    if isinstance(raw, dict) and isinstance(raw.get("value"), str) and raw["value"]:
        label = raw.get("label", raw["value"])
        active, default = raw.get("active", True), raw.get("default", False)
        if isinstance(label, str) and isinstance(active, bool) and isinstance(default, bool):
            return PicklistValue(raw["value"], label, active, default)
    raise api_error(400, "JSON_PARSER_ERROR",
                    f"A picklist value is a string or {{value, label, active, default}}: {raw!r}")


class UndoLog:
    """Compensating actions for allOrNone: run newest first to put the org back as it was."""

    def __init__(self) -> None:
        self._actions: list[Callable[[], None]] = []

    def add(self, action: Callable[[], None]) -> None:
        self._actions.append(action)

    def rollback(self) -> None:
        for action in reversed(self._actions):
            try:
                action()
            except SfApiError:  # best effort: a record may already be gone
                continue
        self._actions.clear()


@dataclass
class _Cursor:
    result: QueryResult
    batch_size: int
    last_used: float


@dataclass
class _Call:
    """One REST call being answered (also used for composite/batch subrequests)."""

    method: str
    version: str
    route: str  # path after /services/data/vNN.N, without a trailing slash
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    user_id: str
    undo: UndoLog | None = None
    json_body: Any = None
    limits: Mapping[str, int] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        if self.json_body is not None:
            return self.json_body
        if not self.body:
            raise api_error(400, "JSON_PARSER_ERROR", "The request body is empty.")
        try:
            self.json_body = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise api_error(
                400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {error}"
            ) from error
        return self.json_body


class RestApi:
    """Answers REST calls for one org."""

    def __init__(self, org: Org, bulk: BulkApi | None = None) -> None:
        self.org = org
        self.bulk = bulk
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._cursor_lock = threading.Lock()
        self._cursor_ids = itertools.count(1)

    def reset(self) -> None:
        with self._cursor_lock:
            self._cursors.clear()

    # -- entry points ---------------------------------------------------------------------------
    def call_cost(self, method: str, route: str, body: bytes) -> int:
        """How many API calls this request spends: composite counts once, batch per subrequest."""
        if method == "POST" and route.rstrip("/") == "/composite/batch":
            try:
                requests = json.loads(body).get("batchRequests")
            except (ValueError, AttributeError, UnicodeDecodeError):
                return 1
            if isinstance(requests, list) and requests:
                return len(requests)
        return 1

    def handle(
        self,
        method: str,
        version: str,
        route: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        user_id: str,
        limits: Mapping[str, int] | None = None,
    ) -> ApiResponse:
        call = _Call(method, version, route.rstrip("/") or "/", query, headers, body, user_id,
                     limits=limits or {})
        try:
            return self._dispatch(call)
        except SfApiError as error:
            return error_response(error)

    # -- routing --------------------------------------------------------------------------------
    def _dispatch(self, call: _Call) -> ApiResponse:
        parts = [urllib.parse.unquote(p) for p in call.route.strip("/").split("/") if p]
        method = call.method
        if not parts:
            return self._only(method, "GET") or ApiResponse(200, self._resources(call.version))
        head = parts[0]
        if head == "sobjects":
            return self._sobjects(call, parts[1:])
        if head in ("query", "queryAll"):
            return self._query_route(call, head == "queryAll", parts[1:])
        if head == "composite":
            return self._composite_route(call, parts[1:])
        if head == "limits" and len(parts) == 1:
            return self._only(method, "GET") or ApiResponse(200, self._limits_payload(call))
        if head == "jobs" and self.bulk is not None and len(parts) >= 2:
            return self.bulk.handle(call.method, call.version, parts[1:], call.query,
                                    call.headers, call.body, call.user_id)
        if head == "ui-api":
            return self._ui_api(call, parts[1:])
        if parts == ["sandbox", "convertLead"]:
            return self._only(method, "POST") or self.convert_lead(call.json())
        raise api_error(404, "NOT_FOUND", "The requested resource does not exist")

    @staticmethod
    def _only(method: str, *allowed: str) -> ApiResponse | None:
        if method in allowed:
            return None
        message = f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}"
        return ApiResponse(405, [{"message": message, "errorCode": "METHOD_NOT_ALLOWED"}])

    def _resources(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}"
        names = ["sobjects", "query", "queryAll", "composite", "limits", "jobs/ingest",
                 "jobs/query"]
        return {name.replace("/", ""): f"{base}/{name}" for name in names} | {
            "jobs": f"{base}/jobs"
        }

    @staticmethod
    def _limits_payload(call: _Call) -> dict[str, Any]:
        maximum = int(call.limits.get("max", 0))
        used = int(call.limits.get("used", 0))

        def limit(cap: int, left: int | None = None) -> dict[str, int]:
            return {"Max": cap, "Remaining": cap if left is None else left}

        return {
            "DailyApiRequests": limit(maximum, max(0, maximum - used)),
            "ConcurrentAsyncGetReportInstances": limit(200),
            "DailyAsyncApexExecutions": limit(250000),
            "DailyBulkV2QueryFileStorageMB": limit(976562),
            "DailyBulkV2QueryJobs": limit(10000),
            "DailyBulkApiBatches": limit(15000),
            "DataStorageMB": limit(1024),
            "FileStorageMB": limit(1024),
            "HourlyODataCallout": limit(10000),
            "SingleEmail": limit(5000),
        }

    # -- User Interface API ---------------------------------------------------------------------
    def _ui_api(self, call: _Call, parts: list[str]) -> ApiResponse:
        """``ui-api/object-info/{object}/picklist-values/{recordTypeId}`` (API 42.0 and later):
        the values each picklist offers on that record type. The rest of the UI API is not
        played."""
        if (
            len(parts) == 4
            and parts[0] == "object-info"
            and parts[2] == "picklist-values"
            and float(call.version) >= 42.0
        ):
            if blocked := self._only(call.method, "GET"):
                return blocked
            sobject = self.org.sobject_name(parts[1])
            return ApiResponse(
                200, self.org.picklist_values_by_record_type(sobject, parts[3], call.version)
            )
        raise api_error(404, "NOT_FOUND", "The requested resource does not exist")

    # -- sObjects -------------------------------------------------------------------------------
    def _sobjects(self, call: _Call, parts: list[str]) -> ApiResponse:
        method = call.method
        if not parts:
            return self._only(method, "GET") or self._describe(call, None)
        sobject = self.org.sobject_name(parts[0])
        if len(parts) == 1:
            if method == "POST":
                return self.create(call, sobject, call.json())
            return self._only(method, "GET") or ApiResponse(200, self._basic_info(call, sobject))
        second = parts[1]
        if len(parts) == 2 and second == "describe":
            return self._only(method, "GET") or self._describe(call, sobject)
        if len(parts) == 2 and second in ("updated", "deleted"):
            if blocked := self._only(method, "GET"):
                return blocked
            start = parse_datetime_param(call.param("start"), "start")
            end = parse_datetime_param(call.param("end"), "end")
            if second == "updated":
                return ApiResponse(200, self.org.updated(sobject, start, end))
            return ApiResponse(200, self.org.deleted(sobject, start, end))
        if len(parts) == 2:
            record_id = second
            if method == "GET":
                fields = call.param("fields")
                wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
                return ApiResponse(200, self.org.get(sobject, record_id, wanted, call.version))
            if method == "PATCH":
                self.update(call, sobject, record_id, call.json())
                return ApiResponse(204)
            if method == "DELETE":
                self.delete(call, sobject, record_id)
                return ApiResponse(204)
            return self._only(method, "GET", "PATCH", "DELETE") or ApiResponse(405)
        if len(parts) == 3:
            field_name, value = parts[1], parts[2]
            if method == "PATCH":
                record_id, created = self.upsert(call, sobject, field_name, value, call.json())
                return self._upsert_response(call.version, record_id, created)
            if method == "GET":
                record_id = self._find_by_external_id(sobject, field_name, value, call.version)
                fields = call.param("fields")
                wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
                return ApiResponse(200, self.org.get(sobject, record_id, wanted, call.version))
            return self._only(method, "GET", "PATCH") or ApiResponse(405)
        raise api_error(404, "NOT_FOUND", "The requested resource does not exist")

    def _describe(self, call: _Call, sobject: str | None) -> ApiResponse:
        """An object's describe (the global one for None), or 304 with no body when
        ``If-Modified-Since`` is at or after the last change of that metadata (of any object's,
        for the global describe). Salesforce counts a 304 as an API call all the same."""
        changed = self.org.metadata_changed(sobject)
        headers = {"Last-Modified": email.utils.format_datetime(changed, usegmt=True)}
        since = _http_date(_header(call.headers, "If-Modified-Since"))
        if since is not None and since >= changed:
            return ApiResponse(304, headers=headers)
        if sobject is None:
            return ApiResponse(200, self.org.describe_global(call.version), headers=headers)
        return ApiResponse(200, self.org.describe(sobject, call.version), headers=headers)

    def _basic_info(self, call: _Call, sobject: str) -> dict[str, Any]:
        described = next(
            (entry for entry in self.org.describe_global().get("sobjects", [])
             if entry.get("name") == sobject),
            {"name": sobject},
        )
        fields = self.org.definition.objects[sobject].fields
        names = [n for n in ("Name", "FirstName", "LastName") if n in fields]
        order = "LastModifiedDate" if "LastModifiedDate" in fields else "Id"
        # Schema names only, no user text: safe to format. A query keeps 100k rows unmaterialised.
        soql = f"SELECT {', '.join(['Id', *names])} FROM {sobject} ORDER BY {order} DESC, Id DESC"  # noqa: S608
        rows = self.org.query(f"{soql} LIMIT 10", False, call.version).page(0, 10)
        recent = []
        for row in rows:
            name = row.get("Name") or " ".join(
                part for part in (row.get("FirstName"), row.get("LastName")) if part
            )
            recent.append(
                {
                    "attributes": {
                        "type": sobject,
                        "url": f"/services/data/v{call.version}/sobjects/{sobject}/{row['Id']}",
                    },
                    "Id": row["Id"],
                    "Name": name or None,
                }
            )
        return {"objectDescribe": described, "recentItems": recent}

    @staticmethod
    def _upsert_response(version: str, record_id: str, created: bool) -> ApiResponse:
        body: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
        if float(version) >= 46.0:
            body["created"] = created
            return ApiResponse(201 if created else 200, body)
        # Before v46 an update by upsert answered 204 No Content.
        return ApiResponse(201, body) if created else ApiResponse(204)

    def _find_by_external_id(self, sobject: str, field_name: str, value: str, version: str) -> str:
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        result = self.org.query(
            # The value is escaped; names were checked by sobject_name / the engine.
            f"SELECT Id FROM {sobject} WHERE {field_name} = '{escaped}'",  # noqa: S608
            False,
            version,
        )
        rows = result.page(0, 2)
        if result.total_size == 0:
            raise api_error(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {value}",
            )
        if result.total_size > 1:
            error = api_error(300, "MULTIPLE_CHOICES", "More than one record found")
            error.record_urls = [
                f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}"
                for row in result.page(0, result.total_size)
            ]
            raise error
        return rows[0]["Id"]

    # -- writes with undo ----------------------------------------------------------------------
    def create(self, call: _Call, sobject: str, values: Any) -> ApiResponse:
        record_id = self._create(call, sobject, values)
        location = f"/services/data/v{call.version}/sobjects/{sobject}/{record_id}"
        return ApiResponse(201, {"id": record_id, "success": True, "errors": []},
                           headers={"Location": location})

    def _create(self, call: _Call, sobject: str, values: Any) -> str:
        values = self._record_values(values)
        record_id = self.org.create(sobject, values)
        if call.undo is not None:
            call.undo.add(lambda: self.org.delete(sobject, record_id))
        return record_id

    def update(self, call: _Call, sobject: str, record_id: str, values: Any) -> None:
        values = self._record_values(values)
        if call.undo is not None and values:
            before = self.org.get(sobject, record_id, list(values), call.version)
            previous = {name: before.get(name) for name in values}
            self.org.update(sobject, record_id, values)
            call.undo.add(lambda: self.org.update(sobject, record_id, previous))
            return
        self.org.update(sobject, record_id, values)

    def delete(self, call: _Call, sobject: str, record_id: str) -> None:
        self.org.delete(sobject, record_id)

    def upsert(
        self, call: _Call, sobject: str, field_name: str, value: str, values: Any
    ) -> tuple[str, bool]:
        values = self._record_values(values)
        if call.undo is None:
            return self.org.upsert(sobject, field_name, value, values)
        previous: dict[str, Any] | None = None
        try:
            existing_id = self._find_by_external_id(sobject, field_name, value, call.version)
            before = self.org.get(sobject, existing_id, list(values), call.version)
            previous = {name: before.get(name) for name in values}
        except SfApiError:
            existing_id = None
        record_id, created = self.org.upsert(sobject, field_name, value, values)
        if created:
            call.undo.add(lambda: self.org.delete(sobject, record_id))
        elif previous is not None and existing_id is not None:
            restore = previous
            call.undo.add(lambda: self.org.update(sobject, record_id, restore))
        return record_id, created

    @staticmethod
    def _record_values(values: Any) -> dict[str, Any]:
        if not isinstance(values, dict):
            raise api_error(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
        return {name: value for name, value in values.items() if name != "attributes"}

    def convert_lead(self, body: Any) -> ApiResponse:
        if not isinstance(body, dict) or not body.get("leadId"):
            raise api_error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [leadId]",
                            ("leadId",))
        result = self.org.convert_lead(
            str(body["leadId"]),
            contact_id=body.get("contactId") or None,
            account_id=body.get("accountId") or None,
        )
        return ApiResponse(200, {"leadId": body["leadId"], "success": True, **result})

    def merge(self, body: Any) -> ApiResponse:
        """``{"masterRecordId", "recordToMergeIds": [...], "masterRecord"?: {field: value}}``
        (the names of SOAP's MergeRequest) -> SOAP's MergeResult as JSON."""
        if not isinstance(body, dict) or not isinstance(body.get("masterRecordId"), str):
            raise api_error(400, "REQUIRED_FIELD_MISSING",
                            "Required fields are missing: [masterRecordId]", ("masterRecordId",))
        merged = body.get("recordToMergeIds")
        if not isinstance(merged, list) or not all(isinstance(i, str) for i in merged):
            raise api_error(400, "REQUIRED_FIELD_MISSING",
                            "Required fields are missing: [recordToMergeIds]",
                            ("recordToMergeIds",))
        values = body.get("masterRecord") or {}
        if not isinstance(values, dict):
            raise api_error(400, "JSON_PARSER_ERROR", "masterRecord must be an object")
        result = self.org.merge(body["masterRecordId"], merged, values)
        return ApiResponse(200, result)

    def set_picklist_values(self, body: Any) -> ApiResponse:
        """``{"object", "field", "values": ["A", {"value", "label"?, "active"?, "default"?}],
        "restricted"?}`` -> 204; a metadata change (see ``Org.set_picklist_values``)."""
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key), str) for key in ("object", "field")
        ):
            raise api_error(400, "REQUIRED_FIELD_MISSING",
                            "Required fields are missing: [object, field]", ("object", "field"))
        raw_values = body.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            raise api_error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [values]",
                            ("values",))
        restricted = body.get("restricted")
        if restricted is not None and not isinstance(restricted, bool):
            raise api_error(400, "JSON_PARSER_ERROR", "restricted must be true or false")
        values = [_picklist_value(raw) for raw in raw_values]
        self.org.set_picklist_values(body["object"], body["field"], values,
                                     restricted=restricted)
        return ApiResponse(204)

    def set_object_permissions(self, body: Any) -> ApiResponse:
        """``{"object", "create"?, "edit"?}`` -> 204: the connected user's object permissions
        (see ``Org.set_object_permissions``)."""
        if not isinstance(body, dict) or not isinstance(body.get("object"), str):
            raise api_error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [object]",
                            ("object",))
        flags = {key: body.get(key) for key in ("create", "edit")}
        if any(value is not None and not isinstance(value, bool) for value in flags.values()):
            raise api_error(400, "JSON_PARSER_ERROR", "create and edit must be true or false")
        self.org.set_object_permissions(self.org.sobject_name(body["object"]), **flags)
        return ApiResponse(204)

    # -- SOQL -----------------------------------------------------------------------------------
    def _query_route(self, call: _Call, include_deleted: bool, parts: list[str]) -> ApiResponse:
        if blocked := self._only(call.method, "GET"):
            return blocked
        if parts:
            return self.query_more(call.version, parts[0])
        soql = call.param("q")
        if not soql:
            raise api_error(400, "MALFORMED_QUERY", "A query string (q) is required")
        return ApiResponse(200, self.query(soql, include_deleted, call.version, call.headers))

    def query(
        self,
        soql: str,
        include_deleted: bool,
        version: str,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        batch = self._batch_size((headers or {}).get("sforce-query-options"))
        result = self.org.query(soql, include_deleted, version)
        return self._page(result, 0, batch, version, None)

    @staticmethod
    def _batch_size(option: str | None) -> int:
        if not option:
            return DEFAULT_QUERY_BATCH
        match = re.search(r"batchSize\s*=\s*(\d+)", option, re.IGNORECASE)
        if match is None:
            return DEFAULT_QUERY_BATCH
        return max(MIN_QUERY_BATCH, min(DEFAULT_QUERY_BATCH, int(match.group(1))))

    def _page(
        self, result: QueryResult, start: int, batch: int, version: str, cursor_id: str | None
    ) -> dict[str, Any]:
        records = result.page(start, batch)
        end = start + len(records)
        payload: dict[str, Any] = {"totalSize": result.total_size, "done": end >= result.total_size}
        if end < result.total_size and records:
            with self._cursor_lock:
                if cursor_id is None:
                    cursor_id = ids.make_id("01g", next(self._cursor_ids))
                self._cursors[cursor_id] = _Cursor(result, batch, time.monotonic())
                self._cursors.move_to_end(cursor_id)
                while len(self._cursors) > MAX_OPEN_CURSORS:
                    self._cursors.popitem(last=False)
            payload["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor_id}-{end}"
        elif cursor_id is not None:
            with self._cursor_lock:
                self._cursors.pop(cursor_id, None)
        else:
            payload["done"] = True
        payload["records"] = records
        return payload

    def query_more(self, version: str, locator: str) -> ApiResponse:
        match = _CURSOR.match(locator)
        now = time.monotonic()
        with self._cursor_lock:
            stale = [k for k, c in self._cursors.items() if now - c.last_used > CURSOR_IDLE_SECONDS]
            for cursor_id in stale:
                del self._cursors[cursor_id]
            cursor = self._cursors.get(match.group(1)) if match else None
        if match is None or cursor is None:
            raise api_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        start = int(match.group(2))
        return ApiResponse(200, self._page(cursor.result, start, cursor.batch_size, version,
                                           match.group(1)))

    def expire_cursors(self) -> None:
        """End every open query cursor now, as if it had been idle for 15 minutes."""
        with self._cursor_lock:
            self._cursors.clear()

    # -- collections ---------------------------------------------------------------------------
    def _composite_route(self, call: _Call, parts: list[str]) -> ApiResponse:
        if not parts:
            return self._only(call.method, "POST") or self.composite(call)
        if parts == ["batch"]:
            return self._only(call.method, "POST") or self.batch(call)
        if parts[0] != "sobjects":
            raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1:
            if call.method in ("POST", "PATCH"):
                return self.collection_write(call)
            if call.method == "DELETE":
                return self.collection_delete(call)
            return self._only(call.method, "POST", "PATCH", "DELETE") or ApiResponse(405)
        sobject = self.org.sobject_name(parts[1])
        if len(parts) == 2:
            if call.method in ("GET", "POST"):
                return self.collection_get(call, sobject)
            return self._only(call.method, "GET", "POST") or ApiResponse(405)
        if len(parts) == 3 and call.method == "PATCH":
            return self.collection_upsert(call, sobject, parts[2])
        return self._only(call.method, "PATCH") or not_found_response()

    def _collection_body(self, call: _Call) -> tuple[list[Any], bool]:
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise api_error(400, "JSON_PARSER_ERROR", "Expected {\"records\": [...]} in the body")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise api_error(400, "EXCEEDED_ID_LIMIT", TOO_MANY_RECORDS)
        return records, bool(body.get("allOrNone", False))

    @staticmethod
    def _failure(error: SfApiError, record_id: str | None = None) -> dict[str, Any]:
        return {
            "id": record_id,
            "success": False,
            "errors": [
                {"statusCode": error.error_code, "message": error.message,
                 "fields": list(error.fields)}
            ],
        }

    @staticmethod
    def _rolled_back(record_id: str | None = None) -> dict[str, Any]:
        return {
            "id": record_id,
            "success": False,
            "errors": [
                {
                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "message": "Record rolled back because not all records were valid and the "
                    "request was using AllOrNone header",
                    "fields": [],
                }
            ],
        }

    def _run_collection(
        self,
        call: _Call,
        items: list[Any],
        all_or_none: bool,
        operation: Callable[[_Call, Any], dict[str, Any]],
    ) -> ApiResponse:
        undo = UndoLog() if all_or_none else None
        inner = _Call(call.method, call.version, call.route, call.query, call.headers, b"",
                      call.user_id, undo=undo or call.undo, limits=call.limits)
        results: list[dict[str, Any]] = []
        failed = False
        for item in items:
            try:
                results.append(operation(inner, item))
            except SfApiError as error:
                failed = True
                results.append(self._failure(error, _record_id_of(item)))
        if all_or_none and failed and undo is not None:
            undo.rollback()
            results = [
                self._rolled_back(_record_id_of(item)) if result["success"] else result
                for item, result in zip(items, results, strict=True)
            ]
        elif call.undo is not None and undo is not None:
            # Nested inside a composite allOrNone: let the outer log undo our work too.
            call.undo.add(undo.rollback)
        return ApiResponse(200, results)

    def _typed(self, record: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(record, dict):
            raise api_error(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = record.get("attributes")
        if not isinstance(attributes, dict) or not attributes.get("type"):
            raise api_error(400, "INVALID_TYPE", "Must specify a type in the attributes field")
        return self.org.sobject_name(str(attributes["type"])), record

    def collection_write(self, call: _Call) -> ApiResponse:
        records, all_or_none = self._collection_body(call)

        def write(inner: _Call, record: Any) -> dict[str, Any]:
            sobject, values = self._typed(record)
            if inner.method == "POST":
                if values.get("id") or values.get("Id"):
                    raise api_error(400, "INVALID_FIELD",
                                    "cannot specify Id in an insert call", ("Id",))
                created_id = self._create(inner, sobject, values)
                return {"id": created_id, "success": True, "errors": []}
            record_id = values.get("Id") or values.get("id")
            if not record_id:
                raise api_error(400, "MISSING_ARGUMENT", "Id not specified in an update call")
            changes = {k: v for k, v in values.items() if k not in ("Id", "id")}
            self.update(inner, sobject, str(record_id), changes)
            return {"id": str(record_id), "success": True, "errors": []}

        return self._run_collection(call, records, all_or_none, write)

    def collection_upsert(self, call: _Call, sobject: str, field_name: str) -> ApiResponse:
        records, all_or_none = self._collection_body(call)

        def write(inner: _Call, record: Any) -> dict[str, Any]:
            record_type, values = self._typed(record)
            if record_type != sobject:
                raise api_error(400, "INVALID_TYPE", f"Record type must be {sobject}")
            matched = next((k for k in values if k.lower() == field_name.lower()), None)
            if matched is None or values.get(matched) in (None, ""):
                raise api_error(400, "MISSING_ARGUMENT",
                                f"{field_name} not specified", (field_name,))
            key = str(values[matched])
            changes = {k: v for k, v in values.items() if k != matched}
            record_id, created = self.upsert(inner, sobject, field_name, key, changes)
            return {"id": record_id, "success": True, "errors": [], "created": created}

        return self._run_collection(call, records, all_or_none, write)

    def _sobject_for_id(self, record_id: str) -> str:
        sobject = self.org.sobject_for_id(record_id)
        if sobject is None:
            raise api_error(400, "MALFORMED_ID", f"malformed id {record_id}")
        return sobject

    def collection_delete(self, call: _Call) -> ApiResponse:
        id_list = [v for v in (call.param("ids") or "").split(",") if v]
        if not id_list:
            raise api_error(400, "MISSING_ARGUMENT", "ids is a required parameter")
        if len(id_list) > COLLECTION_LIMIT:
            raise api_error(400, "EXCEEDED_ID_LIMIT", TOO_MANY_RECORDS)
        all_or_none = (call.param("allOrNone") or "").lower() == "true"
        if all_or_none:
            # Deletes cannot be undone here, so check every record first and delete none on error.
            problems: dict[int, SfApiError] = {}
            for index, record_id in enumerate(id_list):
                try:
                    self.org.get(self._sobject_for_id(record_id), record_id, ["Id"], call.version)
                except SfApiError as error:
                    problems[index] = error
            if problems:
                return ApiResponse(200, [
                    self._failure(problems[i], rid) if i in problems else self._rolled_back(rid)
                    for i, rid in enumerate(id_list)
                ])

        def remove(inner: _Call, record_id: Any) -> dict[str, Any]:
            self.delete(inner, self._sobject_for_id(str(record_id)), str(record_id))
            return {"id": record_id, "success": True, "errors": []}

        return self._run_collection(call, id_list, False, remove)

    def collection_get(self, call: _Call, sobject: str) -> ApiResponse:
        if call.method == "POST":
            body = call.json()
            id_list = body.get("ids", []) if isinstance(body, dict) else []
            fields = body.get("fields", []) if isinstance(body, dict) else []
        else:
            id_list = [v for v in (call.param("ids") or "").split(",") if v]
            fields = [v for v in (call.param("fields") or "").split(",") if v]
        if not id_list or not fields:
            raise api_error(400, "MISSING_ARGUMENT", "ids and fields are required parameters")
        if len(id_list) > 2000:
            raise api_error(400, "EXCEEDED_ID_LIMIT", "record limit reached: 2000")
        records: list[dict[str, Any] | None] = []
        for record_id in id_list:
            try:
                records.append(self.org.get(sobject, str(record_id), fields, call.version))
            except SfApiError as error:
                if error.status != 404:
                    raise
                records.append(None)
        return ApiResponse(200, records)

    # -- composite ------------------------------------------------------------------------------
    def composite(self, call: _Call) -> ApiResponse:
        body = call.json()
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise api_error(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty list")
        if len(subrequests) > COMPOSITE_LIMIT:
            raise api_error(
                400, "LIMIT_EXCEEDED",
                f"Composite request limit exceeded: at most {COMPOSITE_LIMIT} subrequests",
            )
        heavy = sum(
            1 for sub in subrequests
            if isinstance(sub, dict) and _HEAVY_SUBREQUEST.search(str(sub.get("url", "")))
        )
        if heavy > COMPOSITE_QUERY_LIMIT:
            raise api_error(400, "LIMIT_EXCEEDED",
                            "Composite request limit exceeded: at most 5 query or sObject "
                            "Collections subrequests")
        all_or_none = bool(body.get("allOrNone", False))
        undo = UndoLog()
        references: dict[str, Any] = {}
        failed_refs: set[str] = set()
        responses: list[dict[str, Any]] = []
        halted = False
        for sub in subrequests:
            reference_id = str(sub.get("referenceId", "")) if isinstance(sub, dict) else ""
            if halted:
                responses.append(self._halted(reference_id))
                continue
            try:
                response = self._run_subrequest(call, sub, references, failed_refs,
                                                undo if all_or_none else None)
            except SfApiError as error:
                response = error_response(error)
            ok = response.status < 400
            payload = response.payload if response.status != 204 else None
            responses.append({
                "body": payload,
                "httpHeaders": response.headers,
                "httpStatusCode": response.status,
                "referenceId": reference_id,
            })
            if ok:
                references[reference_id] = payload
            else:
                failed_refs.add(reference_id)
                if all_or_none:
                    halted = True
        if halted:
            undo.rollback()
            for entry in responses:
                if entry["httpStatusCode"] < 400:
                    entry.update(self._halted(entry["referenceId"]))
        return ApiResponse(200, {"compositeResponse": responses})

    @staticmethod
    def _halted(reference_id: str) -> dict[str, Any]:
        return {
            "body": [{"errorCode": "PROCESSING_HALTED",
                      "message": "The transaction was rolled back since another operation in "
                      "the same transaction failed."}],
            "httpHeaders": {},
            "httpStatusCode": 400,
            "referenceId": reference_id,
        }

    def _run_subrequest(
        self,
        call: _Call,
        sub: Any,
        references: dict[str, Any],
        failed_refs: set[str],
        undo: UndoLog | None,
    ) -> ApiResponse:
        if not isinstance(sub, dict) or not sub.get("url") or not sub.get("method"):
            raise api_error(400, "JSON_PARSER_ERROR",
                            "Each subrequest needs method, url and referenceId")
        url = _resolve_references(str(sub["url"]), references, failed_refs, url_encode=True)
        body = sub.get("body")
        if body is not None:
            body = _resolve_references(body, references, failed_refs, url_encode=False)
        return self._internal(call, str(sub["method"]).upper(), url, body,
                              sub.get("httpHeaders") or {}, undo)

    def _internal(
        self,
        call: _Call,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
        undo: UndoLog | None,
    ) -> ApiResponse:
        split = urllib.parse.urlsplit(url)
        path = split.path
        if not path.startswith("/services/data/"):
            path = "/services/data/" + path.lstrip("/")
        parsed = parse_api_version(path)
        if parsed is None:
            raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
        version, route = parsed
        if float(version) < MIN_API_VERSION:
            raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
        if route.rstrip("/") in ("/composite", "/composite/batch"):
            raise api_error(400, "INVALID_API_INPUT", "Composite requests cannot be nested")
        sub = _Call(
            method, version, route.rstrip("/") or "/", urllib.parse.parse_qs(split.query),
            {k.lower(): str(v) for k, v in dict(headers).items()},
            b"", call.user_id, undo=undo, json_body=body, limits=call.limits,
        )
        try:
            return self._dispatch(sub)
        except SfApiError as error:
            return error_response(error)

    def batch(self, call: _Call) -> ApiResponse:
        body = call.json()
        subrequests = body.get("batchRequests") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise api_error(400, "JSON_PARSER_ERROR", "batchRequests must be a non-empty list")
        if len(subrequests) > BATCH_LIMIT:
            raise api_error(400, "LIMIT_EXCEEDED",
                            f"Batch request limit exceeded: at most {BATCH_LIMIT} subrequests")
        halt_on_error = bool(body.get("haltOnError", False))
        results: list[dict[str, Any]] = []
        has_errors = False
        for sub in subrequests:
            if has_errors and halt_on_error:
                results.append({"statusCode": 412, "result": [{
                    "errorCode": "BATCH_PROCESSING_HALTED",
                    "message": "Batch processing halted per request"}]})
                continue
            if not isinstance(sub, dict) or not sub.get("url") or not sub.get("method"):
                response = error_response(api_error(400, "JSON_PARSER_ERROR",
                                                    "Each subrequest needs method and url"))
            else:
                url = str(sub["url"])
                response = self._internal(call, str(sub["method"]).upper(), url,
                                          sub.get("richInput"), {}, None)
            if response.status >= 400:
                has_errors = True
            results.append({"statusCode": response.status,
                            "result": response.payload if response.status != 204 else None})
        return ApiResponse(200, {"hasErrors": has_errors, "results": results})


def _record_id_of(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        value = item.get("Id") or item.get("id")
        return str(value) if value else None
    return None


def _lookup_reference(
    name: str, path: str, references: dict[str, Any], failed_refs: set[str]
) -> Any:
    if name in failed_refs or name not in references:
        raise api_error(400, "PROCESSING_HALTED",
                        f"Invalid reference specified. No value for {name}{path} found in {name}. "
                        "A referenceId must be defined by an earlier subrequest.")
    value: Any = references[name]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = step
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError) as error:
            raise api_error(400, "PROCESSING_HALTED",
                            f"Invalid reference specified. No value for {name}{path} found in "
                            f"{name}.") from error
    return value


def _resolve_references(
    value: Any, references: dict[str, Any], failed_refs: set[str], *, url_encode: bool
) -> Any:
    """Replace ``@{ref.field}`` in strings (recursively in lists/dicts) with earlier results."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole and not url_encode:
            return _lookup_reference(whole.group(1), whole.group(2), references, failed_refs)

        def substitute(match: re.Match[str]) -> str:
            found = _lookup_reference(match.group(1), match.group(2), references, failed_refs)
            text = found if isinstance(found, str) else json.dumps(found)
            return urllib.parse.quote(text, safe="") if url_encode else text

        return _REFERENCE.sub(substitute, value)
    if isinstance(value, list):
        return [
            _resolve_references(v, references, failed_refs, url_encode=url_encode) for v in value
        ]
    if isinstance(value, dict):
        return {k: _resolve_references(v, references, failed_refs, url_encode=url_encode)
                for k, v in value.items()}
    return value
