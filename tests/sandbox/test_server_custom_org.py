"""The server with an org file: external-ID upserts, restricted picklists, duplicate rules and
replication windows driven by a controllable clock."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce

from wagtail_salesforce.sandbox.pytest_plugin import SandboxFactory
from wagtail_salesforce.sandbox.server import SandboxHandle

from .conftest import API_VERSION, RawApi, assert_error

ORG_YAML = """
org: {id: 00D5g000004XyZaEAK, name: Custom Org, daily_api_limit: 1000, session_timeout_seconds: 600}
objects:
  Lead:
    fields:
      Submission_Id__c: {type: string, length: 64, external_id: true}
      Rating__c: {type: picklist, values: [Hot, Warm, Cold], restricted: true}
  Event_Registration__c:
    label: Event registration
    fields:
      Email__c: {type: email}
      Name: {type: string, length: 80, required: true}
    duplicate_rules: [{name: Registration email, fields: [Email__c], action: block}]
"""


class ManualClock:
    """A clock the test moves by hand (records' CreatedDate/SystemModstamp follow it)."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def custom_sandbox(salesforce_sandbox_factory: SandboxFactory,
                   clock: ManualClock) -> SandboxHandle:
    return salesforce_sandbox_factory(ORG_YAML, clock=clock)


@pytest.fixture
def custom_api(custom_sandbox: SandboxHandle) -> RawApi:
    custom_sandbox.reset()
    return RawApi(custom_sandbox, custom_sandbox.password_token()["access_token"])


def _lead(**values: Any) -> dict[str, Any]:
    return {"LastName": "Ng", "Company": "Acme", **values}


def test_upsert_on_external_id_creates_updates_and_reports_several_matches(
    custom_api: RawApi, custom_sandbox: SandboxHandle
) -> None:
    url = "/sobjects/Lead/Submission_Id__c/sub-1"
    first = custom_api.patch(url, json=_lead())
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "success": True, "errors": [],
                            "created": True}
    second = custom_api.patch(url, json={"Title": "Boss"})
    assert second.status_code == 200
    assert second.json()["created"] is False and second.json()["id"] == first.json()["id"]
    custom_sandbox.org.create("Lead", _lead(Submission_Id__c="sub-1"))
    third = custom_api.patch(url, json={"Title": "Again"})
    assert third.status_code == 300
    urls = third.json()
    assert len(urls) == 2
    assert all(u.startswith(f"/services/data/v{API_VERSION}/sobjects/Lead/") for u in urls)


def test_upsert_before_v46_updates_with_204(custom_api: RawApi,
                                           custom_sandbox: SandboxHandle) -> None:
    old = RawApi(custom_sandbox, custom_api.token, version="45.0")
    assert old.patch("/sobjects/Lead/Submission_Id__c/sub-2", json=_lead()).status_code == 201
    updated = old.patch("/sobjects/Lead/Submission_Id__c/sub-2", json={"Title": "x"})
    assert updated.status_code == 204


def test_upsert_on_a_field_that_is_not_an_external_id_is_not_found(custom_api: RawApi) -> None:
    assert_error(custom_api.patch("/sobjects/Lead/Email/a%40b.example", json=_lead()), 404,
                 "NOT_FOUND")


def test_restricted_picklist_rejects_unknown_values(custom_api: RawApi) -> None:
    assert custom_api.post("/sobjects/Lead/", json=_lead(Rating__c="Hot")).status_code == 201
    body = assert_error(custom_api.post("/sobjects/Lead/", json=_lead(Rating__c="Lukewarm")),
                        400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    assert "Lukewarm" in body["message"]


def test_blocking_duplicate_rule_is_duplicates_detected(custom_api: RawApi) -> None:
    record = {"Name": "Ada", "Email__c": "ada@example.com"}
    assert custom_api.post("/sobjects/Event_Registration__c/", json=record).status_code == 201
    again = {"Name": "Ada L.", "Email__c": "ADA@example.com"}
    assert_error(custom_api.post("/sobjects/Event_Registration__c/", json=again), 400,
                 "DUPLICATES_DETECTED")


def test_updated_and_deleted_windows_cover_whole_minutes(
    custom_api: RawApi, clock: ManualClock
) -> None:
    start = clock()
    kept = custom_api.post("/sobjects/Lead/", json=_lead()).json()["id"]
    gone = custom_api.post("/sobjects/Lead/", json=_lead(LastName="Gone")).json()["id"]
    assert custom_api.delete(f"/sobjects/Lead/{gone}").status_code == 204
    clock.advance(minutes=2)
    window = {"start": (start - timedelta(minutes=1)).isoformat(),
              "end": clock().isoformat()}
    updated = custom_api.get("/sobjects/Lead/updated/", params=window)
    assert updated.status_code == 200
    assert kept in updated.json()["ids"] and gone not in updated.json()["ids"]
    deleted = custom_api.get("/sobjects/Lead/deleted/", params=window).json()
    assert [entry["id"] for entry in deleted["deletedRecords"]] == [gone]
    assert {"earliestDateAvailable", "latestDateCovered"} <= set(deleted)


def test_replication_window_needs_start_and_end(custom_api: RawApi) -> None:
    assert_error(custom_api.get("/sobjects/Lead/updated/"), 400, "MISSING_ARGUMENT")


def test_bulk2_upsert_on_an_external_id_creates_and_updates(
    custom_api: RawApi, custom_sandbox: SandboxHandle
) -> None:
    existing = custom_sandbox.org.create("Lead", _lead(Submission_Id__c="known"))
    sf = Salesforce(instance_url=custom_sandbox.instance_url, session_id=custom_api.token,
                    session=custom_api.session, version=API_VERSION)
    records = [{"Submission_Id__c": "known", "LastName": "Updated", "Company": "Acme"},
               {"Submission_Id__c": "fresh", "LastName": "Created", "Company": "Acme"}]
    (result,) = sf.bulk2.Lead.upsert(records=records, external_id_field="Submission_Id__c",
                                     wait=0.05)
    assert result["numberRecordsProcessed"] == 2 and result["numberRecordsFailed"] == 0
    rows = {row["Submission_Id__c"]: row for row in csv.DictReader(io.StringIO(
        sf.bulk2.Lead.get_successful_records(result["job_id"])))}
    assert rows["known"]["sf__Id"] == existing and rows["known"]["sf__Created"] == "false"
    assert rows["fresh"]["sf__Created"] == "true"
    updated = custom_sandbox.org.get("Lead", existing, ["LastName"], API_VERSION)
    assert updated["LastName"] == "Updated"
