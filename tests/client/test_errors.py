"""Every Salesforce errorCode the sandbox produces arrives as the right exception class."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client.conftest import calls_to, new_lead
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.exceptions import (
    ApiDisabledForOrg,
    ApiLimitExceeded,
    ConvertedLead,
    DuplicateDetected,
    DuplicateValue,
    InsufficientAccess,
    NotFound,
    QueryError,
    RecordRejected,
)
from wagtail_salesforce.sandbox.ids import to_18


def test_required_field_missing_names_the_field(client: SalesforceClient):
    with pytest.raises(RecordRejected) as caught:
        client.create("Lead", {"LastName": "NoCompany"})
    error = caught.value
    assert error.error_code == "REQUIRED_FIELD_MISSING"
    assert error.status == 400
    assert error.fields == ["Company"]
    assert error.index is None


def test_string_too_long(client: SalesforceClient):
    with pytest.raises(RecordRejected) as caught:
        client.create("Lead", new_lead(LastName="x" * 81))
    assert caught.value.error_code == "STRING_TOO_LONG"
    assert caught.value.fields == ["LastName"]


def test_invalid_email_address(client: SalesforceClient):
    with pytest.raises(RecordRejected) as caught:
        client.create("Lead", new_lead(Email="not-an-email"))
    assert caught.value.error_code == "INVALID_EMAIL_ADDRESS"
    assert caught.value.fields == ["Email"]


def test_invalid_field_on_create(client: SalesforceClient):
    with pytest.raises(RecordRejected) as caught:
        client.create("Lead", new_lead(No_Such_Field__c="x"))
    assert caught.value.error_code == "INVALID_FIELD"
    assert "No_Such_Field__c" in caught.value.message


def test_invalid_field_in_a_query(client: SalesforceClient):
    with pytest.raises(RecordRejected) as caught:
        client.query("SELECT Id, No_Such_Field__c FROM Lead")
    assert caught.value.error_code == "INVALID_FIELD"
    assert caught.value.status == 400


def test_value_outside_a_restricted_picklist(client: SalesforceClient):
    with pytest.raises(RecordRejected) as caught:
        client.create("Lead", new_lead(Rating__c="Lukewarm"))
    assert caught.value.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert caught.value.fields == ["Rating__c"]


def test_invalid_cross_reference_key_for_a_bad_record_type(client: SalesforceClient):
    with pytest.raises(RecordRejected) as caught:
        client.create("Lead", new_lead(RecordTypeId="012000000000000AAA"))
    assert caught.value.error_code == "INVALID_CROSS_REFERENCE_KEY"


def test_duplicate_campaign_member_is_duplicate_value(
    client: SalesforceClient, salesforce_sandbox: Any
):
    campaign_id = salesforce_sandbox.org.records("Campaign")[0]["Id"]
    lead_id = client.create("Lead", new_lead())
    member = {"CampaignId": campaign_id, "LeadId": lead_id}
    client.create("CampaignMember", member)
    with pytest.raises(DuplicateValue) as caught:
        client.create("CampaignMember", member)
    assert caught.value.error_code == "DUPLICATE_VALUE"


def test_active_duplicate_rule_raises_duplicate_detected(client: SalesforceClient):
    client.create("Contact", {"LastName": "Twin", "Email": "twin@example.com"})
    with pytest.raises(DuplicateDetected) as caught:
        client.create("Contact", {"LastName": "Twin", "Email": "twin@example.com"})
    assert caught.value.error_code == "DUPLICATES_DETECTED"


def test_updating_a_converted_lead_raises_converted_lead(
    client: SalesforceClient, salesforce_sandbox: Any
):
    lead_id = client.create("Lead", new_lead())
    salesforce_sandbox.org.convert_lead(lead_id)
    with pytest.raises(ConvertedLead) as caught:
        client.update("Lead", lead_id, {"LastName": "Changed"})
    assert caught.value.error_code == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_missing_record_is_not_found(client: SalesforceClient):
    with pytest.raises(NotFound) as caught:
        client.get("Lead", to_18("00Q000000000001"))  # well-formed, never issued
    assert caught.value.status == 404
    assert caught.value.error_code == "NOT_FOUND"


def test_deleted_record_is_entity_is_deleted(client: SalesforceClient):
    lead_id = client.create("Lead", new_lead())
    client.delete("Lead", lead_id)
    with pytest.raises(NotFound) as caught:
        client.update("Lead", lead_id, {"LastName": "Ghost"})
    assert caught.value.error_code == "ENTITY_IS_DELETED"


def test_malformed_query(client: SalesforceClient):
    with pytest.raises(QueryError) as caught:
        client.query("SELECT FROM WHERE Lead")
    assert caught.value.error_code == "MALFORMED_QUERY"


def test_request_limit_exceeded_is_not_retried(client: SalesforceClient, salesforce_sandbox: Any):
    salesforce_sandbox.faults.add("request_limit_exceeded", count=1, path="/query")
    with pytest.raises(ApiLimitExceeded) as caught:
        client.query("SELECT Id FROM Lead")
    assert caught.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert caught.value.status == 403
    assert not caught.value.retryable
    # One request, not repeated, and (like Salesforce) not counted as a call.
    assert len(calls_to(salesforce_sandbox, "/query")) == 1
    assert client.api_calls == 0


def test_an_org_without_api_access_raises_api_disabled_for_org(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    salesforce_sandbox.set_api_enabled(False)
    with pytest.raises(ApiDisabledForOrg) as raised:
        client.limits()
    error = raised.value
    assert isinstance(error, InsufficientAccess)
    assert error.error_code == "API_DISABLED_FOR_ORG" and error.status == 403
    assert error.message == "The REST API is not enabled for this Organization."
    assert "add-on" in str(error.explanation) and "Edition" in str(error.explanation)
    assert len(calls_to(salesforce_sandbox, "/limits")) == 1  # not retried
    assert client.api_calls == 0  # refused before any work: not counted
