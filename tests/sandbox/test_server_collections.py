"""sObject Collections, composite and composite/batch: per-record results, allOrNone, references
and how each counts against the API limit."""

from __future__ import annotations

from typing import Any

from .conftest import API_VERSION, RawApi, assert_error

V = f"/services/data/v{API_VERSION}"


def _lead(**values: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": "Ng", "Company": "Acme", **values}


def test_collection_create_reports_each_record_in_order_with_status_code(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    records = [_lead(LastName="One"), _lead(Company=None), _lead(LastName="Three")]
    response = api.post("/composite/sobjects", json={"allOrNone": False, "records": records})
    assert response.status_code == 200
    first, second, third = response.json()
    assert first["success"] is True and first["id"].startswith("00Q")
    assert third["success"] is True
    assert second["success"] is False and second["id"] is None
    assert second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert second["errors"][0]["fields"] == ["Company"]
    assert "errorCode" not in second["errors"][0]
    assert salesforce_sandbox.org.count("Lead") == 2


def test_collection_all_or_none_rolls_back_the_valid_records(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    existing = salesforce_sandbox.org.create("Lead", {"LastName": "Keep", "Company": "Acme"})
    records = [_lead(LastName="One"), _lead(Email="broken")]
    created = api.post("/composite/sobjects", json={"allOrNone": True, "records": records}).json()
    assert created[0]["success"] is False
    assert created[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert created[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert salesforce_sandbox.org.count("Lead") == 1
    updates = [
        {"attributes": {"type": "Lead"}, "Id": existing, "Title": "Changed"},
        {"attributes": {"type": "Lead"}, "Id": existing, "Email": "broken"},
    ]
    updated = api.patch("/composite/sobjects", json={"allOrNone": True, "records": updates}).json()
    assert [r["errors"][0]["statusCode"] for r in updated] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "INVALID_EMAIL_ADDRESS"]
    assert salesforce_sandbox.org.get("Lead", existing, ["Title"], API_VERSION)["Title"] is None


def test_collection_update_get_and_delete(api: RawApi, salesforce_sandbox: Any) -> None:
    ids = [r["id"] for r in api.post("/composite/sobjects", json={
        "records": [_lead(LastName="A"), _lead(LastName="B")]}).json()]
    patch = [{"attributes": {"type": "Lead"}, "Id": lead_id, "Title": "Lead"} for lead_id in ids]
    assert all(r["success"] for r in api.patch("/composite/sobjects",
                                                json={"records": patch}).json())
    fetched = api.get("/composite/sobjects/Lead",
                      params={"ids": ",".join(ids), "fields": "Title,LastName"}).json()
    assert [record["Title"] for record in fetched] == ["Lead", "Lead"]
    deleted = api.delete("/composite/sobjects", params={"ids": ",".join(ids),
                                                        "allOrNone": "false"}).json()
    assert [r["success"] for r in deleted] == [True, True]
    assert salesforce_sandbox.org.count("Lead") == 0


def test_collection_delete_all_or_none_deletes_nothing_when_one_id_is_bad(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    good = salesforce_sandbox.org.create("Lead", {"LastName": "Keep", "Company": "Acme"})
    missing = "00Q5g00000ZZZZZZZZ"[:15]
    results = api.delete("/composite/sobjects",
                         params={"ids": f"{good},{missing}", "allOrNone": "true"}).json()
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["success"] is False
    assert salesforce_sandbox.org.count("Lead") == 1


def test_collection_upsert_on_id_field_creates_and_updates(api: RawApi,
                                                          salesforce_sandbox: Any) -> None:
    existing = salesforce_sandbox.org.create("Lead", {"LastName": "Old", "Company": "Acme"})
    records = [
        {"attributes": {"type": "Lead"}, "Id": existing, "Title": "Updated"},
    ]
    results = api.patch("/composite/sobjects/Lead/Id", json={"records": records}).json()
    assert results == [{"id": existing, "success": True, "errors": [], "created": False}]


def test_collection_over_200_records_is_refused(api: RawApi) -> None:
    response = api.post("/composite/sobjects", json={"records": [_lead()] * 201})
    assert_error(response, 400, "EXCEEDED_ID_LIMIT")


def test_collection_record_without_type_fails_alone(api: RawApi) -> None:
    results = api.post("/composite/sobjects", json={
        "records": [{"LastName": "NoType", "Company": "Acme"}, _lead()]}).json()
    assert results[0]["success"] is False and results[1]["success"] is True


def test_composite_counts_as_one_call_and_resolves_references(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "account",
             "body": {"Name": "Acme"}},
            {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "contact",
             "body": {"LastName": "Ng", "AccountId": "@{account.id}"}},
            {"method": "GET", "url": f"{V}/sobjects/Contact/@{{contact.id}}?fields=AccountId",
             "referenceId": "readBack"},
            {"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Contact",
             "referenceId": "contacts"},
        ],
    }
    before = salesforce_sandbox.api_calls_used()
    response = api.post("/composite", json=body)
    assert salesforce_sandbox.api_calls_used() - before == 1
    results = {r["referenceId"]: r for r in response.json()["compositeResponse"]}
    assert results["account"]["httpStatusCode"] == 201
    account_id = results["account"]["body"]["id"]
    assert results["account"]["httpHeaders"]["Location"].endswith(f"/sobjects/Account/{account_id}")
    assert results["readBack"]["body"]["AccountId"] == results["account"]["body"]["id"]
    assert results["contacts"]["body"]["totalSize"] == 1


def test_composite_all_or_none_rolls_back_and_halts(api: RawApi, salesforce_sandbox: Any) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": f"{V}/sobjects/Lead", "referenceId": "good",
             "body": {"LastName": "Ok", "Company": "Acme"}},
            {"method": "POST", "url": f"{V}/sobjects/Lead", "referenceId": "bad",
             "body": {"LastName": "NoCompany"}},
            {"method": "POST", "url": f"{V}/sobjects/Lead", "referenceId": "after",
             "body": {"LastName": "Later", "Company": "Acme"}},
        ],
    }
    results = {r["referenceId"]: r for r in api.post("/composite", json=body).json()[
        "compositeResponse"]}
    assert results["bad"]["httpStatusCode"] == 400
    assert results["bad"]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert results["good"]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert results["after"]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert salesforce_sandbox.org.count("Lead") == 0


