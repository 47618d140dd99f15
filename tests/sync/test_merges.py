"""Merges in Salesforce: the losers are deleted with MasterRecordId set to the survivor, and the
local person follows the survivor (one person, both histories), against the sandbox."""

from __future__ import annotations

from typing import Any

import requests
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.models import Lead, SyncConflict, SyncRunStatus

from .conftest import sf_get, sf_records, sync
from .test_engine import make_local_lead


def merge_in_salesforce(sandbox: Any, master: str, losers: list[str], **master_values: Any) -> None:
    """What a sales rep's merge does (Salesforce merges through SOAP and Apex, not REST)."""
    response = requests.post(
        f"{sandbox.login_url}/__sandbox__/merge",
        json={"masterRecordId": master, "recordToMergeIds": losers, "masterRecord": master_values},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def linked_lead(site: Site, email: str, **values: Any) -> Lead:
    """A local lead the sync has created in Salesforce and linked."""
    lead = make_local_lead(site, email, **values)
    assert sync(site).status == SyncRunStatus.SUCCEEDED
    lead.refresh_from_db()
    assert lead.sf_id
    return lead


def test_lead_merged_into_its_duplicate_follows_the_survivor(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "ada@example.com", last_name="Lovelace", title="Countess")
    loser = lead.sf_id
    survivor = sandbox.org.create(
        "Lead", {"LastName": "Lovelace", "Company": "Acme", "Email": "ada@example.com"}
    )
    run = sync(site)
    lead.refresh_from_db()
    # A newer record with the same email does not take the person over: it is a duplicate.
    assert lead.sf_id == loser and lead.duplicate_ids == [survivor], run.errors
    lead.set_local_value("phone", "+44 20 7946 0000")  # waiting to be sent during the merge
    lead.save()

    merge_in_salesforce(sandbox, survivor, [loser], Title="Mathematician")
    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    lead.refresh_from_db()
    assert (lead.sf_object, lead.sf_id) == ("Lead", survivor)
    assert lead.values["title"] == "Mathematician"  # the survivor's value, chosen in the merge
    assert lead.duplicate_ids == [] and not lead.needs_push
    assert sf_get(sandbox, "Lead", survivor)["Phone"] == "+44 20 7946 0000"
    assert Lead.objects.filter(site=site).count() == 1
    assert [r["Id"] for r in sf_records(sandbox, "Lead")] == [survivor]
    assert any(e.get("survivor") == survivor and e.get("id") == loser for e in run.errors)
    assert run.created == 0
    # Followed once: the next cycle finds nothing to do.
    again = sync(site)
    assert (again.pulled, again.pushed, again.created) == (0, 0, 0)


def test_two_local_leads_merged_in_salesforce_become_one(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    kept_id = sandbox.org.create(
        "Contact", {"LastName": "Hopper", "Title": "Admiral", "Email": "grace@example.com"}
    )
    loser_id = sandbox.org.create(
        "Contact", {"LastName": "Hopper", "Email": "grace.hopper@example.org"}
    )
    sync(site)
    kept = Lead.objects.get(site=site, sf_id=kept_id)
    merged = Lead.objects.get(site=site, sf_id=loser_id)
    merged.set_local_value("phone", "+1 555 0100")
    merged.save()
    history = SyncConflict.objects.create(
        lead=merged, field="title", rule="wagtail_wins", winner="wagtail"
    )

    merge_in_salesforce(sandbox, kept_id, [loser_id])
    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    (lead,) = Lead.objects.filter(site=site)
    assert lead.pk == kept.pk
    assert (lead.sf_object, lead.sf_id, lead.email) == ("Contact", kept_id, "grace@example.com")
    assert lead.former_emails == ["grace.hopper@example.org"]
    assert lead.values["title"] == "Admiral" and lead.values["phone"] == "+1 555 0100"
    history.refresh_from_db()
    assert history.lead_id == lead.pk  # the merged lead's history stays with the person
    assert sf_get(sandbox, "Contact", kept_id)["Phone"] == "+1 555 0100"
    assert any(e.get("merged_email") == "grace.hopper@example.org" for e in run.errors)


def test_loser_and_survivor_new_in_the_same_pull_make_one_local_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "alan@example.com", last_name="Turing")
    survivor = sandbox.org.create(
        "Lead", {"LastName": "Turing", "Company": "Bletchley", "Email": "alan@bletchley.example"}
    )
    merge_in_salesforce(sandbox, survivor, [lead.sf_id])

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    (only,) = Lead.objects.filter(site=site)
    assert only.pk == lead.pk and only.sf_id == survivor
    assert only.email == "alan@bletchley.example"
    assert only.former_emails == ["alan@example.com"]
    assert only.values["company"] == "Bletchley"
    assert run.created == 0


def test_merge_into_a_survivor_the_pull_did_not_bring_reads_it(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "edsger@example.com", last_name="Dijkstra")
    loser = lead.sf_id
    # A survivor without an email matches no local lead when the pull reads it.
    survivor = sandbox.org.create("Lead", {"LastName": "Dijkstra", "Company": "TU Eindhoven"})
    merge_in_salesforce(sandbox, survivor, [loser], Title="Professor")

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    lead.refresh_from_db()
    # A blank address in Salesforce is no address: the person keeps theirs.
    assert lead.sf_id == survivor and lead.email == "edsger@example.com"
    assert lead.values["title"] == "Professor" and lead.values["company"] == "TU Eindhoven"
    assert Lead.objects.filter(site=site).count() == 1


def test_deleted_without_a_merge_still_unlinks(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "gone@example.com", last_name="Gone")
    sandbox.org.delete("Lead", lead.sf_id)

    run = sync(site)

    lead.refresh_from_db()
    assert (lead.sf_object, lead.sf_id) == ("", "")
    assert lead.values["last_name"] == "Gone" and not lead.needs_push
    assert run.created == 0 and Lead.objects.filter(site=site).count() == 1


def test_a_chain_of_merges_is_followed_to_the_last_survivor(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "chain@example.com", last_name="First")
    middle = sandbox.org.create("Lead", {"LastName": "Middle", "Company": "X"})
    last = sandbox.org.create("Lead", {"LastName": "Last", "Company": "X", "Title": "End"})
    merge_in_salesforce(sandbox, middle, [lead.sf_id])
    merge_in_salesforce(sandbox, last, [middle])

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    lead.refresh_from_db()
    assert lead.sf_id == last and lead.values["title"] == "End"
    assert lead.values["last_name"] == "Last"  # salesforce_wins, and unchanged here
    assert lead.email == "chain@example.com" and Lead.objects.filter(site=site).count() == 1
