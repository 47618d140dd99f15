"""A visitor fills in the landing-page form in Chromium; the submission lands in the sandbox, and
an editor sees it delivered in the submissions list and in the outbox report, with a link that
opens the record (the sandbox answers ``{instance_url}/{Id}`` with its record browser)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from wagtail.models import Site

from tests.e2e.conftest import PASSWORD, log_in
from tests.outbox import conftest as outbox_fixtures
from tests.outbox.conftest import landing_page, leads_with_email
from wagtail_salesforce.connection.models import SalesforceConnection

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

# The outbox tests' sandbox org, YAML and settings (site and connection are the shared ones).
salesforce_org = outbox_fixtures.salesforce_org
config_yaml = outbox_fixtures.config_yaml
salesforce_settings = outbox_fixtures.salesforce_settings
outbox_settings = outbox_fixtures.outbox_settings


def test_a_visitors_submission_is_delivered_and_the_editor_sees_it(
    browser_page: Any,
    live_server: Any,
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    django_user_model: Any,
) -> None:
    form_page = landing_page(site, "lead-full")
    django_user_model.objects.create_superuser("editor", "editor@example.com", PASSWORD)
    page = browser_page

    # The visitor.
    page.goto(live_server.url + form_page.url)
    page.fill("#id_email", "browser@example.com")
    page.fill("#id_last_name", "Browser")
    page.fill("#id_message", "Sent from Chromium")
    page.click("#lead-form button[type=submit]")
    page.wait_for_selector("#thank-you")

    [lead] = leads_with_email(sandbox, "browser@example.com")
    assert lead["Description"] == "Message: Sent from Chromium"

    # The editor.
    log_in(page, live_server, "editor")

    page.goto(live_server.url + reverse("wagtailforms:list_submissions", args=[form_page.pk]))
    row = page.locator("tbody tr", has_text="browser@example.com")
    assert row.locator("td", has_text="Delivered").count() == 1

    page.goto(live_server.url + reverse("wagtail_salesforce:outbox") + "?state=delivered")
    entry_row = page.locator("tr[data-state=delivered]")
    assert entry_row.count() == 1
    link = entry_row.locator("a", has_text=lead["Id"])
    # Every org opens a record at {instance_url}/{Id}; the sandbox redirects it to its browser.
    assert link.get_attribute("href") == f"{connection.instance_url}/{lead['Id']}"

    page.goto(str(link.get_attribute("href")))
    assert page.locator("text=browser@example.com").count() >= 1
