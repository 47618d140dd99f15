"""``/composite`` requests: ``queryAll`` subrequests, and sObject Collections writes batched five
to a call with per-record results at their indexes, chunking, lost answers and the API limit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client.conftest import calls_to, new_lead
from wagtail_salesforce.client import CollectionWrite, SalesforceClient
from wagtail_salesforce.exceptions import (
    ApiLimitExceeded,
    BatchOutcomeUnknown,
    NotFound,
    RecordRejected,
)

# The top-level /composite request only (its subrequests never reach the sandbox's log).
COMPOSITE = r"/composite$"


def composite_requests(sandbox: Any) -> list[dict[str, Any]]:
    return [call for call in calls_to(sandbox, "/composite") if call["path"].endswith("/composite")]


# --- queryAll ---------------------------------------------------------------------------------


def test_composite_query_including_deleted_sees_deleted_records_in_one_call(
    client: SalesforceClient, salesforce_sandbox: Any
):
    kept = salesforce_sandbox.org.create("Lead", new_lead(Email="kept@example.com"))
    deleted = salesforce_sandbox.org.create("Lead", new_lead(Email="gone@example.com"))
    contact = salesforce_sandbox.org.create("Contact", {"LastName": "Gone"})
    client.delete("Lead", deleted)
    client.delete("Contact", contact)
    queries = {
        "leads": "SELECT Id, IsDeleted FROM Lead ORDER BY Email DESC",
        "contacts": "SELECT Id, IsDeleted FROM Contact",
    }
    calls_before = client.api_calls

    with_deleted = client.composite_query(queries, include_deleted=True)
    without_deleted = client.composite_query(queries)

    assert client.api_calls - calls_before == 2
    assert [(r["Id"], r["IsDeleted"]) for r in with_deleted["leads"]["records"]] == [
        (kept, False),
        (deleted, True),
    ]
    assert [(r["Id"], r["IsDeleted"]) for r in with_deleted["contacts"]["records"]] == [
        (contact, True)
    ]
    assert [r["Id"] for r in without_deleted["leads"]["records"]] == [kept]
    assert without_deleted["contacts"]["records"] == []
    assert len(composite_requests(salesforce_sandbox)) == 2


def test_composite_query_including_deleted_is_chunked_five_queries_a_call(
    client: SalesforceClient, salesforce_sandbox: Any
):
    lead = salesforce_sandbox.org.create("Lead", new_lead())
    client.delete("Lead", lead)
    calls_before = client.api_calls

    pages = client.composite_query(
        {f"q{n}": "SELECT Id FROM Lead" for n in range(6)}, include_deleted=True
    )

    assert client.api_calls - calls_before == 2
    assert {reference: page["totalSize"] for reference, page in pages.items()} == {
        f"q{n}": 1 for n in range(6)
    }


# --- collections inside /composite -------------------------------------------------------------


def test_several_collections_in_one_composite_call_report_each_record_at_its_index(
    client: SalesforceClient, salesforce_sandbox: Any
):
    existing = [salesforce_sandbox.org.create("Lead", new_lead()) for _ in range(3)]
    salesforce_sandbox.org.create("Lead", new_lead(External_Key__c="known"))
    used_before = salesforce_sandbox.api_calls_used()
    calls_before = client.api_calls

    creates, updates, upserts, contacts = client.composite_collections(
        [
            CollectionWrite(
                "create",
                "Lead",
                [new_lead(Email="a@example.com"), {"LastName": "No company"}, new_lead()],
            ),
            CollectionWrite(
                "update",
                "Lead",
                [
                    {"Id": existing[0], "LastName": "First"},
                    {"Id": existing[1], "LastName": "Second"},
                    {"Id": existing[2], "Email": "not-an-email"},
                ],
            ),
            CollectionWrite(
                "upsert",
                "Lead",
                [new_lead(External_Key__c="new"), new_lead(External_Key__c="known")],
                external_id_field="External_Key__c",
            ),
            CollectionWrite("create", "Contact", [{"LastName": "Hopper"}]),
        ]
    )

    assert client.api_calls - calls_before == 1
    assert salesforce_sandbox.api_calls_used() - used_before == 1
    assert len(composite_requests(salesforce_sandbox)) == 1
    assert [(r.index, r.success, r.created) for r in creates] == [
        (0, True, True),
        (1, False, None),
        (2, True, True),
    ]
    (missing_company,) = creates[1].errors
    assert isinstance(missing_company, RecordRejected)
    assert (missing_company.error_code, missing_company.fields) == (
        "REQUIRED_FIELD_MISSING",
        ["Company"],
    )
    assert missing_company.index == 1
    assert [(r.index, r.success, r.id) for r in updates] == [
        (0, True, existing[0]),
        (1, True, existing[1]),
        (2, False, existing[2]),
    ]
    (bad_email,) = updates[2].errors
    assert (bad_email.error_code, bad_email.index) == ("INVALID_EMAIL_ADDRESS", 2)
    assert [(r.index, r.success, r.created) for r in upserts] == [(0, True, True), (1, True, False)]
    assert contacts[0].success and contacts[0].created is True
    # What the results say is what the org holds.
    assert salesforce_sandbox.org.get("Lead", str(creates[0].id), None, "62.0")["Email"] == (
        "a@example.com"
    )
    assert salesforce_sandbox.org.get("Lead", existing[1], None, "62.0")["LastName"] == "Second"
    assert salesforce_sandbox.org.count("Contact") == 1
    assert salesforce_sandbox.org.count("Lead") == 4 + 2 + 1  # before, two creates, one upsert


def test_a_thousand_records_of_one_write_cost_one_call_with_failures_at_their_indexes(
    client: SalesforceClient, salesforce_sandbox: Any
):
    bad = {0, 199, 200, 777, 999}
    records = [
        {"LastName": f"L{n}"} if n in bad else new_lead(Email=f"k{n}@example.com")
        for n in range(1000)
    ]

    (results,) = client.composite_collections([CollectionWrite("create", "Lead", records)])

    assert client.api_calls == 1
    assert [r.index for r in results] == list(range(1000))
    assert {r.index for r in results if not r.success} == bad
    assert all(r.errors[0].index == r.index for r in results if not r.success)
    assert salesforce_sandbox.org.count("Lead") == 1000 - len(bad)


def test_more_than_five_collections_are_chunked_into_several_composite_calls(
    client: SalesforceClient, salesforce_sandbox: Any
):
    # 201 records are two collections; with five more writes that makes seven: 5 + 2.
    writes = [CollectionWrite("create", "Lead", [new_lead() for _ in range(201)])] + [
        CollectionWrite("create", "Lead", [new_lead(Email=f"w{n}@example.com")]) for n in range(5)
    ]

    results = client.composite_collections(writes)

    assert client.api_calls == 2
    assert len(composite_requests(salesforce_sandbox)) == 2
    assert [len(write_results) for write_results in results] == [201, 1, 1, 1, 1, 1]
    assert [r.index for r in results[0]] == list(range(201))
    assert all(r.success for write_results in results for r in write_results)
    assert salesforce_sandbox.org.count("Lead") == 206


def test_a_collection_refused_as_a_whole_fails_only_its_own_records(
    client: SalesforceClient, salesforce_sandbox: Any
):
    created, refused = client.composite_collections(
        [
            CollectionWrite("create", "Lead", [new_lead()]),
            CollectionWrite(
                "upsert", "No_Such_Object__c", [{"Key__c": "a"}, {"Key__c": "b"}], "Key__c"
            ),
        ]
    )

    assert created[0].success
    assert [(r.index, r.success) for r in refused] == [(0, False), (1, False)]
    for result in refused:
        (error,) = result.errors
        assert isinstance(error, NotFound)
        assert error.index == result.index
    assert client.api_calls == 1


def test_a_lost_answer_to_creates_raises_batch_outcome_unknown_and_is_not_repeated(
    credentials: Any, salesforce_sandbox: Any
):
    armed: list[bool] = []

    def lose_the_next_answer(_calls: int) -> None:
        # Runs as the first /composite answer arrives: the second one will be lost.
        if not armed:
            armed.append(True)
            salesforce_sandbox.faults.add("lose_response", count=1, method="POST", path=COMPOSITE)

    client = SalesforceClient(credentials, on_api_call=lose_the_next_answer)
    writes = [
        CollectionWrite("create", "Lead", [new_lead() for _ in range(2)]) for _write in range(7)
    ]

    with pytest.raises(BatchOutcomeUnknown) as caught:
        client.composite_collections(writes)

    error = caught.value
    # Writes 0-4 were answered; writes 5 and 6 (records 10 to 13 in order) were lost.
    assert [[r.index for r in results] for results in error.completed] == [[0, 1]] * 5 + [[]] * 2
    assert all(r.success for results in error.completed for r in results)
    assert (error.unknown_from, error.unknown_to) == (10, 14)
    assert len(composite_requests(salesforce_sandbox)) == 2
    assert salesforce_sandbox.org.count("Lead") == 14  # saved once, for the caller to look up


def test_a_lost_answer_to_updates_only_is_repeated(
    client: SalesforceClient, salesforce_sandbox: Any
):
    lead = salesforce_sandbox.org.create("Lead", new_lead())
    salesforce_sandbox.faults.add("lose_response", count=1, method="POST", path=COMPOSITE)

    (results,) = client.composite_collections(
        [CollectionWrite("update", "Lead", [{"Id": lead, "LastName": "Again"}])]
    )

    assert results[0].success
    assert len(composite_requests(salesforce_sandbox)) == 2
    assert salesforce_sandbox.org.get("Lead", lead, None, "62.0")["LastName"] == "Again"


def test_hitting_the_api_limit_fails_the_remaining_collections_without_sending_them(
    credentials: Any, salesforce_sandbox: Any
):
    armed: list[bool] = []

    def spend_the_limit(_calls: int) -> None:
        if not armed:
            armed.append(True)
            salesforce_sandbox.faults.add("request_limit_exceeded", path=COMPOSITE)

    client = SalesforceClient(credentials, on_api_call=spend_the_limit)
    writes = [
        CollectionWrite("create", "Lead", [new_lead() for _ in range(2)]) for _write in range(12)
    ]

    results = client.composite_collections(writes)

    assert all(r.success for write_results in results[:5] for r in write_results)
    for write_results in results[5:]:
        assert [r.index for r in write_results] == [0, 1]
        for result in write_results:
            (error,) = result.errors
            assert isinstance(error, ApiLimitExceeded)
            assert error.index == result.index
    # The second request was refused once (not retried); the third was never sent.
    assert len(composite_requests(salesforce_sandbox)) == 2
    assert salesforce_sandbox.org.count("Lead") == 10


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("delete", "Lead", []), "Not a collection operation"),
        (("create", "Lead; DROP", []), "Not a valid sObject name"),
        (
            ("update", "Lead", [{"Id": "00Q000000000001AAA"}, {"LastName": "x"}]),
            "Record 1 has no Id",
        ),
        (("upsert", "Lead", [{"External_Key__c": "k"}]), "needs external_id_field"),
        (("upsert", "Lead", [{"LastName": "x"}], "External_Key__c"), "Record 0 has no"),
        (("create", "Lead", [], "External_Key__c"), "only for upserts"),
    ],
)
def test_an_invalid_collection_write_is_refused_before_anything_is_sent(
    client: SalesforceClient, arguments: tuple[Any, ...], message: str
):
    with pytest.raises(ValueError, match=message):
        client.composite_collections([CollectionWrite(*arguments)])
    assert client.api_calls == 0


def test_no_writes_cost_no_call(client: SalesforceClient):
    assert client.composite_collections([CollectionWrite("create", "Lead", [])]) == [[]]
    assert client.api_calls == 0


# --- dependent writes in one request ----------------------------------------------------------


def test_composite_writes_name_earlier_results_by_reference_in_one_call(
    client: SalesforceClient, salesforce_sandbox: Any
):
    from wagtail_salesforce.client import collection_reference

    campaign = salesforce_sandbox.org.create("Campaign", {"Name": "Reference test"})
    leads = [new_lead(), {"LastName": "No company"}, new_lead()]  # the second one is invalid
    members = [
        {"CampaignId": campaign, "LeadId": collection_reference(0, index)} for index in range(3)
    ]

    created, joined = client.composite_writes(
        [
            CollectionWrite("create", "Lead", leads),
            CollectionWrite("create", "CampaignMember", members),
        ]
    )

    assert [r.success for r in created] == [True, False, True]
    assert [r.success for r in joined] == [True, False, True]  # the failed lead's member too
    by_lead = {m["LeadId"]: m["Id"] for m in salesforce_sandbox.org.records("CampaignMember")}
    assert {created[i].id: joined[i].id for i in (0, 2)} == by_lead
    assert client.api_calls == 1 and len(composite_requests(salesforce_sandbox)) == 1


def test_composite_writes_with_creates_raise_outcome_unknown_and_are_not_repeated(
    client: SalesforceClient, salesforce_sandbox: Any
):
    from wagtail_salesforce.exceptions import OutcomeUnknown

    salesforce_sandbox.faults.add("lose_response", count=1, method="POST", path=COMPOSITE)

    with pytest.raises(OutcomeUnknown):
        client.composite_writes([CollectionWrite("create", "Lead", [new_lead()])])

    assert len(composite_requests(salesforce_sandbox)) == 1
    assert salesforce_sandbox.org.count("Lead") == 1  # saved once, for the caller to look up


def test_composite_writes_refuse_what_one_request_cannot_carry(client: SalesforceClient):
    too_many = [CollectionWrite("create", "Lead", [new_lead()]) for _write in range(6)]
    with pytest.raises(ValueError, match="at most 5"):
        client.composite_writes(too_many)
    with pytest.raises(ValueError, match="201 records"):
        client.composite_writes([CollectionWrite("create", "Lead", [new_lead()] * 201)])
