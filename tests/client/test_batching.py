"""sObject Collections, batched look-ups (and SOQL injection through them), composite queries."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from tests.client.conftest import calls_to, new_lead
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.client.operations import LOOKUP_MAX_CHARS, LOOKUP_MAX_VALUES
from wagtail_salesforce.client.soql import soql_in_batches, soql_quote
from wagtail_salesforce.exceptions import (
    ApiLimitExceeded,
    BatchOutcomeUnknown,
    QueryError,
    RecordRejected,
)

BAD_INDEXES = {0, 199, 200, 333, 449}


def test_collection_create_of_450_records_takes_3_calls_with_failures_at_their_indexes(
    client: SalesforceClient, salesforce_sandbox: Any
):
    records = [
        {"LastName": f"L{n}"} if n in BAD_INDEXES else new_lead(Email=f"c{n}@example.com")
        for n in range(450)
    ]

    results = client.collection_create("Lead", records)

    assert client.api_calls == 3
    assert [r.index for r in results] == list(range(450))
    failed = {r.index for r in results if not r.success}
    assert failed == BAD_INDEXES
    for result in results:
        if result.index in BAD_INDEXES:
            (error,) = result.errors
            assert isinstance(error, RecordRejected)
            assert error.error_code == "REQUIRED_FIELD_MISSING"
            assert error.fields == ["Company"]
            assert error.index == result.index
            assert result.id is None
        else:
            assert result.created is True and result.id and not result.errors
    assert salesforce_sandbox.org.count("Lead") == 450 - len(BAD_INDEXES)


def test_collection_update_reports_each_record(client: SalesforceClient, salesforce_sandbox: Any):
    ids = [r.id for r in client.collection_create("Lead", [new_lead() for _ in range(3)])]
    results = client.collection_update(
        "Lead",
        [
            {"Id": ids[0], "LastName": "One"},
            {"Id": ids[1], "Email": "not-an-email"},
            {"Id": ids[2], "LastName": "Three"},
        ],
    )
    assert [r.success for r in results] == [True, False, True]
    assert results[1].errors[0].error_code == "INVALID_EMAIL_ADDRESS"
    assert results[1].errors[0].index == 1
    assert salesforce_sandbox.org.get("Lead", ids[2], None, "62.0")["LastName"] == "Three"


def test_collection_upsert_reports_created_per_record(client: SalesforceClient):
    client.upsert("Lead", "External_Key__c", "k1", new_lead())
    results = client.collection_upsert(
        "Lead",
        "External_Key__c",
        [new_lead(External_Key__c="k1"), new_lead(External_Key__c="k2")],
    )
    assert [(r.success, r.created) for r in results] == [(True, False), (True, True)]


def test_collection_update_needs_ids(client: SalesforceClient):
    with pytest.raises(ValueError, match="Record 1 has no Id"):
        client.collection_update("Lead", [{"Id": "00Q000000000001AAA"}, {"LastName": "x"}])
    assert client.api_calls == 0


def test_a_lost_chunk_answer_raises_batch_outcome_unknown_with_the_earlier_results(
    credentials: Any, salesforce_sandbox: Any
):
    armed: list[bool] = []

    def lose_the_next_answer(_calls: int) -> None:
        # Runs as the first chunk's answer arrives: the second chunk's answer will be lost.
        if not armed:
            armed.append(True)
            salesforce_sandbox.faults.add(
                "lose_response", count=1, method="POST", path="/composite/sobjects"
            )

    client = SalesforceClient(credentials, on_api_call=lose_the_next_answer)
    records = [new_lead(Email=f"b{n}@example.com") for n in range(250)]

    with pytest.raises(BatchOutcomeUnknown) as caught:
        client.collection_create("Lead", records)

    error = caught.value
    assert (error.unknown_from, error.unknown_to) == (200, 250)
    assert [result.index for result in error.completed] == list(range(200))
    assert all(result.success for result in error.completed)
    # The lost chunk was committed and not repeated: the caller can find all 250 records.
    assert salesforce_sandbox.org.count("Lead") == 250


def test_hitting_the_api_limit_mid_batch_fails_the_rest_without_sending_it(
    credentials: Any, salesforce_sandbox: Any
):
    armed: list[bool] = []

    def spend_the_limit(_calls: int) -> None:
        if not armed:
            armed.append(True)
            salesforce_sandbox.faults.add("request_limit_exceeded", path="/composite/sobjects")

    client = SalesforceClient(credentials, on_api_call=spend_the_limit)

    results = client.collection_create("Lead", [new_lead() for _ in range(450)])

    assert [r.success for r in results] == [True] * 200 + [False] * 250
    for result in results[200:]:
        (error,) = result.errors
        assert isinstance(error, ApiLimitExceeded)
        assert error.index == result.index
    # The second chunk was refused once (not retried); the third was never sent.
    assert len(calls_to(salesforce_sandbox, "/composite/sobjects")) == 2
    assert salesforce_sandbox.org.count("Lead") == 200


def test_lookup_of_1000_emails_is_batched_and_keys_are_case_insensitive(
    client: SalesforceClient, salesforce_sandbox: Any
):
    emails = [f"Person{n}@Example.com" for n in range(1000)]
    for email in emails[:40]:
        salesforce_sandbox.org.create("Lead", new_lead(Email=email.lower()))
    # A duplicate: both records must come back for that key.
    salesforce_sandbox.org.create("Lead", new_lead(Email="PERSON7@EXAMPLE.COM"))

    found = client.lookup("Lead", "Email", emails, ["Id", "Email"])

    expected_batches = list(
        soql_in_batches(
            [e.lower() for e in emails], max_chars=LOOKUP_MAX_CHARS, max_values=LOOKUP_MAX_VALUES
        )
    )
    assert len(expected_batches) == 5
    assert client.api_calls == len(expected_batches)
    assert set(found) == {e.lower() for e in emails}
    assert len(found["person7@example.com"]) == 2
    assert all(len(found[e.lower()]) == 1 for e in emails[:40] if e != "Person7@Example.com")
    assert all(found[e.lower()] == [] for e in emails[40:])
    for request in calls_to(salesforce_sandbox, "/query"):
        assert len(request["path"]) + len(request["query"]) < 16_000


# Values a visitor may type into an email box. The first group are valid addresses (so they
# can sit in Email itself); the rest only fit a text field.
HOSTILE_VALID_EMAILS = [
    "o'brien@example.com",
    "x'or'1'='1@example.com",
    "a'||'b@example.com",
    "100%@example.com",
    "under_score@example.com",
]
HOSTILE_TEXT = [
    "x' OR Email != '",
    "x\\' OR Email != \\'",
    "back\\slash@example.com",
    "trailing\\",
    'quote"@example.com',
    "новый@пример.рф",
    "名前@例え.jp",
    "line\nbreak@example.com",
    "%",
    "_",
]


def _bystanders(sandbox: Any, field: str) -> None:
    for value in ["bystander@example.com", "100x@example.com", "underXscore@example.com"]:
        sandbox.org.create("Lead", new_lead(**{field: value}))


@pytest.mark.parametrize("hostile", HOSTILE_VALID_EMAILS)
def test_hostile_emails_match_only_their_own_record(
    client: SalesforceClient, salesforce_sandbox: Any, hostile: str
):
    own_id = salesforce_sandbox.org.create("Lead", new_lead(Email=hostile))
    _bystanders(salesforce_sandbox, "Email")

    found = client.lookup("Lead", "Email", [hostile], ["Id"])

    assert found == {hostile.lower(): [{"attributes": ANY, "Id": own_id, "Email": hostile}]}


@pytest.mark.parametrize("hostile", HOSTILE_TEXT)
def test_hostile_text_values_match_only_their_own_record(
    client: SalesforceClient, salesforce_sandbox: Any, hostile: str
):
    own_id = salesforce_sandbox.org.create("Lead", new_lead(Typed_Email__c=hostile))
    _bystanders(salesforce_sandbox, "Typed_Email__c")

    found = client.lookup("Lead", "Typed_Email__c", [hostile], ["Id"])

    assert [record["Id"] for record in found[hostile.lower()]] == [own_id]
    assert list(found) == [hostile.lower()]


@pytest.mark.parametrize("hostile", HOSTILE_TEXT)
def test_hostile_values_without_a_record_match_nothing(
    client: SalesforceClient, salesforce_sandbox: Any, hostile: str
):
    _bystanders(salesforce_sandbox, "Email")

    assert client.lookup("Lead", "Email", [hostile], ["Id"]) == {hostile.lower(): []}


def test_lookup_matches_field_names_whatever_their_case(
    client: SalesforceClient, salesforce_sandbox: Any
):
    lead_id = salesforce_sandbox.org.create("Lead", new_lead(Email="case@example.com"))

    found = client.lookup("Lead", "email", ["Case@Example.com"], ["Id", "EMAIL"])

    assert [record["Id"] for record in found["case@example.com"]] == [lead_id]


def test_lookup_skips_empty_values_that_soql_would_read_as_null(
    client: SalesforceClient, salesforce_sandbox: Any
):
    salesforce_sandbox.org.create("Lead", new_lead())  # no email
    assert client.lookup("Lead", "Email", ["", "nobody@example.com"], ["Id"]) == {
        "nobody@example.com": []
    }


def test_lookup_extra_where_narrows_the_match(client: SalesforceClient, salesforce_sandbox: Any):
    salesforce_sandbox.org.create("Lead", new_lead(Email="both@example.com", Company="Keep"))
    salesforce_sandbox.org.create("Lead", new_lead(Email="both@example.com", Company="Drop"))
    found = client.lookup(
        "Lead",
        "Email",
        ["both@example.com"],
        ["Company"],
        extra_where=f"Company = {soql_quote('Keep')}",
    )
    assert [record["Company"] for record in found["both@example.com"]] == ["Keep"]


def test_composite_query_runs_several_queries_in_one_call(
    client: SalesforceClient, salesforce_sandbox: Any
):
    salesforce_sandbox.org.create("Lead", new_lead(Email="one@example.com"))
    salesforce_sandbox.org.create("Contact", {"LastName": "Two", "Email": "two@example.com"})
    used_before = salesforce_sandbox.api_calls_used()

    results = client.composite_query(
        {
            "leads": "SELECT Email FROM Lead",
            "contacts": "SELECT Email FROM Contact",
            "campaigns": "SELECT Name FROM Campaign WHERE IsActive = true",
        }
    )

    assert client.api_calls == 1
    assert salesforce_sandbox.api_calls_used() - used_before == 1
    assert [r["Email"] for r in results["leads"]["records"]] == ["one@example.com"]
    assert [r["Email"] for r in results["contacts"]["records"]] == ["two@example.com"]
    assert results["campaigns"]["totalSize"] == 1


def test_composite_query_over_five_queries_is_chunked(client: SalesforceClient):
    results = client.composite_query({f"q{n}": "SELECT Id FROM Lead" for n in range(7)})
    assert sorted(results) == [f"q{n}" for n in range(7)]
    assert client.api_calls == 2


def test_composite_query_maps_a_failed_subrequest(client: SalesforceClient):
    with pytest.raises(QueryError) as caught:
        client.composite_query({"good": "SELECT Id FROM Lead", "bad": "SELECT FROM"})
    assert caught.value.error_code == "MALFORMED_QUERY"
