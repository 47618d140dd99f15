"""REST API of the sandbox over real HTTPS: sObjects, SOQL paging, errors and limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from .conftest import API_VERSION, RawApi, assert_error

LIMIT_INFO = re.compile(r"^api-usage=(\d+)/(\d+)$")


def _lead(**values: Any) -> dict[str, Any]:
    return {"LastName": "Ng", "Company": "Acme", **values}


def test_versions_are_listed_without_authentication(salesforce_sandbox: Any) -> None:
    response = requests.get(f"{salesforce_sandbox.instance_url}/services/data/",
                            verify=salesforce_sandbox.ca_file, timeout=10)
    assert response.status_code == 200
    versions = {entry["version"]: entry for entry in response.json()}
    assert versions["20.0"]["label"] == "Winter '11"
    assert versions["62.0"] == {"label": "Winter '25", "url": "/services/data/v62.0",
                                "version": "62.0"}


def test_resource_list_names_the_main_resources(api: RawApi) -> None:
    response = api.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["sobjects"] == f"/services/data/v{API_VERSION}/sobjects"
    assert body["query"] == f"/services/data/v{API_VERSION}/query"
    assert "composite" in body and "limits" in body


def test_versions_below_20_are_not_found(api: RawApi, salesforce_sandbox: Any) -> None:
    old = RawApi(salesforce_sandbox, api.token, version="19.0")
    assert_error(old.get("/sobjects"), 404, "NOT_FOUND")
    assert RawApi(salesforce_sandbox, api.token, version="20.0").get("/sobjects").status_code == 200


def test_missing_or_invalid_bearer_is_invalid_session(salesforce_sandbox: Any) -> None:
    base = f"{salesforce_sandbox.instance_url}/services/data/v{API_VERSION}/sobjects"
    for headers in ({}, {"Authorization": "Bearer 00Dnot-a-token!AQ"}):
        response = requests.get(base, headers=headers, verify=salesforce_sandbox.ca_file,
                                timeout=10)
        body = assert_error(response, 401, "INVALID_SESSION_ID")
        assert body["message"] == "Session expired or invalid"
    assert salesforce_sandbox.api_calls_used() == 0


def test_create_get_update_delete_round_trip(sf: Salesforce, api: RawApi) -> None:
    created = sf.Lead.create(_lead(Email="ng@example.com"))
    assert created["success"] is True and created["errors"] == []
    lead_id = created["id"]
    assert len(lead_id) == 18 and lead_id.startswith("00Q")
    record = sf.Lead.get(lead_id)
    assert record["attributes"]["type"] == "Lead"
    assert record["attributes"]["url"] == f"/services/data/v{API_VERSION}/sobjects/Lead/{lead_id}"
    assert record["Email"] == "ng@example.com"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$", record["CreatedDate"])
    assert sf.Lead.update(lead_id, {"Title": "CTO"}) == 204
    assert sf.Lead.get(lead_id)["Title"] == "CTO"
    assert sf.Lead.delete(lead_id) == 204
    assert_error(api.get(f"/sobjects/Lead/{lead_id}"), 404, "ENTITY_IS_DELETED")


def test_post_answers_201_with_id_success_errors(api: RawApi) -> None:
    response = api.post("/sobjects/Lead/", json=_lead())
    assert response.status_code == 201
    assert set(response.json()) == {"id", "success", "errors"}


def test_get_with_fields_returns_only_those_fields(sf: Salesforce, api: RawApi) -> None:
    lead_id = sf.Lead.create(_lead(Email="f@example.com"))["id"]
    record = api.get(f"/sobjects/Lead/{lead_id}", params={"fields": "Email,LastName"}).json()
    assert set(record) - {"attributes", "Id"} == {"Email", "LastName"}




def test_describe_lists_fields_and_record_types(sf: Salesforce) -> None:
    described = sf.Lead.describe()
    fields = {field["name"]: field for field in described["fields"]}
    assert fields["LastName"]["length"] == 80 and fields["LastName"]["nillable"] is False
    assert any(info["developerName"] == "Web_Inquiry" for info in described["recordTypeInfos"])
    assert any(entry["name"] == "Lead" for entry in sf.describe()["sobjects"])


def test_basic_info_lists_recent_items(sf: Salesforce) -> None:
    lead_id = sf.Lead.create(_lead())["id"]
    info = sf.Lead.metadata()
    assert info["objectDescribe"]["name"] == "Lead"
    assert [item["Id"] for item in info["recentItems"]][0] == lead_id




def test_unknown_sobject_is_not_found(api: RawApi) -> None:
    assert_error(api.get("/sobjects/NoSuchThing__c/describe"), 404, "NOT_FOUND")


def test_malformed_json_body_is_a_json_parser_error(api: RawApi) -> None:
    response = api.post("/sobjects/Lead/", data=b'{"LastName": ',
                        headers={"Content-Type": "application/json"})
    assert_error(response, 400, "JSON_PARSER_ERROR")


@pytest.mark.parametrize(
    ("values", "code", "message_start", "fields"),
    [
        ({"LastName": "Ng"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Company]",
         ["Company"]),
        (_lead(LastName="x" * 81), "STRING_TOO_LONG", "Last Name: data value too large", None),
        (_lead(Email="not-an-email"), "INVALID_EMAIL_ADDRESS", "Email: invalid email address",
         None),
        (_lead(NoSuchField__c=1), "INVALID_FIELD", "No such column 'NoSuchField__c'", None),
        (_lead(RecordTypeId="012000000000001AAA"), "INVALID_CROSS_REFERENCE_KEY", "", None),
    ],
)
def test_validation_errors_have_salesforce_codes(
    api: RawApi, values: dict[str, Any], code: str, message_start: str, fields: list[str] | None
) -> None:
    body = assert_error(api.post("/sobjects/Lead/", json=values), 400, code)
    assert body["message"].startswith(message_start), body
    if fields is not None:
        assert body["fields"] == fields




def test_campaign_member_twice_is_duplicate_value(sf: Salesforce, api: RawApi) -> None:
    campaigns = sf.query("SELECT Id FROM Campaign WHERE Name = 'Autumn Webinar'")["records"]
    campaign_id = campaigns[0]["Id"]
    lead_id = sf.Lead.create(_lead())["id"]
    member = {"CampaignId": campaign_id, "LeadId": lead_id}
    assert api.post("/sobjects/CampaignMember/", json=member).status_code == 201
    body = assert_error(api.post("/sobjects/CampaignMember/", json=member), 400, "DUPLICATE_VALUE")
    assert "Already a campaign member." in body["message"]


def test_campaign_member_with_bad_campaign_is_invalid_cross_reference(
    sf: Salesforce, api: RawApi
) -> None:
    lead_id = sf.Lead.create(_lead())["id"]
    member = {"CampaignId": "701000000000000AAA", "LeadId": lead_id}
    assert_error(api.post("/sobjects/CampaignMember/", json=member), 400,
                 "INVALID_CROSS_REFERENCE_KEY")


def test_converted_lead_cannot_be_updated(sf: Salesforce, api: RawApi) -> None:
    lead_id = sf.Lead.create(_lead())["id"]
    converted = api.post("/sandbox/convertLead", json={"leadId": lead_id})
    assert converted.status_code == 200
    assert converted.json()["contactId"].startswith("003")
    lead = sf.Lead.get(lead_id)
    assert lead["IsConverted"] is True
    assert lead["ConvertedContactId"] == converted.json()["contactId"]
    assert_error(api.patch(f"/sobjects/Lead/{lead_id}", json={"Title": "x"}), 400,
                 "CANNOT_UPDATE_CONVERTED_LEAD")


def test_query_pages_over_2000_records_with_next_records_url(
    sf: Salesforce, salesforce_sandbox: Any
) -> None:
    for number in range(4500):
        salesforce_sandbox.org.create("Lead", _lead(LastName=f"Bulk{number}"))
    first = sf.query("SELECT Id, LastName FROM Lead")
    assert first["totalSize"] == 4500 and first["done"] is False
    assert len(first["records"]) == 2000
    assert re.match(rf"^/services/data/v{API_VERSION}/query/01g[0-9A-Za-z]{{15}}-2000$",
                    first["nextRecordsUrl"])
    calls_before = salesforce_sandbox.api_calls_used()
    everything = sf.query_all("SELECT Id, LastName FROM Lead")
    assert salesforce_sandbox.api_calls_used() - calls_before == 3  # 2000 + 2000 + 500
    assert len({record["Id"] for record in everything["records"]}) == 4500


def test_batch_size_header_sets_page_size(api: RawApi, salesforce_sandbox: Any) -> None:
    for number in range(450):
        salesforce_sandbox.org.create("Lead", _lead(LastName=f"Page{number}"))
    response = api.get("/query", params={"q": "SELECT Id FROM Lead"},
                       headers={"Sforce-Query-Options": "batchSize=200"})
    body = response.json()
    assert len(body["records"]) == 200 and body["nextRecordsUrl"].endswith("-200")
    second = api.get(f"{salesforce_sandbox.instance_url}{body['nextRecordsUrl']}").json()
    assert len(second["records"]) == 200 and second["nextRecordsUrl"].endswith("-400")


def test_unknown_query_locator_is_invalid(api: RawApi) -> None:
    assert_error(api.get("/query/01g5g0000000001AAA-2000"), 400, "INVALID_QUERY_LOCATOR")


def test_hostile_email_in_soql_matches_only_its_own_record(sf: Salesforce) -> None:
    hostile = "x' OR Email != 'y@example.com"
    sf.Lead.create(_lead(Email="plain@example.com"))
    # A quote in an email is legal; the record is created through the engine to skip validation.
    own = sf.Lead.create(_lead(LastName="Own", Email="o'brien@example.com"))["id"]
    escaped = hostile.replace("\\", "\\\\").replace("'", "\\'")
    assert sf.query(f"SELECT Id FROM Lead WHERE Email = '{escaped}'")["totalSize"] == 0
    quoted = "o\\'brien@example.com"
    found = sf.query(f"SELECT Id FROM Lead WHERE Email = '{quoted}'")["records"]
    assert [record["Id"] for record in found] == [own]


def test_email_comparison_is_case_insensitive(sf: Salesforce) -> None:
    lead_id = sf.Lead.create(_lead(Email="Mixed.Case@Example.com"))["id"]
    found = sf.query("SELECT Id FROM Lead WHERE Email = 'mixed.case@example.COM'")["records"]
    assert [record["Id"] for record in found] == [lead_id]


def test_malformed_query_and_unknown_column(api: RawApi) -> None:
    assert_error(api.get("/query", params={"q": "SELEC Id FROM Lead"}), 400, "MALFORMED_QUERY")
    body = assert_error(api.get("/query", params={"q": "SELECT Foo FROM Lead"}), 400,
                        "INVALID_FIELD")
    assert "No such column 'Foo'" in body["message"]


def test_query_all_sees_deleted_records(sf: Salesforce) -> None:
    lead_id = sf.Lead.create(_lead())["id"]
    sf.Lead.delete(lead_id)
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead_id}'"
    assert sf.query(soql)["totalSize"] == 0
    assert sf.query_all(soql, include_deleted=True)["records"][0]["IsDeleted"] is True


def test_every_rest_response_carries_limit_info(api: RawApi) -> None:
    ok = api.get("/limits")
    failed = api.get("/sobjects/NoSuchThing__c")
    for response in (ok, failed):
        match = LIMIT_INFO.match(response.headers["Sforce-Limit-Info"])
        assert match is not None
    assert LIMIT_INFO.match(failed.headers["Sforce-Limit-Info"]).group(1) == "2"


def test_limits_report_daily_api_requests(api: RawApi, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.set_daily_limit(500)
    body = api.get("/limits").json()
    assert body["DailyApiRequests"] == {"Max": 500, "Remaining": 499}
    assert "DataStorageMB" in body


def test_spent_daily_limit_is_request_limit_exceeded(sf: Salesforce, api: RawApi,
                                                     salesforce_sandbox: Any) -> None:
    salesforce_sandbox.set_daily_limit(2)
    api.get("/limits")
    api.get("/limits")
    refused = api.get("/limits")
    body = assert_error(refused, 403, "REQUEST_LIMIT_EXCEEDED")
    assert body["message"] == "TotalRequests Limit exceeded."
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/2"
    assert salesforce_sandbox.calls[-1]["counted_as_api_call"] is False
    with pytest.raises(Exception) as raised:
        sf.query("SELECT Id FROM Lead")
    assert "REQUEST_LIMIT_EXCEEDED" in str(raised.value)


def test_simple_salesforce_sees_malformed_request_as_its_exception(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Lead.create({"LastName": "OnlyName"})
    assert raised.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_expired_query_cursor_is_an_invalid_locator(sf: Salesforce, api: RawApi,
                                                    salesforce_sandbox: Any) -> None:
    for number in range(201):
        salesforce_sandbox.org.create("Lead", _lead(LastName=f"Cursor{number}"))
    first = api.get("/query", params={"q": "SELECT Id FROM Lead"},
                    headers={"Sforce-Query-Options": "batchSize=200"}).json()
    salesforce_sandbox.expire_query_cursors()
    assert_error(api.get(f"{salesforce_sandbox.instance_url}{first['nextRecordsUrl']}"), 400,
                 "INVALID_QUERY_LOCATOR")


def test_basic_info_is_cheap_with_many_records(api: RawApi, salesforce_sandbox: Any) -> None:
    for number in range(30):
        salesforce_sandbox.org.create("Lead", _lead(LastName=f"Recent{number}"))
    recent = api.get("/sobjects/Lead").json()["recentItems"]
    assert len(recent) == 10
    assert recent[0]["Name"] == "Recent29"


def test_responses_are_framed_for_keep_alive(api: RawApi, salesforce_sandbox: Any) -> None:
    lead_id = api.post("/sobjects/Lead/", json=_lead()).json()["id"]
    updated = api.patch(f"/sobjects/Lead/{lead_id}", json={"Title": "A"})
    assert updated.status_code == 204 and updated.content == b""
    assert "Content-Length" not in updated.headers
    fetched = api.get(f"/sobjects/Lead/{lead_id}")
    assert fetched.headers["Content-Length"] == str(len(fetched.content))
    assert fetched.headers["Content-Type"].startswith("application/json")
    logged = salesforce_sandbox.calls[-3:]
    assert [call["status"] for call in logged] == [201, 204, 200]