def test_composite_limits_subrequests_and_queries(api: RawApi) -> None:
    query = {"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Lead", "referenceId": "q"}
    too_many = [dict(query, referenceId=f"q{i}") for i in range(26)]
    assert_error(api.post("/composite", json={"compositeRequest": too_many}), 400,
                 "LIMIT_EXCEEDED")
    six_queries = [dict(query, referenceId=f"q{i}") for i in range(6)]
    assert_error(api.post("/composite", json={"compositeRequest": six_queries}), 400,
                 "LIMIT_EXCEEDED")


def test_composite_batch_counts_every_subrequest(api: RawApi, salesforce_sandbox: Any) -> None:
    lead_id = salesforce_sandbox.org.create("Lead", {"LastName": "B", "Company": "Acme"})
    body = {"batchRequests": [
        {"method": "GET", "url": f"v{API_VERSION}/sobjects/Lead/{lead_id}"},
        {"method": "PATCH", "url": f"v{API_VERSION}/sobjects/Lead/{lead_id}",
         "richInput": {"Title": "Batch"}},
        {"method": "GET", "url": f"v{API_VERSION}/sobjects/Lead/001000000000000AAA"},
    ]}
    before = salesforce_sandbox.api_calls_used()
    response = api.post("/composite/batch", json=body).json()
    assert salesforce_sandbox.api_calls_used() - before == 3
    assert response["hasErrors"] is True
    assert [r["statusCode"] for r in response["results"]] == [200, 204, 404]
    assert salesforce_sandbox.calls[-1]["api_calls"] == 3
