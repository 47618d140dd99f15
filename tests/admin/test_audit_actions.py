"""The audit log of the permissions work: one test per action, each reading the Wagtail log entry
the admin writes (action, acting user, object, data) and checking no secret reaches its data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from wagtail.models import ModelLogEntry, PageLogEntry, Site

from tests.fixtures import SITE_APP_SECRET
from tests.sync.conftest import SYNC_YAML
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import HeldReason, OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import Lead, LeadOrigin, Segment


@pytest.fixture
def config_yaml() -> str:
    return SYNC_YAML


@pytest.fixture
def secrets(sandbox: Any) -> list[str]:
    """Every secret value of the test's world: none may appear in an entry's data."""
    return [SITE_APP_SECRET, sandbox.client_secret]


@pytest.fixture(autouse=True)
def _no_secret_in_any_entry(db: None, secrets: list[str]) -> Iterator[None]:
    yield
    connection_secrets = [
        value
        for connection in SalesforceConnection.objects.all()
        for value in (connection.consumer_secret, connection.access_token, connection.refresh_token)
        if value
    ]
    for entry in [*ModelLogEntry.objects.all(), *PageLogEntry.objects.all()]:
        data = json.dumps(entry.data)
        for secret in [*secrets, *connection_secrets]:
            assert secret not in data, (entry.action, secret)


def entry_for(instance: Model, action: str) -> ModelLogEntry:
    return ModelLogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=False),
        object_id=str(instance.pk),
        action=action,
    )


def downloaded(response: Any) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.fixture
def lead(site: Site, sandbox: Any) -> Lead:
    return Lead.objects.create(
        site=site,
        email="audit@example.com",
        values={"last_name": "Audit", "company": "Old Co"},
        base={"last_name": "Audit", "company": "Old Co"},
        source=LeadOrigin.SYNC,
    )


def test_a_lead_created_in_the_admin_is_logged(
    admin_client: Client, admin_user: Any, site: Site, sandbox: Any
) -> None:
    admin_client.post(
        reverse("wagtail_salesforce:lead_create", args=[site.pk]), {"email": "new@example.com"}
    )

    created = Lead.objects.get(email="new@example.com")
    entry = entry_for(created, "wagtail.create")
    assert entry.user == admin_user and entry.label


def test_a_lead_edit_is_logged_with_the_changed_field_names_not_their_values(
    admin_client: Client, admin_user: Any, lead: Lead
) -> None:
    url = reverse("wagtail_salesforce:lead_edit", args=[lead.pk])
    form = admin_client.get(url).context["form"]
    data = {name: value or "" for name, value in form.initial.items()}

    response = admin_client.post(url, {**data, "company": "Secret New Co"})

    assert response.status_code == 302
    entry = entry_for(lead, "wagtail.edit")
    assert entry.user == admin_user
    assert entry.data == {"fields": ["company"]}
    assert "Secret New Co" not in json.dumps(entry.data)


def test_a_segment_created_then_saved_again_logs_create_then_edit(
    admin_client: Client, admin_user: Any, site: Site, sandbox: Any
) -> None:
    save = reverse("wagtail_salesforce:segment_save")
    admin_client.post(save + "?f_company=Acme", {"name": "Acme leads"})
    segment = Segment.objects.get(site=site, name="Acme leads")
    created = entry_for(segment, "wagtail.create")

    admin_client.post(save + "?f_company=Globex", {"name": "Acme leads"})
    edited = entry_for(segment, "wagtail.edit")

    assert created.user == admin_user and edited.user == admin_user
    assert created.data["filter"]["fields"] == {"company": "Acme"}
    assert edited.data == {"filter": Segment.objects.get(pk=segment.pk).filter}
    assert edited.data["filter"]["fields"] == {"company": "Globex"}


def test_a_deleted_segment_is_logged(
    admin_client: Client, admin_user: Any, site: Site, sandbox: Any
) -> None:
    segment = Segment.objects.create(site=site, name="Doomed", filter={"fields": {}})
    segment_pk = segment.pk

    admin_client.post(reverse("wagtail_salesforce:segment_delete", args=[segment_pk]))

    assert not Segment.objects.filter(pk=segment_pk).exists()
    segment.pk = segment_pk
    entry = entry_for(segment, "wagtail.delete")
    assert entry.user == admin_user and entry.label == "Doomed"


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_a_leads_export_is_logged_with_listing_format_and_rows(
    admin_client: Client, admin_user: Any, site: Site, lead: Lead, export_format: str
) -> None:
    response = admin_client.get(reverse("wagtail_salesforce:leads"), {"export": export_format})
    assert downloaded(response)

    entry = entry_for(site, "wagtail_salesforce.export")
    assert entry.user == admin_user
    assert entry.data["listing"] == "leads"
    assert entry.data["format"] == export_format
    assert entry.data["rows"] == 1


def test_a_segment_export_is_logged_on_the_segment(
    admin_client: Client, admin_user: Any, site: Site, lead: Lead
) -> None:
    segment = Segment.objects.create(site=site, name="All", filter={"fields": {}})

    response = admin_client.get(reverse("wagtail_salesforce:segment_export", args=[segment.pk]))
    assert downloaded(response)

    entry = entry_for(segment, "wagtail_salesforce.export")
    assert entry.user == admin_user
    assert entry.data == {"listing": "segment", "format": "csv", "rows": 1, "segment": "All"}


def test_the_outbox_export_is_logged(
    admin_client: Client, admin_user: Any, site: Site, sandbox: Any
) -> None:
    for _ in range(2):
        OutboxEntry.objects.create(
            site=site, mapping_key="contact-us", form_data={"email": "a@example.com"}
        )

    response = admin_client.get(reverse("wagtail_salesforce:outbox"), {"export": "xlsx"})
    assert downloaded(response)

    entry = entry_for(site, "wagtail_salesforce.export")
    assert entry.user == admin_user
    assert entry.data["listing"] == "outbox"
    assert entry.data["format"] == "xlsx"
    assert entry.data["rows"] == 2


def test_an_outbox_retry_is_logged_with_the_previous_state(
    admin_client: Client, admin_user: Any, site: Site, connection: SalesforceConnection
) -> None:
    dead = OutboxEntry.objects.create(
        site=site,
        mapping_key="contact-us",
        form_data={"email": "retry@example.com", "last_name": "Retry"},
        state=OutboxState.DEAD,
    )

    admin_client.post(reverse("wagtail_salesforce:outbox_retry"), {"entry": dead.pk})

    entry = entry_for(dead, "wagtail_salesforce.retry")
    assert entry.user == admin_user
    assert entry.data == {"previous_state": OutboxState.DEAD}


def test_sync_now_is_logged_on_the_site(
    admin_client: Client, admin_user: Any, site: Site, connection: SalesforceConnection
) -> None:
    response = admin_client.post(reverse("wagtail_salesforce:sync_now", args=[site.pk]))

    assert response.status_code == 302
    entry = entry_for(site, "wagtail_salesforce.sync_now")
    assert entry.user == admin_user


def test_the_bulk_send_in_next_sync_is_logged_per_lead(
    admin_client: Client, admin_user: Any, lead: Lead
) -> None:
    url = (
        reverse("wagtail_bulk_action", args=["wagtail_salesforce", "lead", "send_in_next_sync"])
        + f"?id={lead.pk}&next=/admin/salesforce/leads/"
    )

    admin_client.post(url)

    entry = entry_for(lead, "wagtail_salesforce.send_in_next_sync")
    assert entry.user == admin_user


def test_deliver_held_is_logged(
    admin_client: Client, admin_user: Any, site: Site, connection: SalesforceConnection
) -> None:
    held = OutboxEntry.objects.create(
        site=site,
        mapping_key="contact-us",
        form_data={"email": "held@example.com", "last_name": "Held"},
        state=OutboxState.HELD,
        held_reason=HeldReason.choices[0][0],
    )

    admin_client.post(reverse("wagtail_salesforce:outbox_deliver_held"), {"entry": held.pk})

    entry = entry_for(held, "wagtail_salesforce.deliver_held")
    assert entry.user == admin_user
