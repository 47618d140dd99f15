"""The people's-data tests: the sync YAML (its ``contact-us`` form maps onto Lead), the site
connected with a password-grant token, and ``grace``: one person known everywhere the plugin
keeps data (a form submission delivered through the outbox, the local lead linked by the sync,
a conflict, a duplicate reported in a sync run), beside another person who must stay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import Site

from tests.outbox.conftest import landing_page
from tests.sync import conftest as sync_fixtures
from tests.sync.conftest import sf_get, sync
from tests.sync.test_conflicts import edit_both
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.delivery import deliver_entry
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import Lead, SyncConflict

GRACE = "grace.hopper@example.com"
OTHER = "ada.lovelace@example.com"


# The sync tests' set-up: SYNC_YAML, fail-fast client settings, a password-grant connection.
config_yaml = sync_fixtures.config_yaml
salesforce_settings = sync_fixtures.salesforce_settings
sync_settings = sync_fixtures.sync_settings
connection_grant = sync_fixtures.connection_grant


def submit(page: Any, email: str, last_name: str, **extra: str) -> OutboxEntry:
    """A visitor's POST, then the outbox worker's delivery of it (as the task would run it)."""
    before = set(OutboxEntry.objects.values_list("pk", flat=True))
    response = Client().post(
        page.url, {"email": email, "last_name": last_name, "company": "Navy", **extra}
    )
    assert response.status_code == 200
    entry = OutboxEntry.objects.exclude(pk__in=before).get()
    assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    entry.refresh_from_db()
    return entry


@dataclass
class Known:
    site: Site
    page: Any
    lead: Lead
    entry: OutboxEntry
    duplicate_id: str
    other_entry: OutboxEntry


@pytest.fixture
def grace(site: Site, connection: SalesforceConnection, sandbox: Any) -> Known:
    page = landing_page(site, "contact-us")
    entry = submit(page, " Grace.Hopper@Example.COM ", "Hopper", message="Call me")
    other_entry = submit(page, OTHER, "Lovelace")
    duplicate = sandbox.org.create(
        "Lead", {"LastName": "Hopper (old)", "Company": "Navy", "Email": GRACE}
    )
    sync(site)
    lead = Lead.objects.get(site=site, email=GRACE)
    # Two records with the email: the sync links one and reports the other.
    assert lead.sf_id in {entry.salesforce_id, duplicate}
    (duplicate,) = {entry.salesforce_id, duplicate} - {lead.sf_id}
    # A field changed on both sides: the next cycle records a conflict.
    edit_both(sandbox, lead, "Title", "Rear Admiral", "title", "Commodore")
    sync(site)
    assert SyncConflict.objects.filter(lead=lead).exists()
    assert sf_get(sandbox, "Lead", lead.sf_id)["Email"] == GRACE
    assert FormSubmission.objects.filter(page=page).count() == 2
    lead.refresh_from_db()
    return Known(site, page, lead, entry, duplicate, other_entry)
