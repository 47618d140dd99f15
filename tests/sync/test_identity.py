"""Identity by link first: a linked person follows their Salesforce record whatever its email
becomes; an email change on either side is a field change, never a new person."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.models import Lead, SyncRunStatus

from .conftest import sf_get, sf_records, sync
from .test_engine import make_local_lead
from .test_merges import linked_lead


def test_email_changed_in_salesforce_keeps_one_person(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "ada@example.com", last_name="Lovelace")
    record_id = lead.sf_id
    sandbox.org.update("Lead", record_id, {"Email": "Ada@Analytical.example", "Title": "Countess"})

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    (only,) = Lead.objects.filter(site=site)
    assert only.pk == lead.pk and only.sf_id == record_id
    assert only.email == "ada@analytical.example"
    assert only.former_emails == ["ada@example.com"]
    assert only.values["title"] == "Countess"
    assert (run.created, run.pushed) == (0, 0)
    assert len(sf_records(sandbox, "Lead")) == 1


def test_email_changed_on_the_site_keeps_one_person_and_reaches_salesforce(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "grace@example.com", last_name="Hopper")
    record_id = lead.sf_id
    assert lead.change_email("Grace@Navy.example")
    lead.set_local_value("title", "Rear Admiral")
    lead.save()

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    record = sf_get(sandbox, "Lead", record_id)
    assert (record["Email"], record["Title"]) == ("grace@navy.example", "Rear Admiral")
    assert len(sf_records(sandbox, "Lead")) == 1 and run.created == 0
    lead.refresh_from_db()
    assert lead.sf_id == record_id and not lead.needs_push
    assert lead.former_emails == ["grace@example.com"]
    # Both sides agree now: the next cycle neither pulls nor pushes it back.
    again = sync(site)
    assert (again.pulled, again.pushed, again.created) == (0, 0, 0)
    lead.refresh_from_db()
    assert lead.email == "grace@navy.example"


def test_an_editor_changes_the_email_in_the_lead_editor(
    admin_client: Client, site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = linked_lead(site, "old@example.com", last_name="Editor")
    taken = linked_lead(site, "taken@example.com", last_name="Other")
    url = reverse("wagtail_salesforce:lead_edit", args=[lead.pk])
    data = {k: v or "" for k, v in admin_client.get(url).context["form"].initial.items()}

    refused = admin_client.post(url, {**data, "email": "Taken@Example.com"})
    assert refused.status_code == 200 and "email" in refused.context["form"].errors
    response = admin_client.post(url, {**data, "email": "New@Example.com"})

    assert response.status_code == 302
    sync(site)
    lead.refresh_from_db()
    assert lead.email == "new@example.com" and not lead.needs_push
    assert sf_get(sandbox, "Lead", lead.sf_id)["Email"] == "new@example.com"
    assert sf_get(sandbox, "Lead", taken.sf_id)["Email"] == "taken@example.com"
    assert len(sf_records(sandbox, "Lead")) == 2


def test_email_changed_on_the_site_before_the_first_link_is_looked_up_by_the_new_one(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = make_local_lead(site, "first@example.com", last_name="Early")
    assert lead.change_email("second@example.com")
    lead.save()

    sync(site)

    lead.refresh_from_db()
    assert sf_get(sandbox, "Lead", lead.sf_id)["Email"] == "second@example.com"
    assert len(sf_records(sandbox, "Lead")) == 1


def test_an_email_moved_to_another_record_does_not_move_the_person(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    person_a = linked_lead(site, "shared@example.com", last_name="Alpha")
    person_b = linked_lead(site, "b@example.com", last_name="Beta")
    # B takes the address first, then A gets a new one: the pull reads B's change first.
    sandbox.org.update("Lead", person_b.sf_id, {"Email": "shared@example.com"})
    sandbox.org.update("Lead", person_a.sf_id, {"Email": "a.new@example.com"})

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    person_a.refresh_from_db()
    person_b.refresh_from_db()
    assert (person_a.sf_id, person_a.email) == (person_a.sf_id, "a.new@example.com")
    assert person_a.values["last_name"] == "Alpha"
    assert person_b.email == "shared@example.com" and person_b.values["last_name"] == "Beta"
    assert person_a.sf_id != person_b.sf_id
    assert Lead.objects.filter(site=site).count() == 2
    assert person_a.duplicate_ids == [] and run.duplicates == 0


def test_an_email_given_to_a_new_record_makes_a_new_person(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    person = linked_lead(site, "moving@example.com", last_name="Original")
    newcomer = sandbox.org.create(
        "Lead", {"LastName": "Newcomer", "Company": "X", "Email": "moving@example.com"}
    )
    sandbox.org.update("Lead", person.sf_id, {"Email": "moved@example.com"})

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    person.refresh_from_db()
    assert person.email == "moved@example.com" and person.values["last_name"] == "Original"
    other = Lead.objects.get(site=site, email="moving@example.com")
    assert other.sf_id == newcomer and other.values["last_name"] == "Newcomer"


def test_a_newer_record_with_the_same_email_does_not_take_the_person_over(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    person = linked_lead(site, "twin@example.com", last_name="First", title="Keep")
    other = sandbox.org.create(
        "Contact", {"LastName": "Second", "Title": "Other", "Email": "twin@example.com"}
    )

    run = sync(site)

    person.refresh_from_db()
    assert (person.sf_object, person.values["title"]) == ("Lead", "Keep")
    assert person.duplicate_ids == [other] and run.duplicates == 1
    assert Lead.objects.filter(site=site).count() == 1


def test_an_unlinked_lead_with_the_new_address_becomes_part_of_the_person(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    person = linked_lead(site, "before@example.com", last_name="Person")
    record_id = person.sf_id
    # A form arrives with the new address before the sync has seen the change in Salesforce.
    waiting = make_local_lead(site, "after@example.com", title="From the form")
    sandbox.org.update("Lead", record_id, {"Email": "after@example.com"})

    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    (only,) = Lead.objects.filter(site=site)
    assert only.pk == person.pk and only.pk != waiting.pk
    assert (only.sf_id, only.email) == (record_id, "after@example.com")
    assert only.former_emails == ["before@example.com"]
    assert only.values["title"] == "From the form" and not only.needs_push
    assert sf_get(sandbox, "Lead", record_id)["Title"] == "From the form"
    assert len(sf_records(sandbox, "Lead")) == 1
