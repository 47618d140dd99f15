"""The sandbox org engine: ids, Salesforce's validation errors, upsert, conversion, describe,
replication, persistence and concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wagtail_salesforce.sandbox import ids
from wagtail_salesforce.sandbox.engine import Org, SfApiError
from wagtail_salesforce.sandbox.orgfile import OrgDefinition, definition_from_mapping

V = "62.0"
NOW = datetime(2026, 11, 29, 1, 24, 2, tzinfo=UTC)

ORG_FILE = {
    "objects": {
        "Lead": {
            "fields": {
                "Submission_Id__c": {
                    "type": "string", "length": 64, "external_id": True, "unique": True,
                },
                "Legacy_Key__c": {"type": "string", "length": 20, "external_id": True},
                "Rating__c": {"type": "picklist", "values": ["Hot", "Warm", "Cold"],
                              "restricted": True},
                "Score__c": {"type": "int"},
                "Topics__c": {"type": "multipicklist", "values": ["Web", "Data"],
                              "restricted": True},
                "Seen_At__c": {"type": "datetime"},
            },
            "record_types": [
                {"developer_name": "Web_Inquiry", "name": "Web Inquiry", "default": True},
                {"developer_name": "Retired", "name": "Retired", "active": False},
            ],
            "duplicate_rules": [{"name": "Lead email", "fields": ["Email"], "action": "block"}],
        },
        "Event_Registration__c": {
            "label": "Event registration",
            "fields": {"Email__c": {"type": "email"}},
        },
    }
}  # fmt: skip


class Clock:
    def __init__(self, moment: datetime = NOW) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def definition() -> OrgDefinition:
    return definition_from_mapping(ORG_FILE)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def org(definition: OrgDefinition, clock: Clock) -> Org:
    return Org(definition, clock=clock)


def lead(org: Org, last: str = "Doe", **values: Any) -> str:
    return org.create("Lead", {"LastName": last, "Company": "Acme", **values})


def api_error(call: Any, *args: Any, **kwargs: Any) -> SfApiError:
    with pytest.raises(SfApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def shape(error: SfApiError) -> tuple[int, str, str, list[str]]:
    return error.status, error.error_code, error.message, error.fields


def campaign_id(org: Org) -> str:
    return org.query("SELECT Id FROM Campaign WHERE Name = 'Autumn Webinar'", False, V).page(0, 1)[
        0
    ]["Id"]


# --- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        # Published examples of Salesforce's 15 -> 18 conversion.
        ("001M000000qfPyS", "001M000000qfPySIAU"),
        ("a01M00000062mPg", "a01M00000062mPgIAI"),
        ("a0FE000000D6r3F", "a0FE000000D6r3FMAR"),
        ("0019000000B98de", "0019000000B98deAAB"),
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
        ("001000000000001", "001000000000001AAA"),
        ("AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnOVKV"),
        ("aBcDEfgHIJKLMNO", "aBcDEfgHIJKLMNO025"),
    ],
)
def test_fifteen_character_ids_get_salesforces_checksum(id15: str, id18: str) -> None:
    assert ids.to_18(id15) == id18
    assert ids.to_18(id18) == id18


def test_an_eighteen_character_id_with_a_wrong_suffix_is_invalid() -> None:
    assert ids.is_valid_id("001M000000qfPySIAU")
    assert not ids.is_valid_id("001M000000qfPySAAA")
    assert not ids.is_valid_id("001M000000qfPy")
    assert not ids.is_valid_id("001M000000qfPy-")


def test_minted_ids_carry_prefix_pod_counter_and_checksum() -> None:
    minted = ids.make_id("00Q", 62)
    assert minted == "00Q5g0000000010" + ids.checksum_suffix("00Q5g0000000010")
    assert ids.key_prefix(minted) == "00Q"
    assert ids.counter_of(minted) == 62
    assert ids.is_valid_id(minted)


def test_created_records_get_18_character_ids_with_their_objects_key_prefix(org: Org) -> None:
    lead_id = lead(org)
    account_id = org.create("Account", {"Name": "Acme"})
    assert (len(lead_id), lead_id[:3], ids.is_valid_id(lead_id)) == (18, "00Q", True)
    assert account_id[:3] == "001"
    assert campaign_id(org)[:3] == "701"


def test_custom_objects_get_a_stable_key_prefix(definition: OrgDefinition) -> None:
    prefix = definition.objects["Event_Registration__c"].key_prefix
    again = definition_from_mapping(ORG_FILE).objects["Event_Registration__c"].key_prefix
    assert prefix == again
    assert prefix.startswith("a")
    assert prefix not in {o.key_prefix for o in definition.objects.values() if not o.custom}


def test_fifteen_character_ids_are_accepted_for_get_update_and_delete(org: Org) -> None:
    lead_id = lead(org)
    assert org.get("Lead", lead_id[:15], ["Id"], V)["Id"] == lead_id
    org.update("Lead", lead_id[:15], {"Title": "CTO"})
    assert org.get("Lead", lead_id, ["Title"], V)["Title"] == "CTO"
    org.delete("Lead", lead_id[:15])
    assert org.count("Lead") == 0


# --- defaults and values ---------------------------------------------------------------------


def test_new_lead_gets_salesforce_defaults(org: Org) -> None:
    lead_id = lead(org, "Doe", FirstName="Jo")
    record = org.get("Lead", lead_id, None, V)
    web_inquiry = org.query(
        "SELECT Id FROM RecordType WHERE DeveloperName = 'Web_Inquiry'", False, V
    ).page(0, 1)[0]["Id"]
    admin = org.authenticate_user("admin@sandbox.example", "sandbox-password")
    assert admin is not None
    assert record["Name"] == "Jo Doe"
    assert record["Status"] == "Open - Not Contacted"
    assert record["IsConverted"] is False
    assert record["IsDeleted"] is False
    assert record["RecordTypeId"] == web_inquiry
    assert record["OwnerId"] == admin["Id"]
    assert record["CreatedDate"] == "2026-11-29T01:24:02.000+0000"
    assert record["SystemModstamp"] == record["LastModifiedDate"] == record["CreatedDate"]
    assert record["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v62.0/sobjects/Lead/{lead_id}",
    }


def test_empty_text_is_stored_as_null(org: Org) -> None:
    lead_id = lead(org, Title="")
    assert org.get("Lead", lead_id, ["Title"], V)["Title"] is None


def test_datetime_values_are_stored_in_utc_salesforce_format(org: Org) -> None:
    lead_id = lead(org, Seen_At__c="2026-11-29T10:24:02.5+09:00")
    assert org.get("Lead", lead_id, ["Seen_At__c"], V)["Seen_At__c"] == (
        "2026-11-29T01:24:02.500+0000"
    )


def test_update_moves_last_modified_and_systemmodstamp(org: Org, clock: Clock) -> None:
    lead_id = lead(org)
    clock.advance(minutes=3)
    org.update("Lead", lead_id, {"Title": "CTO"})
    record = org.get("Lead", lead_id, ["CreatedDate", "LastModifiedDate", "SystemModstamp"], V)
    assert record["CreatedDate"] == "2026-11-29T01:24:02.000+0000"
    assert record["LastModifiedDate"] == record["SystemModstamp"] == "2026-11-29T01:27:02.000+0000"


def test_field_names_in_values_are_case_insensitive(org: Org) -> None:
    lead_id = org.create("Lead", {"lastname": "Doe", "COMPANY": "Acme"})
    assert org.get("Lead", lead_id, ["LastName", "Company"], V)["Company"] == "Acme"


# --- validation errors -----------------------------------------------------------------------


def test_unknown_field_is_invalid_field(org: Org) -> None:
    error = api_error(org.create, "Lead", {"LastName": "Doe", "Company": "A", "Foo": 1})
    assert shape(error) == (
        400,
        "INVALID_FIELD",
        "No such column 'Foo' on sobject of type Lead",
        [],
    )


def test_read_only_field_is_invalid_field_for_insert_update(org: Org) -> None:
    error = api_error(org.create, "Lead", {"LastName": "Doe", "Company": "A", "IsConverted": True})
    assert shape(error) == (
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "Unable to create/update fields: IsConverted. Please check the security settings of this "
        "field and verify that it is read/write for your profile or permission set.",
        ["IsConverted"],
    )


def test_non_updateable_field_is_rejected_on_update(org: Org) -> None:
    member_id = org.create("CampaignMember", {"CampaignId": campaign_id(org), "LeadId": lead(org)})
    error = api_error(org.update, "CampaignMember", member_id, {"LeadId": lead(org, "Other")})
    assert (error.error_code, error.fields) == ("INVALID_FIELD_FOR_INSERT_UPDATE", ["LeadId"])


def test_missing_required_field(org: Org) -> None:
    error = api_error(org.create, "Lead", {"LastName": "Doe"})
    assert shape(error) == (
        400,
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Company]",
        ["Company"],
    )


def test_all_missing_required_fields_are_listed(org: Org) -> None:
    error = api_error(org.create, "Lead", {"FirstName": "Jo"})
    assert (error.message, error.fields) == (
        "Required fields are missing: [LastName, Company]",
        ["LastName", "Company"],
    )


def test_clearing_a_required_field_on_update_is_rejected(org: Org) -> None:
    error = api_error(org.update, "Lead", lead(org), {"Company": None})
    assert (error.error_code, error.fields) == ("REQUIRED_FIELD_MISSING", ["Company"])


def test_string_too_long_uses_the_field_label(org: Org) -> None:
    long_name = "x" * 81
    error = api_error(org.create, "Lead", {"LastName": long_name, "Company": "A"})
    assert shape(error) == (
        400,
        "STRING_TOO_LONG",
        f"Last Name: data value too large: {long_name} (max length=80)",
        ["LastName"],
    )


def test_string_at_the_maximum_length_is_accepted(org: Org) -> None:
    lead_id = lead(org, "x" * 80)
    assert org.get("Lead", lead_id, ["LastName"], V)["LastName"] == "x" * 80


def test_invalid_email_address(org: Org) -> None:
    error = api_error(org.create, "Lead", {"LastName": "D", "Company": "A", "Email": "not-mail"})
    assert shape(error) == (
        400,
        "INVALID_EMAIL_ADDRESS",
        "Email: invalid email address: not-mail",
        ["Email"],
    )


def test_bad_value_for_restricted_picklist(org: Org) -> None:
    error = api_error(
        org.create, "Lead", {"LastName": "D", "Company": "A", "Rating__c": "Lukewarm"}
    )
    assert shape(error) == (
        400,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "Rating: bad value for restricted picklist field: Lukewarm",
        ["Rating__c"],
    )


def test_restricted_multipicklist_checks_every_value(org: Org) -> None:
    lead_id = lead(org, Topics__c="Web;Data")
    assert org.get("Lead", lead_id, ["Topics__c"], V)["Topics__c"] == "Web;Data"
    error = api_error(
        org.create, "Lead", {"LastName": "D", "Company": "A", "Topics__c": "Web;Cooking"}
    )
    assert (error.error_code, error.message, error.fields) == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "Topics: bad value for restricted picklist field: Cooking",
        ["Topics__c"],
    )


def test_unrestricted_picklist_accepts_any_value(org: Org) -> None:
    lead_id = lead(org, LeadSource="Carrier pigeon")
    assert org.get("Lead", lead_id, ["LeadSource"], V)["LeadSource"] == "Carrier pigeon"


def test_string_for_a_boolean_is_a_json_parser_error(org: Org) -> None:
    error = api_error(org.create, "Campaign", {"Name": "C", "IsActive": "true"})
    assert shape(error) == (
        400,
        "JSON_PARSER_ERROR",
        "Cannot deserialize instance of boolean from VALUE_STRING value true or request may be "
        "missing a required field",
        [],
    )


def test_non_numeric_string_for_an_int_is_a_json_parser_error(org: Org) -> None:
    error = api_error(org.create, "Lead", {"LastName": "D", "Company": "A", "Score__c": "lots"})
    assert error.error_code == "JSON_PARSER_ERROR"
    assert error.message.startswith(
        "Cannot deserialize instance of int from VALUE_STRING value lots"
    )


def test_numeric_string_for_an_int_is_accepted(org: Org) -> None:
    lead_id = lead(org, Score__c="42")
    assert org.get("Lead", lead_id, ["Score__c"], V)["Score__c"] == 42


def test_unparseable_datetime_is_a_json_parser_error(org: Org) -> None:
    error = api_error(org.create, "Lead", {"LastName": "D", "Company": "A", "Seen_At__c": "soon"})
    assert error.error_code == "JSON_PARSER_ERROR"
    assert "instance of datetime from VALUE_STRING value soon" in error.message


def test_unknown_record_type_is_an_invalid_cross_reference(org: Org) -> None:
    bogus = ids.make_id("012", 999)
    error = api_error(org.create, "Lead", {"LastName": "D", "Company": "A", "RecordTypeId": bogus})
    assert shape(error) == (
        400,
        "INVALID_CROSS_REFERENCE_KEY",
        f"Record Type ID: this ID value isn't valid for the user: {bogus}",
        ["RecordTypeId"],
    )


def test_inactive_record_type_is_an_invalid_cross_reference(org: Org) -> None:
    retired = org.query("SELECT Id FROM RecordType WHERE DeveloperName = 'Retired'", False, V).page(
        0, 1
    )[0]["Id"]
    error = api_error(
        org.create, "Lead", {"LastName": "D", "Company": "A", "RecordTypeId": retired}
    )
    assert (error.error_code, error.fields) == ("INVALID_CROSS_REFERENCE_KEY", ["RecordTypeId"])


def test_campaign_member_with_unknown_campaign_is_an_invalid_cross_reference(org: Org) -> None:
    missing_campaign = ids.make_id("701", 999)
    error = api_error(
        org.create, "CampaignMember", {"CampaignId": missing_campaign, "LeadId": lead(org)}
    )
    assert shape(error) == (
        400,
        "INVALID_CROSS_REFERENCE_KEY",
        "invalid cross reference id",
        ["CampaignId"],
    )


def test_reference_to_a_deleted_record_is_an_invalid_cross_reference(org: Org) -> None:
    gone = lead(org, "Gone")
    org.delete("Lead", gone)
    error = api_error(
        org.create, "CampaignMember", {"CampaignId": campaign_id(org), "LeadId": gone}
    )
    assert (error.error_code, error.fields) == ("INVALID_CROSS_REFERENCE_KEY", ["LeadId"])


def test_malformed_id_in_a_reference_field(org: Org) -> None:
    error = api_error(org.create, "Contact", {"LastName": "D", "AccountId": "nonsense"})
    assert shape(error) == (
        400,
        "MALFORMED_ID",
        "Account ID: id value of incorrect type: nonsense",
        ["AccountId"],
    )


def test_id_of_the_wrong_object_in_a_reference_field(org: Org) -> None:
    error = api_error(org.create, "Contact", {"LastName": "D", "AccountId": lead(org)})
    assert (error.error_code, error.fields) == ("FIELD_INTEGRITY_EXCEPTION", ["AccountId"])


def test_second_membership_of_the_same_lead_is_a_duplicate_value(org: Org) -> None:
    lead_id = lead(org)
    org.create("CampaignMember", {"CampaignId": campaign_id(org), "LeadId": lead_id})
    error = api_error(
        org.create, "CampaignMember", {"CampaignId": campaign_id(org), "LeadId": lead_id}
    )
    assert shape(error) == (400, "DUPLICATE_VALUE", "Already a campaign member.", [])


def test_same_lead_may_join_another_campaign(org: Org) -> None:
    lead_id = lead(org)
    other = org.create("Campaign", {"Name": "Spring"})
    org.create("CampaignMember", {"CampaignId": campaign_id(org), "LeadId": lead_id})
    org.create("CampaignMember", {"CampaignId": other, "LeadId": lead_id})
    assert org.count("CampaignMember") == 2


def test_duplicate_unique_field_value(org: Org) -> None:
    first = lead(org, Submission_Id__c="sub-1")
    error = api_error(
        org.create, "Lead", {"LastName": "D", "Company": "A", "Submission_Id__c": "SUB-1"}
    )
    assert shape(error) == (
        400,
        "DUPLICATE_VALUE",
        f"duplicate value found: Submission_Id__c duplicates value on record with id: {first}",
        ["Submission_Id__c"],
    )


def test_blocking_duplicate_rule_matches_case_insensitively(org: Org) -> None:
    lead(org, Email="jo@example.com")
    error = api_error(
        org.create, "Lead", {"LastName": "D", "Company": "A", "Email": "JO@Example.com"}
    )
    assert shape(error) == (400, "DUPLICATES_DETECTED", "Use one of these records?", [])


def test_duplicate_rule_does_not_block_updating_the_record_itself(org: Org) -> None:
    lead_id = lead(org, Email="jo@example.com")
    org.update("Lead", lead_id, {"Email": "JO@example.com", "Title": "CTO"})
    assert org.get("Lead", lead_id, ["Email"], V)["Email"] == "JO@example.com"


def test_updating_a_converted_lead_is_rejected(org: Org) -> None:
    lead_id = lead(org)
    org.convert_lead(lead_id)
    error = api_error(org.update, "Lead", lead_id, {"Title": "CTO"})
    assert shape(error) == (
        400,
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "cannot reference converted lead",
        [],
    )


def test_adding_a_converted_lead_to_a_campaign_is_rejected(org: Org) -> None:
    lead_id = lead(org)
    org.convert_lead(lead_id)
    error = api_error(
        org.create, "CampaignMember", {"CampaignId": campaign_id(org), "LeadId": lead_id}
    )
    assert shape(error) == (
        400,
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "cannot reference converted lead",
        ["LeadId"],
    )


@pytest.mark.parametrize("operation", ["get", "update", "delete"])
def test_deleted_record_is_entity_is_deleted(org: Org, operation: str) -> None:
    lead_id = lead(org)
    org.delete("Lead", lead_id)
    calls = {
        "get": lambda: org.get("Lead", lead_id, None, V),
        "update": lambda: org.update("Lead", lead_id, {"Title": "x"}),
        "delete": lambda: org.delete("Lead", lead_id),
    }
    error = api_error(calls[operation])
    assert shape(error) == (404, "ENTITY_IS_DELETED", "entity is deleted", [])


@pytest.mark.parametrize("operation", ["get", "update", "delete"])
def test_unknown_id_is_not_found(org: Org, operation: str) -> None:
    missing = ids.make_id("00Q", 12345)
    calls = {
        "get": lambda: org.get("Lead", missing, None, V),
        "update": lambda: org.update("Lead", missing, {"Title": "x"}),
        "delete": lambda: org.delete("Lead", missing),
    }
    error = api_error(calls[operation])
    assert shape(error) == (404, "NOT_FOUND", "The requested resource does not exist", [])


def test_syntactically_bad_id_is_malformed_id(org: Org) -> None:
    error = api_error(org.update, "Lead", "00Q-not-an-id", {"Title": "x"})
    assert shape(error) == (
        400,
        "MALFORMED_ID",
        "Lead ID: id value of incorrect type: 00Q-not-an-id",
        ["Id"],
    )


def test_unknown_sobject_is_not_found(org: Org) -> None:
    error = api_error(org.create, "Opportunity__x", {"Name": "x"})
    assert (error.status, error.error_code) == (404, "NOT_FOUND")


def test_sobject_names_are_resolved_case_insensitively(org: Org) -> None:
    assert org.sobject_name("campaignmember") == "CampaignMember"


def test_get_with_an_unknown_field_is_invalid_field(org: Org) -> None:
    error = api_error(org.get, "Lead", lead(org), ["Nope"], V)
    assert error.error_code == "INVALID_FIELD"
    assert error.message.startswith("No such column 'Nope' on entity 'Lead'.")


def test_error_json_omits_empty_fields() -> None:
    assert SfApiError(404, "NOT_FOUND", "gone").to_json() == [
        {"message": "gone", "errorCode": "NOT_FOUND"}
    ]
    assert SfApiError(400, "REQUIRED_FIELD_MISSING", "m", ["Company"]).to_json() == [
        {"message": "m", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Company"]}
    ]


# --- campaign members -------------------------------------------------------------------------


def test_new_campaign_gets_sent_and_responded_member_statuses(org: Org) -> None:
    statuses = org.query(
        f"SELECT Label, IsDefault, HasResponded FROM CampaignMemberStatus "
        f"WHERE CampaignId = '{campaign_id(org)}' ORDER BY Label DESC",
        False,
        V,
    ).page(0, 9)
    assert [(s["Label"], s["IsDefault"], s["HasResponded"]) for s in statuses] == [
        ("Sent", True, False),
        ("Responded", False, True),
    ]


def test_campaign_member_status_defaults_to_the_campaigns_default(org: Org) -> None:
    member_id = org.create("CampaignMember", {"CampaignId": campaign_id(org), "LeadId": lead(org)})
    record = org.get("CampaignMember", member_id, ["Status", "HasResponded"], V)
    assert (record["Status"], record["HasResponded"]) == ("Sent", False)


def test_campaign_member_status_responded_marks_a_response(org: Org) -> None:
    member_id = org.create(
        "CampaignMember",
        {"CampaignId": campaign_id(org), "LeadId": lead(org), "Status": "responded"},
    )
    record = org.get("CampaignMember", member_id, ["Status", "HasResponded"], V)
    assert (record["Status"], record["HasResponded"]) == ("Responded", True)


def test_campaign_member_status_must_be_one_of_the_campaigns_labels(org: Org) -> None:
    error = api_error(
        org.create,
        "CampaignMember",
        {"CampaignId": campaign_id(org), "LeadId": lead(org), "Status": "Attended"},
    )
    assert shape(error) == (
        400,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "Status: bad value for restricted picklist field: Attended",
        ["Status"],
    )


def test_campaign_member_needs_a_lead_or_a_contact(org: Org) -> None:
    error = api_error(org.create, "CampaignMember", {"CampaignId": campaign_id(org)})
    assert shape(error) == (
        400,
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [LeadId, ContactId]",
        ["LeadId", "ContactId"],
    )


def test_campaign_member_needs_a_campaign(org: Org) -> None:
    error = api_error(org.create, "CampaignMember", {"LeadId": lead(org)})
    assert shape(error) == (
        400,
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [CampaignId]",
        ["CampaignId"],
    )


# --- upsert ----------------------------------------------------------------------------------


def test_upsert_without_a_match_creates(org: Org) -> None:
    record_id, created = org.upsert(
        "Lead", "Submission_Id__c", "sub-9", {"LastName": "D", "Company": "A"}
    )
    assert created is True
    assert org.get("Lead", record_id, ["Submission_Id__c"], V)["Submission_Id__c"] == "sub-9"


def test_upsert_with_one_match_updates(org: Org) -> None:
    existing = lead(org, Submission_Id__c="sub-9")
    record_id, created = org.upsert("Lead", "submission_id__c", "SUB-9", {"Title": "CTO"})
    assert (record_id, created) == (existing, False)
    assert org.get("Lead", existing, ["Title"], V)["Title"] == "CTO"


def test_upsert_with_several_matches_answers_300_with_record_urls(org: Org) -> None:
    first = lead(org, "A", Legacy_Key__c="k1")
    second = lead(org, "B", Legacy_Key__c="K1")
    error = api_error(org.upsert, "Lead", "Legacy_Key__c", "k1", {"Title": "x"})
    assert (error.status, error.error_code) == (300, "MULTIPLE_CHOICES")
    assert error.record_urls == [
        f"/services/data/v62.0/sobjects/Lead/{first}",
        f"/services/data/v62.0/sobjects/Lead/{second}",
    ]


def test_upsert_on_a_field_that_is_not_an_external_id_is_not_found(org: Org) -> None:
    error = api_error(org.upsert, "Lead", "Title", "x", {"LastName": "D", "Company": "A"})
    assert shape(error) == (
        404,
        "NOT_FOUND",
        "Provided external ID field does not exist or is not accessible: Title",
        [],
    )


def test_upsert_ignores_deleted_matches(org: Org) -> None:
    gone = lead(org, Submission_Id__c="sub-1")
    org.delete("Lead", gone)
    record_id, created = org.upsert(
        "Lead", "Submission_Id__c", "sub-1", {"LastName": "New", "Company": "A"}
    )
    assert created is True
    assert record_id != gone


# --- conversion ------------------------------------------------------------------------------


def test_converting_a_lead_creates_contact_and_account(org: Org) -> None:
    lead_id = lead(org, "Doe", FirstName="Jo", Email="jo@example.com", Company="Acme Corp")
    result = org.convert_lead(lead_id)
    converted = org.get("Lead", lead_id, None, V)
    contact = org.get("Contact", result["contactId"], None, V)
    account = org.get("Account", result["accountId"], None, V)
    assert (converted["IsConverted"], converted["ConvertedDate"]) == (True, "2026-11-29")
    assert converted["ConvertedContactId"] == result["contactId"]
    assert converted["ConvertedAccountId"] == result["accountId"]
    assert (contact["FirstName"], contact["LastName"], contact["Email"]) == (
        "Jo",
        "Doe",
        "jo@example.com",
    )
    assert contact["AccountId"] == account["Id"]
    assert account["Name"] == "Acme Corp"


def test_converting_into_an_existing_contact_uses_its_account(org: Org) -> None:
    account_id = org.create("Account", {"Name": "Existing"})
    contact_id = org.create("Contact", {"LastName": "Doe", "AccountId": account_id})
    result = org.convert_lead(lead(org), contact_id=contact_id)
    assert result == {"contactId": contact_id, "accountId": account_id}
    assert org.count("Contact") == 1


def test_converting_twice_is_rejected(org: Org) -> None:
    lead_id = lead(org)
    org.convert_lead(lead_id)
    error = api_error(org.convert_lead, lead_id)
    assert error.error_code == "CANNOT_UPDATE_CONVERTED_LEAD"


# --- delete ----------------------------------------------------------------------------------


def test_delete_is_soft_and_keeps_the_row_for_query_all(org: Org) -> None:
    lead_id = lead(org)
    org.delete("Lead", lead_id)
    assert org.count("Lead") == 0
    assert org.records("Lead") == []
    assert [r["IsDeleted"] for r in org.records("Lead", include_deleted=True)] == [True]


def test_deleting_a_lead_deletes_its_campaign_memberships(org: Org) -> None:
    lead_id = lead(org)
    org.create("CampaignMember", {"CampaignId": campaign_id(org), "LeadId": lead_id})
    org.delete("Lead", lead_id)
    assert org.count("CampaignMember") == 0


# --- describe --------------------------------------------------------------------------------


def test_describe_lists_fields_with_salesforce_attributes(org: Org) -> None:
    described = org.describe("lead")
    fields = {f["name"]: f for f in described["fields"]}
    last_name = fields["LastName"]
    assert {k: last_name[k] for k in ("label", "type", "length", "nillable", "createable",
                                       "updateable", "unique", "externalId")} == {
        "label": "Last Name", "type": "string", "length": 80, "nillable": False,
        "createable": True, "updateable": True, "unique": False, "externalId": False,
    }  # fmt: skip
    assert fields["Submission_Id__c"]["externalId"] is True
    assert fields["IsConverted"]["createable"] is False
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["Status"]["defaultedOnCreate"] is True
    assert fields["Rating__c"]["restrictedPicklist"] is True
    assert fields["Rating__c"]["picklistValues"][0] == {
        "value": "Hot", "label": "Hot", "active": True, "defaultValue": False, "validFor": None,
    }  # fmt: skip


def test_describe_lists_record_types_and_the_master(org: Org) -> None:
    infos = org.describe("Lead")["recordTypeInfos"]
    by_name = {info["developerName"]: info for info in infos}
    assert set(by_name) == {"Web_Inquiry", "Retired", "Master"}
    assert by_name["Web_Inquiry"]["defaultRecordTypeMapping"] is True
    assert by_name["Retired"]["active"] is False
    assert by_name["Master"] == {
        "recordTypeId": "012000000000000AAA",
        "name": "Master",
        "developerName": "Master",
        "available": False,
        "active": True,
        "defaultRecordTypeMapping": False,
        "master": True,
        "urls": {
            "layout": "/services/data/v62.0/sobjects/Lead/describe/layouts/012000000000000AAA"
        },
    }


def test_describe_of_an_object_without_record_types_makes_master_the_default(org: Org) -> None:
    (info,) = org.describe("Account")["recordTypeInfos"]
    assert (info["master"], info["available"], info["defaultRecordTypeMapping"]) == (
        True,
        True,
        True,
    )


def test_describe_global_lists_standard_and_custom_objects(org: Org) -> None:
    sobjects = {s["name"]: s for s in org.describe_global()["sobjects"]}
    assert sobjects["Lead"]["keyPrefix"] == "00Q"
    assert sobjects["CampaignMember"]["keyPrefix"] == "00v"
    assert sobjects["Event_Registration__c"]["custom"] is True
    assert sobjects["Event_Registration__c"]["label"] == "Event registration"
    assert sobjects["Lead"]["urls"]["describe"] == "/services/data/v62.0/sobjects/Lead/describe"
    assert sobjects["User"]["createable"] is False


def test_describe_of_unknown_object_is_not_found(org: Org) -> None:
    assert api_error(org.describe, "Nope").error_code == "NOT_FOUND"


# --- replication (updated / deleted) ----------------------------------------------------------


def test_updated_lists_ids_changed_in_the_window(org: Org, clock: Clock) -> None:
    early = lead(org, "Early")
    clock.advance(minutes=10)
    late = lead(org, "Late")
    clock.advance(minutes=10)
    result = org.updated("Lead", NOW + timedelta(minutes=5), clock.moment)
    assert result == {"ids": [late], "latestDateCovered": "2026-11-29T01:44:00.000+0000"}
    assert early not in org.updated("Lead", NOW + timedelta(minutes=5), clock.moment)["ids"]


def test_deleted_lists_deleted_records_with_their_dates(org: Org, clock: Clock) -> None:
    lead_id = lead(org)
    clock.advance(minutes=2)
    org.delete("Lead", lead_id)
    clock.advance(minutes=2)
    result = org.deleted("Lead", NOW - timedelta(minutes=1), clock.moment)
    assert result["deletedRecords"] == [
        {"id": lead_id, "deletedDate": "2026-11-29T01:26:02.000+0000"}
    ]
    assert result["latestDateCovered"] == "2026-11-29T01:28:00.000+0000"
    assert result["earliestDateAvailable"] <= "2026-11-29T01:24:02.000+0000"


def test_replication_start_more_than_30_days_ago_is_rejected(org: Org) -> None:
    error = api_error(org.updated, "Lead", NOW - timedelta(days=31), NOW)
    assert shape(error) == (
        400,
        "INVALID_REPLICATION_DATE",
        "startDate cannot be more than 30 days ago",
        [],
    )


def test_replication_end_before_start_is_rejected(org: Org) -> None:
    error = api_error(org.deleted, "Lead", NOW - timedelta(hours=1), NOW - timedelta(hours=2))
    assert shape(error) == (
        400,
        "INVALID_REPLICATION_DATE",
        "startDate must chronologically precede endDate",
        [],
    )


def test_replication_start_equal_to_end_is_rejected(org: Org) -> None:
    error = api_error(org.updated, "Lead", NOW - timedelta(hours=1), NOW - timedelta(hours=1))
    assert error.error_code == "INVALID_REPLICATION_DATE"


def test_replication_window_within_one_minute_is_empty_not_an_error(org: Org) -> None:
    lead(org)
    result = org.updated("Lead", NOW - timedelta(seconds=1), NOW)
    assert result == {"ids": [], "latestDateCovered": "2026-11-29T01:24:00.000+0000"}


# --- users, reset, persistence, threads ------------------------------------------------------


def test_authenticate_user_checks_the_password(org: Org) -> None:
    user = org.authenticate_user("ADMIN@sandbox.example", "sandbox-password")
    assert user is not None
    assert (user["Username"], user["Name"]) == ("admin@sandbox.example", "Sandy Admin")
    assert org.authenticate_user("admin@sandbox.example", "wrong") is None
    assert org.authenticate_user("nobody@sandbox.example", "sandbox-password") is None
    assert org.user(user["Id"])["Email"] == "admin@sandbox.example"


def test_reset_drops_records_and_reseeds(org: Org) -> None:
    lead(org)
    org.create("Campaign", {"Name": "Extra"})
    org.reset()
    assert org.count("Lead") == 0
    assert [c["Name"] for c in org.records("Campaign")] == ["Autumn Webinar"]
    assert org.authenticate_user("admin@sandbox.example", "sandbox-password") is not None


def test_records_survive_a_restart_through_the_sqlite_file(
    definition: OrgDefinition, clock: Clock, tmp_path: Path
) -> None:
    path = str(tmp_path / "org.sqlite3")
    first = Org(definition, data_path=path, clock=clock)
    kept = lead(first, "Kept", Email="kept@example.com")
    first.update("Lead", kept, {"Title": "CTO"})
    gone = lead(first, "Gone")
    first.delete("Lead", gone)
    first.close()

    second = Org(definition, data_path=path, clock=clock)
    assert second.get("Lead", kept, ["LastName", "Title", "Email"], V) == {
        "attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{kept}"},
        "LastName": "Kept",
        "Title": "CTO",
        "Email": "kept@example.com",
    }
    assert [r["Id"] for r in second.records("Lead", include_deleted=True) if r["IsDeleted"]] == [
        gone
    ]
    clock.advance(minutes=2)
    deleted = second.deleted("Lead", NOW - timedelta(minutes=1), clock.moment)
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone]
    assert [c["Name"] for c in second.records("Campaign")] == ["Autumn Webinar"]  # not re-seeded
    newer = lead(second, "Newer")
    assert newer not in (kept, gone)
    assert ids.counter_of(newer) == ids.counter_of(gone) + 1
    second.close()


def test_concurrent_creates_get_distinct_ids(org: Org) -> None:
    created: list[str] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for i in range(50):
            record_id = lead(org, f"T{offset}-{i}")
            with lock:
                created.append(record_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(created)) == 200
    assert org.count("Lead") == 200


def test_a_file_that_is_not_a_database_is_reported_clearly(
    definition: OrgDefinition, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some notes\n" * 200, encoding="utf-8")
    with pytest.raises(ValueError, match="cannot use this file for the sandbox's records"):
        Org(definition, data_path=str(path))


def test_invalid_seed_data_names_the_record_and_the_error() -> None:
    definition = definition_from_mapping({"data": {"Lead": [{"LastName": "No company"}]}})
    with pytest.raises(ValueError) as caught:
        Org(definition)
    assert str(caught.value) == (
        "seed record data.Lead[0] is invalid: REQUIRED_FIELD_MISSING: "
        "Required fields are missing: [Company]"
    )


def test_a_rejected_create_does_not_use_up_an_id(org: Org) -> None:
    first = lead(org)
    with pytest.raises(SfApiError):
        org.create("Lead", {"LastName": "No company"})
    second = lead(org)
    assert ids.counter_of(second) == ids.counter_of(first) + 1


def test_default_clock_never_steps_back_when_the_wall_clock_does() -> None:
    from datetime import UTC, datetime, timedelta

    from wagtail_salesforce.sandbox import engine as engine_module

    start = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    wall = iter([start, start + timedelta(seconds=2), start + timedelta(seconds=1),
                 start + timedelta(seconds=3)])
    now = engine_module._wall_clock_never_backwards(lambda: next(wall))

    readings = [now() for _ in range(4)]

    assert readings == [start, start + timedelta(seconds=2), start + timedelta(seconds=2),
                        start + timedelta(seconds=3)]
