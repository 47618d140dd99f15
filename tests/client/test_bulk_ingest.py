"""Bulk API 2.0 ingest through the client: insert, update and upsert jobs against the sandbox,
per-record results mapped back to input order, session refresh and transient retries on the
job's requests, failed jobs, and the ``sf__Error`` and result-matching rules."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.client.conftest import SandboxCredentials, calls_to, new_lead
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.client.bulk import _ResultMatcher, build_csv, parse_bulk_error
from wagtail_salesforce.exceptions import ApiError, NetworkError, RecordRejected

FAST = {"poll_interval": 0.05, "timeout": 30.0}


def test_bulk_insert_maps_each_result_to_its_input_index(
    client: SalesforceClient, salesforce_sandbox: Any
):
    records = [new_lead(Email=f"bulk{n}@example.com", FirstName=f"N{n}") for n in range(12)]
    records[3] = {"LastName": "No company", "Email": "bulk3@example.com"}
    records[8] = new_lead(Email="not-an-email")
    calls_before = client.api_calls

    results = client.bulk_ingest("Lead", "insert", records, **FAST)

    assert [result.index for result in results] == list(range(12))
    assert [result.success for result in results] == [n not in (3, 8) for n in range(12)]
    missing, bad_email = results[3].errors[0], results[8].errors[0]
    assert isinstance(missing, RecordRejected) and isinstance(bad_email, RecordRejected)
    assert (missing.error_code, missing.fields, missing.index) == (
        "REQUIRED_FIELD_MISSING",
        ["Company"],
        3,
    )
    assert bad_email.error_code == "INVALID_EMAIL_ADDRESS" and bad_email.index == 8
    for number, result in enumerate(results):
        if result.success:
            assert result.created is True
            saved = salesforce_sandbox.org.get("Lead", result.id, None, "62.0")
            assert (saved["Email"], saved["FirstName"]) == (
                f"bulk{number}@example.com",
                f"N{number}",
            )
    # Create, upload, close, at least one poll, then the three result files: each one counted.
    job_calls = calls_to(salesforce_sandbox, "/jobs/ingest")
    assert len(job_calls) >= 7
    assert client.api_calls - calls_before == len(job_calls)
    assert all(call["counted_as_api_call"] for call in job_calls)


def test_bulk_update_clears_none_and_leaves_absent_fields_alone(
    client: SalesforceClient, salesforce_sandbox: Any
):
    first = salesforce_sandbox.org.create("Lead", new_lead(Title="CEO", FirstName="Ada"))
    second = salesforce_sandbox.org.create("Lead", new_lead(Title="CTO", FirstName="Grace"))
    gone = salesforce_sandbox.org.create("Lead", new_lead())
    salesforce_sandbox.org.delete("Lead", gone)

    results = client.bulk_ingest(
        "Lead",
        "update",
        [
            {"Id": gone, "Title": "x"},
            {"Id": first, "Title": None},
            {"Id": second, "FirstName": "G"},
        ],
        **FAST,
    )

    assert [(r.index, r.success, r.created) for r in results] == [
        (0, False, None),
        (1, True, None),
        (2, True, None),
    ]
    assert results[0].errors[0].index == 0 and results[0].errors[0].error_code
    assert [results[1].id, results[2].id] == [first, second]
    updated_first = salesforce_sandbox.org.get("Lead", first, None, "62.0")
    updated_second = salesforce_sandbox.org.get("Lead", second, None, "62.0")
    assert (updated_first["Title"], updated_first["FirstName"]) == (None, "Ada")
    assert (updated_second["Title"], updated_second["FirstName"]) == ("CTO", "G")


def test_bulk_upsert_tells_creates_from_updates(client: SalesforceClient, salesforce_sandbox: Any):
    existing = salesforce_sandbox.org.create("Lead", new_lead(External_Key__c="K-1"))
    records = [
        {"External_Key__c": "K-2", **new_lead(Title="new")},
        {"External_Key__c": "K-1", "Title": "updated"},
        {"External_Key__c": "K-3", "Title": "no last name"},
    ]

    results = client.bulk_ingest(
        "Lead", "upsert", records, external_id_field="External_Key__c", **FAST
    )

    assert [(r.index, r.success, r.created) for r in results] == [
        (0, True, True),
        (1, True, False),
        (2, False, None),
    ]
    assert results[1].id == existing
    assert results[2].errors[0].error_code == "REQUIRED_FIELD_MISSING"
    assert salesforce_sandbox.org.get("Lead", existing, None, "62.0")["Title"] == "updated"


def test_bulk_job_requests_refresh_an_expired_session_and_retry_transient_failures(
    client: SalesforceClient, credentials: SandboxCredentials, salesforce_sandbox: Any
):
    salesforce_sandbox.expire_access_tokens()
    salesforce_sandbox.faults.add("http_503", count=1, path="/batches")

    results = client.bulk_ingest("Lead", "insert", [new_lead(Email="retry@example.com")], **FAST)

    assert [r.success for r in results] == [True]
    assert credentials.token_endpoint_calls == 1
    uploads = [c for c in calls_to(salesforce_sandbox, "/batches") if c["method"] == "PUT"]
    assert [call["status"] for call in uploads] == [503, 201]
    assert len(salesforce_sandbox.org.records("Lead")) == 1


def test_a_lost_upload_answer_aborts_the_job_and_saves_nothing(
    client: SalesforceClient, salesforce_sandbox: Any
):
    salesforce_sandbox.faults.add("lose_response", count=1, path="/batches")

    with pytest.raises(NetworkError) as lost:
        client.bulk_ingest("Lead", "insert", [new_lead(Email="lost@example.com")], **FAST)

    assert lost.value.error_code == "RESPONSE_LOST"
    closes = [c for c in calls_to(salesforce_sandbox, "/jobs/ingest/") if c["method"] == "PATCH"]
    assert len(closes) == 1  # the abort, never UploadComplete
    assert salesforce_sandbox.org.records("Lead") == []


def test_a_job_salesforce_fails_as_a_whole_raises_with_its_error_message(
    client: SalesforceClient, salesforce_sandbox: Any
):
    from wagtail_salesforce.sandbox.bulk import FAILED_JOB_MESSAGE

    salesforce_sandbox.faults.add("bulk_job_failed", count=1, method="PATCH", path="/jobs/ingest/")

    with pytest.raises(ApiError) as failed:
        client.bulk_ingest("Lead", "insert", [new_lead(Email="whole@example.com")], **FAST)

    assert failed.value.error_code == "BULK_JOB_FAILED"
    assert str(failed.value).endswith(FAILED_JOB_MESSAGE)
    assert salesforce_sandbox.org.records("Lead") == []


def test_bad_arguments_are_refused_before_anything_is_sent(
    client: SalesforceClient, salesforce_sandbox: Any
):
    with pytest.raises(ValueError, match="operation"):
        client.bulk_ingest("Lead", "delete", [{"Id": "00Q000000000001AAA"}])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no Id"):
        client.bulk_ingest("Lead", "update", [{"Title": "x"}])
    with pytest.raises(ValueError, match="external_id_field"):
        client.bulk_ingest("Lead", "upsert", [{"Title": "x"}])
    assert client.bulk_ingest("Lead", "insert", []) == []
    assert calls_to(salesforce_sandbox, "/jobs/ingest") == []


def test_bulk_error_text_gives_code_message_and_fields():
    missing = parse_bulk_error(
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --", 4
    )
    email = parse_bulk_error("INVALID_EMAIL_ADDRESS:Email: invalid email address: x:Email --", 0)
    no_fields = parse_bulk_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access: --", 1)

    assert isinstance(missing, RecordRejected)
    assert (missing.error_code, missing.message, missing.fields, missing.index) == (
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Company]",
        ["Company"],
        4,
    )
    assert (email.message, email.fields) == ("Email: invalid email address: x", ["Email"])
    assert no_fields.retryable and no_fields.fields == []


def test_csv_uses_the_union_of_keys_with_null_marker_and_blank_for_absent():
    header, rows, text = build_csv([{"A": "x, y", "B": None}, {"C": True, "A": 3}])

    assert header == ["A", "B", "C"]
    assert rows == [["x, y", "#N/A", ""], ["3", "", "true"]]
    assert text == 'A,B,C\n"x, y",#N/A,\n3,,true\n'


def test_result_rows_in_any_order_find_their_input_rows():
    records = [{"Id": f"00Q00000000000{n}AAA", "Title": "same"} for n in range(8)]
    records.append(dict(records[2]))  # an identical row shares its key and takes the next result
    header, rows, _text = build_csv(records)
    echoed = [dict(zip(header, row, strict=True)) for row in rows]
    random.Random(7).shuffle(echoed)
    matcher = _ResultMatcher(header, rows, "Id")

    matched = [matcher.match(row) for row in echoed]

    assert sorted(index for index in matched if index is not None) == list(range(9))
    for row, index in zip(echoed, matched, strict=True):
        assert index is not None and rows[index] == [row["Id"], row["Title"]]
    # An update whose echoed value differs still finds its row by Id.
    fallback = _ResultMatcher(header, rows, "Id")
    assert fallback.match({"Id": rows[5][0], "Title": "SAME"}) == 5
    assert fallback.unmatched(len(rows)) == [0, 1, 2, 3, 4, 6, 7, 8]
