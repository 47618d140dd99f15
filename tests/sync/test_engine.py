"""A sync cycle against the sandbox over HTTPS: pull, merge, push."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.models import Lead, LeadOrigin, SyncRunStatus, SyncState

from .conftest import sf_get, sf_records, sync


def make_local_lead(site: Site, email: str, **values: Any) -> Lead:
    lead = Lead(site=site, email=email, source=LeadOrigin.ADMIN)
    for name, value in values.items():
        lead.set_local_value(name, value)
    lead.save()
    return lead


def hide_existing_records_from_pull(connection: SalesforceConnection) -> None:
    """Watermarks in the future: the pull sees nothing, so only the push's look-up can find
    existing records (as for a lead submitted between two cycles)."""
    future = timezone.now() + datetime.timedelta(days=1)
    for sobject in ("Lead", "Contact"):
        SyncState.objects.update_or_create(
            connection=connection, sobject=sobject, defaults={"watermark": future}
        )


def test_new_local_lead_becomes_a_salesforce_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = make_local_lead(site, "ada@example.com", first_name="Ada", last_name="Lovelace")

    run = sync(site)

    lead.refresh_from_db()
    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    assert (run.created, run.pushed) == (1, 1)
    assert lead.sf_object == "Lead" and lead.sf_id and not lead.needs_push
    record = sf_get(sandbox, "Lead", lead.sf_id)
    assert (record["Email"], record["FirstName"], record["LastName"]) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
    )
    assert record["Company"] == "(not provided)"  # the YAML's default
    assert lead.base["first_name"] == "Ada"


def test_salesforce_edit_reaches_the_local_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    record_id = sandbox.org.create(
        "Lead", {"LastName": "Hopper", "Company": "Navy", "Email": "Grace@Example.com"}
    )
    sync(site)
    lead = Lead.objects.get(site=site)
    assert (lead.email, lead.sf_id, lead.values["company"]) == (
        "grace@example.com",
        record_id,
        "Navy",
    )
    assert lead.source == LeadOrigin.SYNC

    sandbox.org.update("Lead", record_id, {"Company": "Yale", "Status": "Working - Contacted"})
    run = sync(site)

    lead.refresh_from_db()
    assert run.pulled >= 1
    assert lead.values["company"] == "Yale"
    assert lead.values["lead_status"] == "Working - Contacted"
    assert not lead.needs_push
    assert Lead.objects.filter(site=site).count() == 1


def test_idle_cycle_costs_one_api_call(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    make_local_lead(site, "idle@example.com", last_name="Idle")
    sandbox.org.create("Contact", {"LastName": "Known", "Email": "known@example.com"})
    sync(site)
    before = sandbox.api_calls_used()

    run = sync(site)

    assert sandbox.api_calls_used() - before == 1
    assert run.api_calls == 1
    assert (run.created, run.updated, run.pushed, run.conflicts) == (0, 0, 0, 0)


def test_email_differing_only_in_case_links_instead_of_creating(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    record_id = sandbox.org.create(
        "Lead", {"LastName": "Case", "Company": "Acme", "Email": "Mixed.Case@Example.COM"}
    )
    lead = make_local_lead(site, "  mixed.case@example.com ", first_name="Mia")
    assert lead.email == "mixed.case@example.com"
    hide_existing_records_from_pull(connection)

    run = sync(site)

    lead.refresh_from_db()
    assert lead.sf_id == record_id
    assert run.created == 0
    assert len(sf_records(sandbox, "Lead")) == 1
    assert sf_get(sandbox, "Lead", record_id)["FirstName"] == "Mia"
    assert Lead.objects.filter(site=site).count() == 1


def test_push_looks_up_before_creating_across_match_objects(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    contact_id = sandbox.org.create("Contact", {"LastName": "Known", "Email": "k@example.com"})
    lead = make_local_lead(site, "k@example.com", title="CTO")

    hide_existing_records_from_pull(connection)

    sync(site)

    lead.refresh_from_db()
    assert (lead.sf_object, lead.sf_id) == ("Contact", contact_id)
    assert sf_records(sandbox, "Lead") == []
    assert sf_get(sandbox, "Contact", contact_id)["Title"] == "CTO"


def test_pull_window_starts_where_unseen_late_commits_are_still_possible(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    from wagtail_salesforce.config import get_config
    from wagtail_salesforce.connection.credentials import client_for
    from wagtail_salesforce.sync.engine import Cycle
    from wagtail_salesforce.sync.models import SyncRun

    overlap = datetime.timedelta(minutes=5)
    mark = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
    cycle = Cycle(
        site, client_for(site), get_config().sync, SyncRun(site=site), connection_id=connection.pk
    )

    def since(pulled_at: datetime.datetime | None) -> datetime.datetime | None:
        state = SyncState(
            connection=connection, sobject="Lead", watermark=mark, pulled_at=pulled_at
        )
        return cycle._since(state, overlap)

    assert since(None) == mark - overlap
    # A change unseen by a pull that started at t was stamped at t - overlap or later.
    assert since(mark + datetime.timedelta(seconds=30)) == mark - datetime.timedelta(minutes=4.5)
    assert since(mark + datetime.timedelta(minutes=3)) == mark - datetime.timedelta(minutes=2)
    # Everything stamped before the previous pull's start minus the overlap was seen then.
    assert since(mark + datetime.timedelta(minutes=10)) == mark + datetime.timedelta(minutes=5)
    assert (
        Cycle(
            site,
            client_for(site),
            get_config().sync,
            SyncRun(site=site),
            connection_id=connection.pk,
            full=True,
        )._since(SyncState(watermark=mark, pulled_at=mark), overlap)
        is None
    )
