"""What editors see: the Salesforce panel in the page editor and the status column of the
submissions list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from tests.outbox.conftest import CONFIG_YAML, landing_page, write_config
from wagtail_salesforce.admin.editor_panel import describe_feeds, page_field_names
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.delivery import deliver_entry
from wagtail_salesforce.outbox.models import OutboxEntry


@pytest.fixture
def admin_client(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def edit_page_html(client: Client, page: Any) -> str:
    response = client.get(reverse("wagtailadmin_pages:edit", args=[page.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_editor_offers_the_configs_mappings_by_label(
    site: Site, admin_client: Client, config_file: Path
) -> None:
    page = landing_page(site, "lead-full")
    write_config(config_file, CONFIG_YAML.replace("Plain Lead create", "Newsletter sign-up"))

    html = edit_page_html(admin_client, page)

    assert '<option value="lead-plain">Newsletter sign-up</option>' in html
    assert '<option value="lead-full" selected>Lead with record type and campaign</option>' in html


def test_the_panel_shows_which_form_fields_feed_which_salesforce_fields(
    site: Site, admin_client: Client
) -> None:
    page = landing_page(site, "lead-full")

    html = edit_page_html(admin_client, page)

    assert "<code>RecordTypeId</code>" not in html  # resolved at delivery, not a mapped field
    assert "<code>LastName</code>" in html and "<code>last_name</code>" in html
    assert "data-salesforce-missing-fields" not in html


def test_the_panel_warns_when_a_field_the_mapping_needs_was_replaced(
    site: Site, admin_client: Client
) -> None:
    # Wagtail keeps a field's clean name when its label changes; an editor who deletes
    # "Last name" and adds "Surname" gets the clean name "surname", which the mapping lacks.
    from home.models import FormField

    page = landing_page(site, "lead-full")
    page.form_fields.get(label="Last name").delete()
    FormField.objects.create(page=page, sort_order=9, label="Surname", field_type="singleline")

    html = edit_page_html(admin_client, page)

    assert "data-salesforce-missing-fields" in html
    assert "This form has no field named last_name that the mapping needs." in html
    assert "missing: last_name" in html


def test_describe_feeds_lists_missing_template_names_and_defaults(site: Site) -> None:
    from wagtail_salesforce.config import get_config

    page = landing_page(site, "lead-full")
    feeds = {
        feed.salesforce_field: feed
        for feed in describe_feeds(get_config().forms["lead-full"], {"email", "last_name"})
    }

    assert page_field_names(page) == {"email", "last_name", "company", "message"}
    assert feeds["Company"].missing == ("company",) and feeds["Company"].default == "(not provided)"
    assert feeds["Description"].kind == "template" and feeds["Description"].missing == ("message",)
    assert feeds["LeadSource"].kind == "constant" and feeds["LeadSource"].missing == ()


def test_the_submissions_list_shows_each_submissions_salesforce_status(
    site: Site, connection: SalesforceConnection, sandbox: Any, admin_client: Client
) -> None:
    page = landing_page(site, "lead-full")
    for email in ("one@example.com", "two@example.com"):
        Client().post(page.url, {"email": email, "last_name": "Status"})
    first, second = OutboxEntry.objects.order_by("pk")
    deliver_entry(first.pk)

    response = admin_client.get(reverse("wagtailforms:list_submissions", args=[page.pk]))

    html = response.content.decode()
    assert response.status_code == 200 and "Salesforce" in html
    assert html.count("Delivered") == 1 and html.count("Pending") == 1


def test_the_submissions_download_neutralises_what_a_visitor_typed(
    site: Site, connection: SalesforceConnection, sandbox: Any, admin_client: Client
) -> None:
    page = landing_page(site, "lead-full")
    Client().post(page.url, {"email": "evil@example.com", "last_name": " =HYPERLINK(1)"})

    response = admin_client.get(
        reverse("wagtailforms:list_submissions", args=[page.pk]), {"export": "csv"}
    )

    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert response.status_code == 200 and "evil@example.com" in body
    assert "'=HYPERLINK(1)" in body or "' =HYPERLINK(1)" in body
    assert ",=HYPERLINK" not in body and ", =HYPERLINK" not in body
