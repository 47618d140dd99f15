"""Merging leads or contacts (a control call: Salesforce merges through SOAP and Apex, not
REST): the merged records are deleted with MasterRecordId set to the survivor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.server import RunningSandbox, start_sandbox

from .conftest import RawApi, assert_error


def _merge(sandbox: Any, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{sandbox.login_url}/__sandbox__/merge", json=body, timeout=10)


def _lead(api: RawApi, last: str, **values: Any) -> str:
    response = api.post("/sobjects/Lead/", json={"LastName": last, "Company": "Acme", **values})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _query_all(api: RawApi, soql: str) -> list[dict[str, Any]]:
    response = api.get("/queryAll", params={"q": soql})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


class _Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture(scope="module")
def clocked() -> Iterator[tuple[RunningSandbox, _Clock]]:
    clock = _Clock()
    with start_sandbox(clock=clock) as running:
        yield running, clock


def test_merged_leads_are_deleted_pointing_at_the_master(
    clocked: tuple[RunningSandbox, _Clock],
) -> None:
    sandbox, clock = clocked
    sandbox.reset()
    api = RawApi(sandbox, sandbox.password_token()["access_token"])
    master = _lead(api, "Master", Email="ada@example.com")
    first, second = _lead(api, "Loser one"), _lead(api, "Loser two")
    before = api.get(f"/sobjects/Lead/{master}").json()["SystemModstamp"]
    clock.advance(minutes=2)
    response = _merge(sandbox, {"masterRecordId": master, "recordToMergeIds": [first, second],
                                "masterRecord": {"Title": "CTO"}})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": master, "mergedRecordIds": [first, second],
                               "success": True}

    merged = _query_all(api, "SELECT Id, IsDeleted, MasterRecordId FROM Lead "
                             "WHERE IsDeleted = true AND MasterRecordId != null")
    assert {row["Id"]: row["MasterRecordId"] for row in merged} == {first: master,
                                                                     second: master}
    survivor = api.get(f"/sobjects/Lead/{master}").json()
    assert survivor["SystemModstamp"] > before and survivor["Title"] == "CTO"
    assert survivor["MasterRecordId"] is None
    assert_error(api.get(f"/sobjects/Lead/{first}"), 404, "ENTITY_IS_DELETED")

    clock.advance(minutes=2)
    deleted = api.get("/sobjects/Lead/deleted/", params={
        "start": (clock.moment - timedelta(minutes=10)).isoformat(),
        "end": clock.moment.isoformat(),
    })
    assert deleted.status_code == 200, deleted.text
    assert {r["id"] for r in deleted.json()["deletedRecords"]} == {first, second}


def test_contacts_merge_too(api: RawApi, salesforce_sandbox: Any) -> None:
    ids = [api.post("/sobjects/Contact/", json={"LastName": name}).json()["id"]
           for name in ("Master", "Loser")]
    assert _merge(salesforce_sandbox, {"masterRecordId": ids[0],
                                       "recordToMergeIds": [ids[1]]}).status_code == 200
    rows = _query_all(api, f"SELECT MasterRecordId FROM Contact WHERE Id = '{ids[1]}'")
    assert rows[0]["MasterRecordId"] == ids[0]


def test_campaign_memberships_follow_the_merged_lead(api: RawApi, salesforce_sandbox: Any) -> None:
    campaign = api.get("/query", params={"q": "SELECT Id FROM Campaign"}).json()["records"][0]
    master, loser = _lead(api, "Master"), _lead(api, "Loser")
    member = api.post("/sobjects/CampaignMember/",
                      json={"CampaignId": campaign["Id"], "LeadId": loser}).json()["id"]
    assert _merge(salesforce_sandbox, {"masterRecordId": master,
                                       "recordToMergeIds": [loser]}).status_code == 200
    moved = api.get(f"/sobjects/CampaignMember/{member}").json()
    assert moved["LeadId"] == master


def test_master_record_id_is_in_the_lead_and_contact_describes(api: RawApi) -> None:
    for sobject in ("Lead", "Contact"):
        fields = {f["name"]: f for f in api.get(f"/sobjects/{sobject}/describe").json()["fields"]}
        master = fields["MasterRecordId"]
        assert master["type"] == "reference" and master["referenceTo"] == [sobject]
        assert not master["createable"] and not master["updateable"]


def test_a_lead_cannot_be_merged_with_a_contact(api: RawApi, salesforce_sandbox: Any) -> None:
    lead = _lead(api, "Lead")
    contact = api.post("/sobjects/Contact/", json={"LastName": "Contact"}).json()["id"]
    response = _merge(salesforce_sandbox, {"masterRecordId": lead, "recordToMergeIds": [contact]})
    assert_error(response, 400, "INVALID_ID_FIELD")
    assert salesforce_sandbox.org.count("Contact") == 1


def test_a_converted_lead_cannot_be_the_master(api: RawApi, salesforce_sandbox: Any) -> None:
    converted, other = _lead(api, "Converted"), _lead(api, "Other")
    salesforce_sandbox.org.convert_lead(converted)
    response = _merge(salesforce_sandbox, {"masterRecordId": converted,
                                           "recordToMergeIds": [other]})
    assert_error(response, 400, "CANNOT_UPDATE_CONVERTED_LEAD")
    assert salesforce_sandbox.org.count("Lead") == 2


def test_a_converted_lead_may_be_merged_into_an_open_one(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    master, converted = _lead(api, "Open"), _lead(api, "Converted")
    salesforce_sandbox.org.convert_lead(converted)
    response = _merge(salesforce_sandbox, {"masterRecordId": master,
                                           "recordToMergeIds": [converted]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("losers", [0, 3])
def test_one_or_two_records_merge_into_a_master(
    api: RawApi, salesforce_sandbox: Any, losers: int
) -> None:
    master = _lead(api, "Master")
    others = [_lead(api, f"Other {n}") for n in range(losers)]
    response = _merge(salesforce_sandbox, {"masterRecordId": master, "recordToMergeIds": others})
    assert response.status_code == 400
    assert salesforce_sandbox.org.count("Lead") == losers + 1


def test_a_record_is_not_merged_into_itself(api: RawApi, salesforce_sandbox: Any) -> None:
    master = _lead(api, "Master")
    response = _merge(salesforce_sandbox, {"masterRecordId": master, "recordToMergeIds": [master]})
    assert_error(response, 400, "INVALID_ID_FIELD")


def test_accounts_are_not_merged_here(api: RawApi, salesforce_sandbox: Any) -> None:
    ids = [api.post("/sobjects/Account/", json={"Name": n}).json()["id"] for n in ("A", "B")]
    response = _merge(salesforce_sandbox, {"masterRecordId": ids[0], "recordToMergeIds": [ids[1]]})
    assert_error(response, 400, "INVALID_TYPE_FOR_OPERATION")


def test_a_malformed_master_id_is_refused(salesforce_sandbox: Any) -> None:
    response = _merge(salesforce_sandbox, {"masterRecordId": "nope", "recordToMergeIds": ["x"]})
    assert_error(response, 400, "MALFORMED_ID")


def test_a_merge_runs_no_duplicate_rules(salesforce_sandbox_factory: Any) -> None:
    """Salesforce's merge skips duplicate rules: the master may take a loser's email."""
    sandbox = salesforce_sandbox_factory({"objects": {"Lead": {"duplicate_rules": [
        {"name": "Lead email", "fields": ["Email"], "action": "block"}]}}})
    sandbox.reset()
    api = RawApi(sandbox, sandbox.password_token()["access_token"])
    master = _lead(api, "Master", Email="old@example.com")
    loser = _lead(api, "Loser", Email="kept@example.com")
    assert_error(api.patch(f"/sobjects/Lead/{master}", json={"Email": "kept@example.com"}),
                 400, "DUPLICATES_DETECTED")

    response = _merge(sandbox, {"masterRecordId": master, "recordToMergeIds": [loser],
                                "masterRecord": {"Email": "kept@example.com"}})

    assert response.status_code == 200, response.text
    assert api.get(f"/sobjects/Lead/{master}").json()["Email"] == "kept@example.com"
