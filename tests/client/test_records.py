"""Single-record calls, queries and describe against the sandbox over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client.conftest import new_lead
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.exceptions import MultipleMatches, NotFound


def test_create_get_update_delete_round_trip(client: SalesforceClient, salesforce_sandbox: Any):
    lead_id = client.create("Lead", new_lead(Email="ada@example.com"))
    assert lead_id.startswith("00Q") and len(lead_id) == 18

    fetched = client.get("Lead", lead_id, fields=["Email", "LastName"])
    assert fetched["Email"] == "ada@example.com"
    assert fetched["LastName"] == "Lovelace"

    client.update("Lead", lead_id, {"LastName": "Byron"})
    assert salesforce_sandbox.org.get("Lead", lead_id, None, "62.0")["LastName"] == "Byron"

    client.delete("Lead", lead_id)
    with pytest.raises(NotFound):
        client.get("Lead", lead_id)


def test_upsert_reports_created_then_updated(client: SalesforceClient, salesforce_sandbox: Any):
    first = client.upsert("Lead", "External_Key__c", "ext-1", new_lead(Email="u@example.com"))
    assert first.created is True
    second = client.upsert("Lead", "External_Key__c", "ext-1", {"LastName": "Updated"})
    assert second.created is False
    assert second.id == first.id
    assert salesforce_sandbox.org.get("Lead", first.id, None, "62.0")["LastName"] == "Updated"


def test_upsert_on_an_api_version_before_46_still_reports_the_id(
    credentials: Any, salesforce_sandbox: Any
):
    credentials.api_version = "45.0"  # updates by upsert answer 204 without a body there
    client = SalesforceClient(credentials)
    first = client.upsert("Lead", "External_Key__c", "old api/1", new_lead())

    second = client.upsert("Lead", "External_Key__c", "old api/1", {"LastName": "Again"})

    assert (first.created, second.created) == (True, False)
    assert second.id == first.id


def test_upsert_value_with_slash_and_space_is_a_single_path_segment(client: SalesforceClient):
    result = client.upsert("Lead", "External_Key__c", "a/b c?d", new_lead())
    assert result.created is True
    assert client.get("Lead", result.id, fields=["External_Key__c"])["External_Key__c"] == (
        "a/b c?d"
    )


def test_upsert_matching_several_records_raises_multiple_matches(
    client: SalesforceClient, salesforce_sandbox: Any
):
    for _ in range(2):
        salesforce_sandbox.org.create("Lead", new_lead(Non_Unique_Key__c="shared"))
    with pytest.raises(MultipleMatches) as caught:
        client.upsert("Lead", "Non_Unique_Key__c", "shared", {"LastName": "X"})
    assert caught.value.status == 300


def test_query_iter_streams_every_page(client: SalesforceClient, salesforce_sandbox: Any):
    for n in range(2300):
        salesforce_sandbox.org.create("Lead", new_lead(Email=f"page{n}@example.com"))
    calls_before = client.api_calls
    emails = {record["Email"] for record in client.query_iter("SELECT Email FROM Lead")}
    assert len(emails) == 2300
    # Two pages of at most 2,000 records: the query and one queryMore.
    assert client.api_calls - calls_before == 2


def test_query_iter_with_deleted_includes_the_recycle_bin(client: SalesforceClient):
    lead_id = client.create("Lead", new_lead())
    client.delete("Lead", lead_id)
    live = list(client.query_iter(f"SELECT Id FROM Lead WHERE Id = '{lead_id}'"))
    everything = list(
        client.query_iter(
            f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead_id}'", include_deleted=True
        )
    )
    assert live == []
    assert [record["IsDeleted"] for record in everything] == [True]


def test_record_type_id_comes_from_describe_and_is_cached(client: SalesforceClient):
    record_type_id = client.record_type_id("Lead", "Web_Inquiry")
    assert record_type_id.startswith("012")
    calls = client.api_calls
    assert client.record_type_id("Lead", "Web_Inquiry") == record_type_id
    assert client.api_calls == calls


def test_describe_is_shared_between_clients_of_the_same_org(credentials: Any):
    first = SalesforceClient(credentials)
    second = SalesforceClient(credentials)
    first.describe("Lead")
    assert first.api_calls == 1
    assert second.describe("Lead")["name"] == "Lead"
    assert second.api_calls == 0


def test_unknown_record_type_raises_not_found(client: SalesforceClient):
    with pytest.raises(NotFound, match="No_Such_Type"):
        client.record_type_id("Lead", "No_Such_Type")


def test_describe_global_lists_lead(client: SalesforceClient):
    names = {entry["name"] for entry in client.describe_global()["sobjects"]}
    assert {"Lead", "Contact", "Campaign"} <= names


def test_limits_reports_daily_api_requests(client: SalesforceClient):
    daily = client.limits()["DailyApiRequests"]
    assert daily["Max"] > 0
    assert 0 <= daily["Remaining"] <= daily["Max"]


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("get", ("Lead", "00Q' OR 1=1")),
        ("get", ("Lead/../Contact", "00Q000000000001")),
        ("update", ("Lead", "../limits", {})),
        ("delete", ("Lead", "")),
    ],
)
def test_malformed_names_and_ids_are_refused_before_any_request(
    client: SalesforceClient, call: str, args: tuple[Any, ...]
):
    with pytest.raises(ValueError):
        getattr(client, call)(*args)
    assert client.api_calls == 0
