"""In Chromium: a visitor sees the org's length limit and the picklist's choices at the form;
an editor finds a submission held as spam and delivers it anyway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from wagtail.models import Site

from tests.e2e.conftest import PASSWORD, log_in
from tests.forms.test_constraints import CHOICES_YAML
from tests.outbox import conftest as outbox_fixtures
from tests.outbox.conftest import landing_page, leads_with_email, write_config
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.forms.describes import refresh_all_sites
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

salesforce_org = outbox_fixtures.salesforce_org
config_yaml = outbox_fixtures.config_yaml
salesforce_settings = outbox_fixtures.salesforce_settings
outbox_settings = outbox_fixtures.outbox_settings


def test_a_visitor_sees_the_length_error_and_the_picklist_choices(
    browser_page: Any,
    live_server: Any,
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    config_file: Path,
) -> None:
    from home.models import FormField

    write_config(config_file, CHOICES_YAML)
    refresh_all_sites()
    form_page = landing_page(site)
    FormField.objects.create(
        page=form_page, sort_order=9, label="Industry", field_type="dropdown", choices=""
    )
    page = browser_page
    page.goto(live_server.url + form_page.url)
    options = page.locator("#id_industry option").all_inner_texts()
    assert "Technology" in options

    page.fill("#id_email", "long@example.com")
    # The browser stops the visitor at the org's length (Lead.LastName holds 80) ...
    assert page.get_attribute("#id_last_name", "maxlength") == "80"
    page.locator("#id_last_name").press_sequentially("x" * 90)
    assert page.input_value("#id_last_name") == "x" * 80
    # ... and a browser that ignores it meets the same limit in the visitor's words.
    page.evaluate("document.querySelector('#id_last_name').removeAttribute('maxlength')")
    page.fill("#id_last_name", "x" * 100)
    page.fill("#id_company", "Acme")
    page.select_option("#id_industry", "Technology")
    page.click("#lead-form button[type=submit]")
    page.wait_for_load_state()
    assert "at most 80 characters" in page.content(), page.content()
    assert not OutboxEntry.objects.exists()


def test_an_editor_finds_held_spam_and_delivers_it(
    browser_page: Any,
    live_server: Any,
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    django_user_model: Any,
) -> None:
    form_page = landing_page(site, "lead-plain")
    django_user_model.objects.create_superuser("editor", "editor@example.com", PASSWORD)
    page = browser_page

    # A bot fills in every input, the invisible honeypot too.
    page.goto(live_server.url + form_page.url)
    page.fill("#id_email", "bot@example.com")
    page.fill("#id_last_name", "Bot")
    page.locator("input[name=contact_homepage]").fill("http://spam.example")
    page.click("#lead-form button[type=submit]")
    page.wait_for_selector("#thank-you")
    entry = OutboxEntry.objects.get()
    assert entry.state == OutboxState.HELD and not leads_with_email(sandbox, "bot@example.com")

    log_in(page, live_server, "editor")
    page.goto(live_server.url + reverse("wagtail_salesforce:outbox") + "?state=held")
    row = page.locator(f"tr[data-outbox-entry='{entry.pk}']")
    assert "honeypot" in row.inner_text()
    row.locator("input[name=entry]").check()
    page.click("button:has-text('Deliver anyway')")
    page.wait_for_selector("text=released for delivery")

    entry.refresh_from_db()  # delivered inline after the release committed
    assert entry.state == OutboxState.DELIVERED
    assert len(leads_with_email(sandbox, "bot@example.com")) == 1
