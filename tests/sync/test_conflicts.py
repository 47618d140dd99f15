"""Edits on both sides of one field between two cycles: each YAML conflict rule decides."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.engine import parse_sf_datetime
from wagtail_salesforce.sync.models import Lead, SyncConflict

from .conftest import sf_get, sync
from .test_engine import make_local_lead


@pytest.fixture
def synced(site: Site, connection: SalesforceConnection, sandbox: Any) -> Lead:
    """A lead known on both sides with the same values."""
    lead = make_local_lead(
        site,
        "both@example.com",
        first_name="Base",
        last_name="Base",
        title="Base",
        notes="Base",
        phone="555-0100",
    )
    sync(site)
    lead.refresh_from_db()
    assert lead.sf_id and not lead.needs_push
    return lead


def edit_both(
    sandbox: Any,
    lead: Lead,
    sf_field: str,
    sf_value: Any,
    name: str,
    local_value: Any,
    *,
    local_after_salesforce: datetime.timedelta = datetime.timedelta(minutes=-1),
) -> None:
    sandbox.org.update("Lead", lead.sf_id, {sf_field: sf_value})
    modified = parse_sf_datetime(sf_get(sandbox, "Lead", lead.sf_id)["LastModifiedDate"])
    assert modified is not None
    lead.refresh_from_db()
    lead.set_local_value(name, local_value, when=modified + local_after_salesforce)
    lead.save()


def test_salesforce_wins_takes_salesforce_value(synced: Lead, site: Site, sandbox: Any) -> None:
    edit_both(sandbox, synced, "LastName", "Remote", "last_name", "Local")

    run = sync(site)

    synced.refresh_from_db()
    assert synced.values["last_name"] == "Remote"
    assert sf_get(sandbox, "Lead", synced.sf_id)["LastName"] == "Remote"
    conflict = SyncConflict.objects.get(lead=synced, field="last_name")
    assert (conflict.local_value, conflict.salesforce_value, conflict.base_value) == (
        "Local",
        "Remote",
        "Base",
    )
    assert (conflict.rule, conflict.winner, run.conflicts) == ("salesforce_wins", "salesforce", 1)


def test_wagtail_wins_pushes_local_value(synced: Lead, site: Site, sandbox: Any) -> None:
    edit_both(sandbox, synced, "Title", "Remote", "title", "Local")

    sync(site)

    synced.refresh_from_db()
    assert synced.values["title"] == "Local"
    assert sf_get(sandbox, "Lead", synced.sf_id)["Title"] == "Local"
    assert SyncConflict.objects.get(lead=synced, field="title").winner == "wagtail"
    assert not synced.needs_push and synced.base["title"] == "Local"


@pytest.mark.parametrize(
    ("local_offset", "expected", "winner"),
    [
        (datetime.timedelta(minutes=-5), "Remote", "salesforce"),
        (datetime.timedelta(minutes=5), "Local", "wagtail"),
    ],
)
def test_newest_wins_compares_change_times(
    synced: Lead,
    site: Site,
    sandbox: Any,
    local_offset: datetime.timedelta,
    expected: str,
    winner: str,
) -> None:
    edit_both(
        sandbox,
        synced,
        "FirstName",
        "Remote",
        "first_name",
        "Local",
        local_after_salesforce=local_offset,
    )

    sync(site)

    synced.refresh_from_db()
    assert synced.values["first_name"] == expected
    assert sf_get(sandbox, "Lead", synced.sf_id)["FirstName"] == expected
    assert SyncConflict.objects.get(lead=synced, field="first_name").winner == winner


@pytest.mark.parametrize(
    ("salesforce_value", "expected", "winner"),
    [(None, "Local", "wagtail"), ("Remote", "Remote", "salesforce")],
)
def test_salesforce_unless_blank_keeps_local_value_over_a_blank(
    synced: Lead,
    site: Site,
    sandbox: Any,
    salesforce_value: str | None,
    expected: str,
    winner: str,
) -> None:
    edit_both(sandbox, synced, "Description", salesforce_value, "notes", "Local")

    sync(site)

    synced.refresh_from_db()
    assert synced.values["notes"] == expected
    assert sf_get(sandbox, "Lead", synced.sf_id)["Description"] == expected
    assert SyncConflict.objects.get(lead=synced, field="notes").winner == winner


def test_one_sided_edits_flow_without_conflicts(synced: Lead, site: Site, sandbox: Any) -> None:
    sandbox.org.update("Lead", synced.sf_id, {"LastName": "FromSalesforce"})
    synced.refresh_from_db()
    synced.set_local_value("title", "FromWagtail")
    synced.save()

    run = sync(site)

    synced.refresh_from_db()
    record = sf_get(sandbox, "Lead", synced.sf_id)
    assert synced.values["last_name"] == "FromSalesforce" == record["LastName"]
    assert synced.values["title"] == "FromWagtail" == record["Title"]
    assert run.conflicts == 0 and not SyncConflict.objects.exists()


def test_from_salesforce_field_is_never_pushed(synced: Lead, site: Site, sandbox: Any) -> None:
    before = sf_get(sandbox, "Lead", synced.sf_id)["Status"]
    synced.refresh_from_db()
    synced.set_local_value("lead_status", "Closed - Converted")
    synced.save()

    sync(site)

    synced.refresh_from_db()
    assert sf_get(sandbox, "Lead", synced.sf_id)["Status"] == before
    assert synced.values["lead_status"] == before  # Salesforce's value replaced the local edit


def test_to_salesforce_field_is_never_pulled(synced: Lead, site: Site, sandbox: Any) -> None:
    sandbox.org.update("Lead", synced.sf_id, {"Phone": "555-9999"})

    sync(site)

    synced.refresh_from_db()
    assert synced.values["phone"] == "555-0100"
    assert sf_get(sandbox, "Lead", synced.sf_id)["Phone"] == "555-9999"


def test_a_second_cycle_after_a_conflict_changes_nothing(
    synced: Lead, site: Site, sandbox: Any
) -> None:
    edit_both(sandbox, synced, "Title", "Remote", "title", "Local")
    sync(site)
    synced.refresh_from_db()
    values, base = dict(synced.values), dict(synced.base)

    run = sync(site)

    synced.refresh_from_db()
    assert (synced.values, synced.base) == (values, base)
    assert (run.pushed, run.conflicts, run.api_calls) == (0, 0, 1)
