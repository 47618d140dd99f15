"""Bulk API 2.0: CSV ingest jobs (insert, update, upsert, delete) and query jobs.

Enough of the protocol for simple-salesforce's ``bulk2`` and for a plugin's large syncs: jobs are
created ``Open``, take CSV uploads, run in a background thread after ``UploadComplete`` and keep
their result CSVs; query results are paged with ``Sforce-Locator``.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import ids
from .errors import SfApiError, api_error
from .responses import ApiResponse, error_response

if TYPE_CHECKING:
    from .engine import Org, QueryResult

CSV_CONTENT_TYPE = "text/csv; charset=UTF-8"
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete")
QUERY_OPERATIONS = ("query", "queryAll")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
              "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DEFAULT_MAX_RECORDS = 50000
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
# The errorMessage of a job the org could not process (the ``bulk_job_failed`` fault).
FAILED_JOB_MESSAGE = "InternalServerError : An internal error occurred while processing the job."


def _timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass
class Job:
    id: str
    kind: str  # "ingest" | "query"
    operation: str
    sobject: str | None
    created_by: str
    api_version: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id_field: str | None = None
    query: str | None = None
    state: str = "Open"
    created_date: str = field(default_factory=_timestamp)
    modstamp: str = field(default_factory=_timestamp)
    error_message: str | None = None
    uploads: list[bytes] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    started: float = 0.0
    finished: float = 0.0
    successful_csv: io.StringIO = field(default_factory=io.StringIO)
    failed_csv: io.StringIO = field(default_factory=io.StringIO)
    unprocessed_csv: io.StringIO = field(default_factory=io.StringIO)
    result: QueryResult | None = None
    columns: list[str] = field(default_factory=list)
    cancelled: bool = False
    # Set when the request closing the job carried the ``bulk_job_failed`` fault.
    fail_with: str | None = None

    def info(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if self.kind == "ingest":
            body["externalIdFieldName"] = self.external_id_field
            body["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
            body["jobType"] = "V2Ingest"
            body["numberRecordsProcessed"] = self.processed
            body["numberRecordsFailed"] = self.failed
        else:
            body["query"] = self.query
            body["jobType"] = "V2Query"
            body["numberRecordsProcessed"] = self.processed
        elapsed = int(max(0.0, (self.finished or self.started) - self.started) * 1000)
        body.update({"retries": 0, "totalProcessingTime": elapsed,
                     "apiActiveProcessingTime": elapsed, "apexProcessingTime": 0})
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flatten(record: Mapping[str, Any], column: str) -> Any:
    value: Any = record
    for part in column.split("."):
        if not isinstance(value, Mapping):
            return None
        match = next((k for k in value if k.lower() == part.lower()), None)
        value = value.get(match) if match is not None else None
    return value


def _select_columns(soql: str) -> list[str]:
    match = re.match(r"\s*select\s+(.*?)\s+from\s", soql, re.IGNORECASE | re.DOTALL)
    if match is None:
        return []
    return [column.strip() for column in match.group(1).split(",") if column.strip()]


class BulkApi:
    """Bulk API 2.0 jobs of one org, processed one at a time on a background thread."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-bulk")
        self._pending = 0  # submitted and not finished, including cancelled ones
        self._idle = threading.Condition(self._lock)
        self._request = threading.local()

    @contextlib.contextmanager
    def failing_closes(self, enabled: bool) -> Iterator[None]:
        """While ``enabled``, an ingest job closed (``UploadComplete``) by the request this thread
        is handling ends ``Failed`` without processing a row."""
        self._request.fail_closes = enabled
        try:
            yield
        finally:
            self._request.fail_closes = False

    def reset(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.cancelled = True
            self._jobs.clear()

    def close(self) -> None:
        self.reset()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no job is queued or running, even cancelled ones (reset relies on it)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _submit(self, work: Callable[[Job], None], job: Job) -> None:
        def run() -> None:
            try:
                if not job.cancelled:
                    work(job)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        with self._idle:
            self._pending += 1
        self._executor.submit(run)

    # -- routing --------------------------------------------------------------------------------
    def handle(
        self,
        method: str,
        version: str,
        parts: list[str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        user_id: str,
    ) -> ApiResponse:
        try:
            return self._route(method, version, parts, query, headers, body, user_id)
        except SfApiError as error:
            return error_response(error)

    def _route(
        self,
        method: str,
        version: str,
        parts: list[str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        user_id: str,
    ) -> ApiResponse:
        kind = parts[0]
        if kind not in ("ingest", "query"):
            raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1:
            if method == "POST":
                return self._create(kind, version, _json(body), user_id)
            if method == "GET":
                with self._lock:
                    jobs = [j.info() for j in self._jobs.values() if j.kind == kind]
                return ApiResponse(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
            raise api_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
        job = self._job(kind, parts[1])
        if len(parts) == 2:
            if method == "GET":
                return ApiResponse(200, job.info())
            if method == "PATCH":
                return self._set_state(job, _json(body))
            if method == "DELETE":
                with self._lock:
                    job.cancelled = True
                    self._jobs.pop(job.id, None)
                return ApiResponse(204)
            raise api_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
        resource = parts[2]
        if kind == "ingest" and resource == "batches" and method == "PUT":
            return self._upload(job, body)
        if kind == "ingest" and method == "GET" and resource.lower() in (
            "successfulresults", "failedresults", "unprocessedrecords"
        ):
            return self._ingest_results(job, resource.lower())
        if kind == "query" and resource == "results" and method == "GET":
            return self._query_results(job, query)
        raise api_error(404, "NOT_FOUND", "The requested resource does not exist")

    def _job(self, kind: str, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    # -- job lifecycle --------------------------------------------------------------------------
    def _create(self, kind: str, version: str, spec: Any, user_id: str) -> ApiResponse:
        if not isinstance(spec, dict):
            raise api_error(400, "JSON_PARSER_ERROR", "Expected a JSON object describing the job")
        operation = spec.get("operation")
        delimiter = spec.get("columnDelimiter") or "COMMA"
        line_ending = spec.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS:
            raise api_error(400, "INVALIDJOB", f"Invalid column delimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise api_error(400, "INVALIDJOB", f"Invalid line ending: {line_ending}")
        if spec.get("contentType", "CSV") != "CSV":
            raise api_error(400, "INVALIDJOB", "Only the CSV content type is supported")
        job_id = ids.make_id("750", next(self._counter))
        if kind == "ingest":
            if operation not in INGEST_OPERATIONS:
                raise api_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
            if not spec.get("object"):
                raise api_error(400, "INVALIDJOB", "The object is required")
            sobject = self.org.sobject_name(str(spec["object"]))
            external = spec.get("externalIdFieldName")
            if operation == "upsert" and not external:
                raise api_error(400, "INVALIDJOB",
                                "externalIdFieldName is required for an upsert job")
            job = Job(job_id, "ingest", operation, sobject, user_id, version, delimiter,
                      line_ending, external_id_field=external)
        else:
            if operation not in QUERY_OPERATIONS:
                raise api_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
            soql = spec.get("query")
            if not soql:
                raise api_error(400, "INVALIDJOB", "The query is required")
            # Validate now so a bad query fails the POST, as in Salesforce.
            result = self.org.query(str(soql), operation == "queryAll", version)
            job = Job(job_id, "query", operation, result.sobject, user_id, version, delimiter,
                      line_ending, query=str(soql), state="UploadComplete")
            job.result = result
            job.columns = _select_columns(str(soql))
        with self._lock:
            self._jobs[job_id] = job
        if kind == "query":
            self._submit(self._run_query, job)
        return ApiResponse(200, job.info())

    def _set_state(self, job: Job, spec: Any) -> ApiResponse:
        state = spec.get("state") if isinstance(spec, dict) else None
        with self._lock:
            if state == "Aborted":
                if job.state in ("JobComplete", "Failed", "Aborted"):
                    raise api_error(409, "INVALIDJOBSTATE", f"Job is already {job.state}")
                job.cancelled = True
                job.state = "Aborted"
                job.modstamp = _timestamp()
                return ApiResponse(200, job.info())
            if state == "UploadComplete" and job.kind == "ingest":
                if job.state != "Open":
                    raise api_error(409, "INVALIDJOBSTATE", f"Job is {job.state}, not Open")
                job.state = "UploadComplete"
                job.modstamp = _timestamp()
                if getattr(self._request, "fail_closes", False):
                    job.fail_with = FAILED_JOB_MESSAGE
                info = job.info()
            else:
                raise api_error(400, "INVALIDJOBSTATE", f"Cannot change the job state to {state}")
        self._submit(self._run_ingest, job)
        return ApiResponse(200, info)

    def _upload(self, job: Job, body: bytes) -> ApiResponse:
        with self._lock:
            if job.state != "Open":
                raise api_error(409, "INVALIDJOBSTATE", f"Job is {job.state}, not Open")
            if sum(len(u) for u in job.uploads) + len(body) > MAX_UPLOAD_BYTES:
                raise api_error(400, "INVALIDBATCH", "The upload exceeds 150 MB")
            if not body:
                raise api_error(400, "INVALIDBATCH", "The upload is empty")
            job.uploads.append(body)
        return ApiResponse(201, raw=b"", content_type=CSV_CONTENT_TYPE)

    # -- processing -----------------------------------------------------------------------------
    def _run_ingest(self, job: Job) -> None:
        job.state = "InProgress"
        job.started = time.monotonic()
        if job.fail_with:
            job.uploads = []
            job.error_message = job.fail_with
            job.state = "Failed"
            job.finished = time.monotonic()
            job.modstamp = _timestamp()
            return
        delimiter = DELIMITERS[job.column_delimiter]
        terminator = LINE_ENDINGS[job.line_ending]
        uploads, job.uploads = job.uploads, []
        header: list[str] | None = None
        success = failure = unprocessed = None
        try:
            for upload in uploads:
                reader = csv.reader(io.StringIO(upload.decode("utf-8-sig")), delimiter=delimiter)
                upload_header = next(reader, None)
                if upload_header is None:
                    continue
                if header is None:
                    header = upload_header
                    success = csv.writer(job.successful_csv, delimiter=delimiter,
                                         lineterminator=terminator)
                    failure = csv.writer(job.failed_csv, delimiter=delimiter,
                                         lineterminator=terminator)
                    unprocessed = csv.writer(job.unprocessed_csv, delimiter=delimiter,
                                             lineterminator=terminator)
                    success.writerow(["sf__Id", "sf__Created", *header])
                    failure.writerow(["sf__Id", "sf__Error", *header])
                    unprocessed.writerow(header)
                elif upload_header != header:
                    raise api_error(400, "INVALIDBATCH",
                                    "All uploads of a job must have the same header")
                assert success is not None and failure is not None and unprocessed is not None
                for row in reader:
                    if not row:
                        continue
                    if job.cancelled:
                        unprocessed.writerow(row)
                        continue
                    values = dict(zip(header, row, strict=False))
                    try:
                        record_id, created = self._apply(job, values)
                    except SfApiError as error:
                        job.failed += 1
                        detail = ",".join(error.fields)
                        failure.writerow([values.get("Id", ""),
                                          f"{error.error_code}:{error.message}:{detail} --", *row])
                    else:
                        success.writerow([record_id, "true" if created else "false", *row])
                    job.processed += 1
        except (SfApiError, UnicodeDecodeError, csv.Error) as error:
            job.error_message = getattr(error, "message", None) or str(error)
            job.state = "Failed"
        else:
            if not job.cancelled:
                job.state = "JobComplete"
        job.finished = time.monotonic()
        job.modstamp = _timestamp()

    def _apply(self, job: Job, row: dict[str, str]) -> tuple[str, bool]:
        assert job.sobject is not None
        # An empty cell leaves the field alone; "#N/A" explicitly clears it (Bulk API convention).
        values: dict[str, Any] = {}
        for name, raw in row.items():
            if raw == "":
                continue
            values[name] = None if raw == "#N/A" else raw
        if job.operation == "insert":
            return self.org.create(job.sobject, values), True
        if job.operation == "delete":
            record_id = values.get("Id")
            if not record_id:
                raise api_error(400, "MISSING_ARGUMENT", "Id not specified in a delete call")
            self.org.delete(job.sobject, record_id)
            return record_id, False
        if job.operation == "update":
            record_id = values.pop("Id", None)
            if not record_id:
                raise api_error(400, "MISSING_ARGUMENT", "Id not specified in an update call")
            self.org.update(job.sobject, record_id, values)
            return record_id, False
        external = job.external_id_field or ""
        key_name = next((k for k in values if k.lower() == external.lower()), None)
        if key_name is None or values.get(key_name) is None:
            raise api_error(400, "MISSING_ARGUMENT", f"{external} not specified", (external,))
        key = str(values.pop(key_name))
        return self.org.upsert(job.sobject, external, key, values)

    def _run_query(self, job: Job) -> None:
        job.state = "InProgress"
        job.started = time.monotonic()
        if job.result is not None and not job.cancelled:
            job.processed = job.result.total_size
            job.state = "JobComplete"
        job.finished = time.monotonic()
        job.modstamp = _timestamp()

    # -- results --------------------------------------------------------------------------------
    def _ingest_results(self, job: Job, resource: str) -> ApiResponse:
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            raise api_error(400, "INVALIDJOBSTATE", f"Job is {job.state}; results are not ready")
        source = {
            "successfulresults": job.successful_csv,
            "failedresults": job.failed_csv,
            "unprocessedrecords": job.unprocessed_csv,
        }[resource]
        return ApiResponse(200, raw=source.getvalue().encode("utf-8"),
                           content_type=CSV_CONTENT_TYPE)

    def _query_results(self, job: Job, query: dict[str, list[str]]) -> ApiResponse:
        if job.state != "JobComplete" or job.result is None:
            raise api_error(400, "INVALIDJOBSTATE", f"Job is {job.state}; results are not ready")
        max_records = _int_param(query, "maxRecords", DEFAULT_MAX_RECORDS)
        locator = (query.get("locator") or [""])[0]
        start = _decode_locator(locator) if locator and locator != "null" else 0
        rows = job.result.page(start, max_records)
        end = start + len(rows)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=DELIMITERS[job.column_delimiter],
                            lineterminator=LINE_ENDINGS[job.line_ending], quoting=csv.QUOTE_ALL)
        columns = job.columns or [k for k in (rows[0] if rows else {}) if k != "attributes"]
        writer.writerow(columns)
        for record in rows:
            writer.writerow([_csv_value(_flatten(record, column)) for column in columns])
        next_locator = _encode_locator(end) if end < job.result.total_size else "null"
        return ApiResponse(
            200,
            raw=buffer.getvalue().encode("utf-8"),
            content_type=CSV_CONTENT_TYPE,
            headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(rows))},
        )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise api_error(400, "JSON_PARSER_ERROR", f"Malformed JSON body: {error}") from error


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        number = int(values[0])
    except ValueError as error:
        raise api_error(400, "INVALIDJOB", f"{name} must be a positive integer") from error
    if number < 1:
        raise api_error(400, "INVALIDJOB", f"{name} must be a positive integer")
    return number


def _encode_locator(offset: int) -> str:
    return base64.b32encode(offset.to_bytes(8, "big")).decode("ascii").rstrip("=")


def _decode_locator(locator: str) -> int:
    try:
        padded = locator + "=" * (-len(locator) % 8)
        return int.from_bytes(base64.b32decode(padded), "big")
    except (ValueError, TypeError) as error:
        raise api_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from error
