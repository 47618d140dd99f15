"""Bulk API 2.0 through simple-salesforce's ``bulk2`` and raw HTTP: ingest, results, paging."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from .conftest import API_VERSION, RawApi, assert_error

BULK_WAIT_SECONDS = 0.05


def _wait_for_state(api: RawApi, job_id: str, kind: str = "ingest") -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = api.get(f"/jobs/{kind}/{job_id}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def test_bulk2_insert_reports_processed_and_failed(sf: Salesforce,
                                                   salesforce_sandbox: Any) -> None:
    records = [{"LastName": f"Bulk{i}", "Company": "Acme", "Email": f"b{i}@example.com"}
               for i in range(300)]
    records.append({"LastName": "NoCompany", "Company": "", "Email": "x@example.com"})
    results = sf.bulk2.Lead.insert(records=records, wait=BULK_WAIT_SECONDS)
    assert results[0]["numberRecordsProcessed"] == 301
    assert results[0]["numberRecordsFailed"] == 1
    assert salesforce_sandbox.org.count("Lead") == 300
    failed = list(csv.DictReader(io.StringIO(
        sf.bulk2.Lead.get_failed_records(results[0]["job_id"]))))
    assert len(failed) == 1 and failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    succeeded = list(csv.DictReader(io.StringIO(
        sf.bulk2.Lead.get_successful_records(results[0]["job_id"]))))
    assert len(succeeded) == 300
    assert all(row["sf__Created"] == "true" and row["sf__Id"].startswith("00Q")
               for row in succeeded)


def test_bulk2_upsert_on_id_updates_existing_records(sf: Salesforce,
                                                     salesforce_sandbox: Any) -> None:
    lead_id = salesforce_sandbox.org.create("Lead", {"LastName": "Old", "Company": "Acme"})
    results = sf.bulk2.Lead.upsert(records=[{"Id": lead_id, "Title": "Upserted"}],
                                   external_id_field="Id", wait=BULK_WAIT_SECONDS)
    assert results[0]["numberRecordsFailed"] == 0
    record = salesforce_sandbox.org.get("Lead", lead_id, ["Title"], API_VERSION)
    assert record["Title"] == "Upserted"
    rows = list(csv.DictReader(io.StringIO(
        sf.bulk2.Lead.get_successful_records(results[0]["job_id"]))))
    assert rows[0]["sf__Created"] == "false"


def test_bulk2_query_pages_with_the_locator(sf: Salesforce, salesforce_sandbox: Any) -> None:
    for number in range(250):
        salesforce_sandbox.org.create("Lead", {"LastName": f"Q{number}", "Company": "Acme"})
    pages = list(sf.bulk2.Lead.query("SELECT Id, LastName FROM Lead", max_records=100,
                                     wait=BULK_WAIT_SECONDS))
    assert len(pages) == 3
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(rows) == 250 and len({row["Id"] for row in rows}) == 250
    assert set(rows[0]) == {"Id", "LastName"}


def test_bulk2_delete_and_query_all_see_deleted_records(sf: Salesforce,
                                                        salesforce_sandbox: Any) -> None:
    lead_id = salesforce_sandbox.org.create("Lead", {"LastName": "Gone", "Company": "Acme"})
    sf.bulk2.Lead.delete(records=[{"Id": lead_id}], wait=BULK_WAIT_SECONDS)
    assert salesforce_sandbox.org.count("Lead") == 0
    pages = list(sf.bulk2.Lead.query_all("SELECT Id, IsDeleted FROM Lead", wait=BULK_WAIT_SECONDS))
    rows = list(csv.DictReader(io.StringIO(pages[0])))
    assert rows == [{"Id": lead_id, "IsDeleted": "true"}]


def test_bad_query_job_fails_at_creation(sf: Salesforce) -> None:
    with pytest.raises(Exception) as raised:
        list(sf.bulk2.Lead.query("SELECT Nope FROM Lead", wait=BULK_WAIT_SECONDS))
    assert "INVALID_FIELD" in str(raised.value)


def test_ingest_job_lifecycle_over_raw_http(api: RawApi) -> None:
    job = api.post("/jobs/ingest", json={"object": "Lead", "operation": "insert",
                                          "contentType": "CSV", "lineEnding": "LF"}).json()
    assert job["state"] == "Open" and job["id"].startswith("750")
    upload = api.request("PUT", f"/jobs/ingest/{job['id']}/batches",
                         data=b"LastName,Company\nRaw,Acme\n",
                         headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201
    closed = api.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    info = _wait_for_state(api, job["id"])
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 1
    unprocessed = api.get(f"/jobs/ingest/{job['id']}/unprocessedrecords")
    assert unprocessed.text == "LastName,Company\n"
    late = api.request("PUT", f"/jobs/ingest/{job['id']}/batches", data=b"LastName\nx\n",
                       headers={"Content-Type": "text/csv"})
    assert_error(late, 409, "INVALIDJOBSTATE")


def test_aborted_job_is_reported_by_bulk2_as_a_failure(sf: Salesforce, api: RawApi) -> None:
    job = api.post("/jobs/ingest", json={"object": "Lead", "operation": "insert"}).json()
    aborted = api.patch(f"/jobs/ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    with pytest.raises(SalesforceOperationError):
        sf.bulk2.Lead._client.wait_for_job(job["id"], False, BULK_WAIT_SECONDS)


def test_unknown_object_and_operation_are_refused(api: RawApi) -> None:
    assert_error(api.post("/jobs/ingest", json={"object": "Nope", "operation": "insert"}), 404,
                 "NOT_FOUND")
    assert_error(api.post("/jobs/ingest", json={"object": "Lead", "operation": "merge"}), 400,
                 "INVALIDJOB")
