"""The outbox report in the Wagtail admin: filters, errors, record links and Retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.delivery import deliver_entry
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

from .conftest import CONFIG_YAML, leads_with_email, make_entry, write_config


@pytest.fixture
def admin_client(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def editor_client(django_user_model: Any, *permissions: str) -> Client:
    """A non-superuser with Wagtail admin access and the given wagtail_salesforce permissions."""
    user = django_user_model.objects.create_user("editor", "editor@example.com", "pw")
    group = Group.objects.create(name="Outbox editors")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        *Permission.objects.filter(
            content_type__app_label="wagtail_salesforce", codename__in=permissions
        ),
    )
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def test_the_report_lists_entries_with_state_attempts_errors_and_record_links(
    site: Site, connection: SalesforceConnection, sandbox: Any, admin_client: Client
) -> None:
    delivered = make_entry(site, "lead-plain", email="ok@example.com", last_name="Ok")
    failed = make_entry(site, "no-such-mapping", email="bad@example.com")
    deliver_entry(delivered.pk)
    deliver_entry(failed.pk)
    delivered.refresh_from_db()

    response = admin_client.get(reverse("wagtail_salesforce:outbox"))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-outbox-entry="{delivered.pk}" data-state="delivered"' in html
    assert f'data-outbox-entry="{failed.pk}" data-state="dead"' in html
    assert "MAPPING_NOT_FOUND" in html
    # Every org opens a record at {instance_url}/{Id}; the sandbox answers it as an org does.
    assert f"{connection.instance_url}/{delivered.salesforce_id}" in html


def test_the_state_filter_shows_only_that_state(
    site: Site, connection: SalesforceConnection, admin_client: Client
) -> None:
    delivered = make_entry(site, "lead-plain", email="f1@example.com", last_name="F")
    failed = make_entry(site, "no-such-mapping", email="f2@example.com")
    deliver_entry(delivered.pk)
    deliver_entry(failed.pk)

    response = admin_client.get(reverse("wagtail_salesforce:outbox"), {"state": "dead"})

    html = response.content.decode()
    assert f'data-outbox-entry="{failed.pk}"' in html
    assert f'data-outbox-entry="{delivered.pk}"' not in html


def test_retry_of_several_dead_letters_delivers_them_after_the_config_is_fixed(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    config_file: Path,
    admin_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    write_config(config_file, CONFIG_YAML.replace("  lead-plain:", "  lead-renamed:"))
    entries = [
        make_entry(site, "lead-plain", email=f"r{n}@example.com", last_name="R") for n in range(2)
    ]
    for entry in entries:
        assert deliver_entry(entry.pk) == OutboxState.DEAD
    write_config(config_file, CONFIG_YAML)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("wagtail_salesforce:outbox_retry"), {"entry": [e.pk for e in entries]}
        )

    assert response.status_code == 302
    assert set(OutboxEntry.objects.values_list("state", flat=True)) == {OutboxState.DELIVERED}
    assert all(leads_with_email(sandbox, f"r{n}@example.com") for n in range(2))


def test_retry_needs_a_post(admin_client: Client, site: Site) -> None:
    response = admin_client.get(reverse("wagtail_salesforce:outbox_retry"))

    assert response.status_code == 405


def test_the_outbox_needs_the_view_outbox_or_manage_permission(
    site: Site, django_user_model: Any
) -> None:
    entry = make_entry(site, "lead-plain", email="p@example.com")
    OutboxEntry.objects.filter(pk=entry.pk).update(state=OutboxState.DEAD)
    without = editor_client(django_user_model)

    assert without.get(reverse("wagtail_salesforce:outbox")).status_code == 403
    refused = without.post(reverse("wagtail_salesforce:outbox_retry"), {"entry": [entry.pk]})
    assert refused.status_code == 403
    assert OutboxEntry.objects.get(pk=entry.pk).state == OutboxState.DEAD

    Group.objects.get(name="Outbox editors").permissions.add(
        Permission.objects.get(codename="view_outboxentry")
    )
    allowed = Client()
    allowed.force_login(django_user_model.objects.get(username="editor"))
    assert allowed.get(reverse("wagtail_salesforce:outbox")).status_code == 200
