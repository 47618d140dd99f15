"""Duplicates, conversions, deletions and failures part-way through a cycle."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.models import Lead, SyncRunStatus, SyncState

from .conftest import sf_get, sf_records, sync
from .test_engine import hide_existing_records_from_pull, make_local_lead


def test_emails_are_unique_per_site_whatever_their_case(site: Site) -> None:
    make_local_lead(site, "Same@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_local_lead(site, "same@EXAMPLE.com ")
    # bulk_create skips save(): the case-insensitive constraint still holds.
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.bulk_create([Lead(site=site, email="SAME@example.com")])


def test_duplicates_in_salesforce_link_the_most_recently_modified_and_are_reported(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    older = sandbox.org.create(
        "Lead", {"LastName": "A", "Company": "X", "Email": "dup@example.com"}
    )
    newer = sandbox.org.create(
        "Lead", {"LastName": "B", "Company": "X", "Email": "dup@example.com"}
    )
    sandbox.advance_clock(60)
    sandbox.org.update("Lead", newer, {"Title": "Newest"})
    lead = make_local_lead(site, "dup@example.com", first_name="Dee")
    hide_existing_records_from_pull(connection)

    run = sync(site)

    lead.refresh_from_db()
    assert lead.sf_id == newer
    assert lead.duplicate_ids == [older]
    assert run.duplicates == 1
    assert any(e.get("level") == "warning" and e.get("id") == older for e in run.errors)
    assert run.created == 0 and len(sf_records(sandbox, "Lead")) == 2
    assert sf_get(sandbox, "Lead", newer)["FirstName"] == "Dee"


def test_duplicates_pulled_from_salesforce_make_one_local_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    sandbox.org.create("Lead", {"LastName": "A", "Company": "X", "Email": "twice@example.com"})
    sandbox.advance_clock(60)
    newer = sandbox.org.create(
        "Lead", {"LastName": "B", "Company": "X", "Email": "Twice@Example.com"}
    )

    run = sync(site)

    lead = Lead.objects.get(site=site)
    assert (lead.sf_id, lead.values["last_name"]) == (newer, "B")
    assert run.duplicates == 1


def test_contact_preferred_over_lead_in_match_order(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    sandbox.org.create("Lead", {"LastName": "L", "Company": "X", "Email": "both@example.com"})
    contact = sandbox.org.create("Contact", {"LastName": "C", "Email": "both@example.com"})
    lead = make_local_lead(site, "both@example.com", title="VP")
    hide_existing_records_from_pull(connection)

    sync(site)

    lead.refresh_from_db()
    assert (lead.sf_object, lead.sf_id) == ("Contact", contact)
    assert sf_get(sandbox, "Contact", contact)["Title"] == "VP"


def test_lead_converted_in_salesforce_follows_its_contact(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = make_local_lead(site, "convert@example.com", last_name="Turing")
    sync(site)
    lead.refresh_from_db()
    converted = sandbox.org.convert_lead(lead.sf_id)

    run = sync(site)

    lead.refresh_from_db()
    assert (lead.sf_object, lead.sf_id) == ("Contact", converted["contactId"])
    assert run.duplicates == 0 and run.status == SyncRunStatus.SUCCEEDED, run.errors
    assert Lead.objects.filter(site=site).count() == 1
    # Later edits go to the Contact, not to the converted (read-only) Lead.
    lead.set_local_value("title", "Mathematician")
    lead.save()
    run = sync(site)
    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    assert sf_get(sandbox, "Contact", converted["contactId"])["Title"] == "Mathematician"


def test_record_deleted_in_salesforce_unlinks_but_keeps_the_local_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = make_local_lead(site, "gone@example.com", last_name="Gone", title="Keep me")
    sync(site)
    lead.refresh_from_db()
    sandbox.org.delete("Lead", lead.sf_id)

    run = sync(site)

    lead.refresh_from_db()
    assert (lead.sf_object, lead.sf_id) == ("", "")
    assert lead.values["title"] == "Keep me" and lead.values["last_name"] == "Gone"
    assert not lead.needs_push
    assert run.created == 0 and sf_records(sandbox, "Lead") == []
    # Nothing re-creates it by itself.
    assert sync(site).created == 0


def test_failure_mid_pull_resumes_without_loss(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "SYNC_BATCH_SIZE": 500}
    for number in range(2100):  # more than one 2,000-record page
        sandbox.org.create(
            "Lead",
            {"LastName": f"L{number}", "Company": "Bulk", "Email": f"p{number}@example.com"},
        )
    # The second page (queryMore) fails: the first 2,000 records are stored, the rest are not.
    sandbox.faults.add("http_500", count=1, method="GET", path=r"/query/[^/?]+-\d+")

    failed = sync(site)

    assert failed.status == SyncRunStatus.FAILED
    assert Lead.objects.filter(site=site).count() == 2000
    assert SyncState.objects.get(connection=connection, sobject="Lead").watermark is None

    resumed = sync(site)

    assert resumed.status == SyncRunStatus.SUCCEEDED, resumed.errors
    assert Lead.objects.filter(site=site).count() == 2100
    assert SyncState.objects.get(connection=connection, sobject="Lead").watermark is not None
    assert len(sf_records(sandbox, "Lead")) == 2100  # nothing pushed back as new


def test_failure_while_pushing_keeps_changes_for_the_next_cycle(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = make_local_lead(site, "retry@example.com", last_name="Retry")
    sync(site)
    lead.refresh_from_db()
    lead.set_local_value("title", "Pending")
    lead.save()
    sandbox.faults.add("http_503", count=1, method="POST", path=r"/composite$")

    first = sync(site)  # the pull's composite call fails: nothing is lost

    lead.refresh_from_db()
    assert first.status == SyncRunStatus.FAILED and lead.needs_push
    second = sync(site)
    lead.refresh_from_db()
    assert second.status == SyncRunStatus.SUCCEEDED, second.errors
    assert not lead.needs_push
    assert sf_get(sandbox, "Lead", lead.sf_id)["Title"] == "Pending"


def test_rejected_record_is_reported_on_the_run_and_the_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = make_local_lead(site, "bad@example.com", last_name="x" * 81)  # LastName max 80

    run = sync(site)

    lead.refresh_from_db()
    assert run.status == SyncRunStatus.PARTIAL
    assert lead.sync_error.startswith("STRING_TOO_LONG")
    assert not lead.needs_push and not lead.sf_id
    assert run.errors[0]["email"] == "bad@example.com"
