"""Tasks (activities) in the sandbox org, as Salesforce keeps them: WhoId names a Lead or a
Contact, a completed task is closed, and a lead's tasks follow it when it is converted or merged."""

from __future__ import annotations

from typing import Any

import requests

from .conftest import RawApi, assert_error


def _create(api: RawApi, sobject: str, **values: Any) -> str:
    response = api.post(f"/sobjects/{sobject}/", json=values)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _task(api: RawApi, task_id: str) -> dict[str, Any]:
    response = api.get(f"/sobjects/Task/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_describe_has_the_fields_an_activity_writes(api: RawApi) -> None:
    response = api.get("/sobjects/Task/describe")
    assert response.status_code == 200, response.text
    fields = {field["name"]: field for field in response.json()["fields"]}
    assert fields["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert fields["Status"]["defaultedOnCreate"] and not fields["Status"]["nillable"]
    assert "Completed" in [value["value"] for value in fields["Status"]["picklistValues"]]
    assert fields["ActivityDate"]["type"] == "date"
    assert fields["Description"]["type"] == "textarea"
    assert not fields["IsClosed"]["createable"]


def test_a_task_on_a_lead_or_a_contact_and_a_completed_one_is_closed(api: RawApi) -> None:
    lead = _create(api, "Lead", LastName="Ada", Company="Acme")
    contact = _create(api, "Contact", LastName="Grace")

    on_lead = _create(api, "Task", WhoId=lead, Subject="Call", Status="Completed",
                      ActivityDate="2026-12-02")  # fmt: skip
    on_contact = _create(api, "Task", WhoId=contact, Subject="Email")

    assert _task(api, on_lead)["IsClosed"] is True
    assert _task(api, on_lead)["ActivityDate"] == "2026-12-02"
    opened = _task(api, on_contact)
    assert (opened["Status"], opened["Priority"], opened["IsClosed"]) == (
        "Not Started",
        "Normal",
        False,
    )
    response = api.get(
        "/query", params={"q": f"SELECT Id FROM Task WHERE WhoId = '{lead}' AND Subject = 'Call'"}
    )
    assert [record["Id"] for record in response.json()["records"]] == [on_lead]


def test_a_task_cannot_name_an_account_or_a_converted_lead(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    account = _create(api, "Account", Name="Acme")
    response = api.post("/sobjects/Task/", json={"WhoId": account, "Subject": "x"})
    assert_error(response, 400, "FIELD_INTEGRITY_EXCEPTION")

    lead = _create(api, "Lead", LastName="Turing", Company="Bletchley")
    salesforce_sandbox.org.convert_lead(lead)
    response = api.post("/sobjects/Task/", json={"WhoId": lead, "Subject": "x"})
    assert_error(response, 400, "CANNOT_UPDATE_CONVERTED_LEAD")


def test_converting_a_lead_moves_its_tasks_to_the_contact(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    lead = _create(api, "Lead", LastName="Turing", Company="Bletchley")
    task = _create(api, "Task", WhoId=lead, Subject="Web form")

    contact = salesforce_sandbox.org.convert_lead(lead)["contactId"]

    assert _task(api, task)["WhoId"] == contact


def test_merging_leads_moves_the_merged_ones_tasks_to_the_master(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    master = _create(api, "Lead", LastName="Keep", Company="Acme")
    merged = _create(api, "Lead", LastName="Gone", Company="Acme")
    task = _create(api, "Task", WhoId=merged, Subject="Web form")

    response = requests.post(
        f"{salesforce_sandbox.login_url}/__sandbox__/merge",
        json={"masterRecordId": master, "recordToMergeIds": [merged]},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    assert _task(api, task)["WhoId"] == master
