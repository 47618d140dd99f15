"""In Chromium: a visitor is thanked for a first name Salesforce then refuses; an editor finds the
dead letter in the outbox, corrects it beside Salesforce's message, and delivers it once.
Screenshots of the correction screen (English and Japanese) go to ``SHOTS_DIR`` when it is set.
(The held-spam journey, "Deliver anyway", is ``test_front_door_browser.py``'s.)"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from wagtail.models import Site

from tests.admin.test_corrections import NAMES_YAML, names_page
from tests.e2e.conftest import group_member, log_in, new_page
from tests.outbox import conftest as outbox_fixtures
from tests.outbox.conftest import leads_with_email
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS_DIR = os.environ.get("WAGTAIL_SALESFORCE_SHOTS_DIR", "")

salesforce_org = outbox_fixtures.salesforce_org
salesforce_settings = outbox_fixtures.salesforce_settings
outbox_settings = outbox_fixtures.outbox_settings


@pytest.fixture
def config_yaml() -> str:
    return NAMES_YAML


def editor_page(chromium: Any, live_server: Any, django_user_model: Any, language: str) -> Any:
    """A logged-in page of an editor who may view and correct the outbox (not retry)."""
    username = f"corrector-{language}"
    group_member(
        django_user_model,
        username,
        "Outbox correctors",
        ["view_outboxentry", "correct_outboxentry"],
        language=language,
    )
    page = new_page(chromium, viewport={"width": 1280, "height": 1100})
    return log_in(page, live_server, username)


def screenshot(page: Any, name: str) -> None:
    if SHOTS_DIR:
        Path(SHOTS_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS_DIR) / name), full_page=True)


def visitor_submits_a_long_first_name(browser_page: Any, live_server: Any, form_page: Any) -> Any:
    page = browser_page
    page.goto(live_server.url + form_page.url)
    page.fill("#id_email", "grace@example.com")
    page.fill("#id_first_name", "G" * 100)
    page.fill("#id_last_name", "Hopper")
    page.click("#lead-form button[type=submit]")
    page.wait_for_selector("#thank-you")
    # Delivered after the commit (tasks run inline in the tests): Salesforce refused it.
    entry = OutboxEntry.objects.get()
    assert entry.state == OutboxState.DEAD and entry.last_error_code == "STRING_TOO_LONG"
    return entry


@pytest.mark.parametrize("language", ["en", "ja"])
def test_an_editor_corrects_a_dead_letter_and_delivers_it(
    browser_page: Any,
    chromium: Any,
    live_server: Any,
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    django_user_model: Any,
    language: str,
) -> None:
    entry = visitor_submits_a_long_first_name(browser_page, live_server, names_page(site))
    page = editor_page(chromium, live_server, django_user_model, language)
    try:
        page.goto(live_server.url + reverse("wagtail_salesforce:outbox") + "?state=dead")
        row = page.locator(f"tr[data-outbox-entry='{entry.pk}']")
        assert "STRING_TOO_LONG" in row.inner_text()
        screenshot(page, f"outbox-dead-{language}.png")
        row.locator(f"a[data-correct-entry='{entry.pk}']").click()
        page.wait_for_selector("#salesforce-refusal")

        # Salesforce's message, and the form field that feeds the field it named.
        assert "STRING_TOO_LONG" in page.inner_text("#salesforce-refusal")
        refused = page.locator("[data-correction-field='first_name'][data-refused]")
        assert refused.count() == 1
        assert page.locator("[data-refused]").count() == 1
        assert page.input_value("#id_first_name") == "G" * 100

        # Still too long for Lead.FirstName (40): refused at the screen, nothing sent.
        page.fill("#id_first_name", "G" * 41)
        page.click("#w-editor-form button[type=submit]")
        page.wait_for_selector("#w-editor-form .error-message")
        screenshot(page, f"correction-{language}.png")
        entry.refresh_from_db()
        assert entry.state == OutboxState.DEAD
        assert leads_with_email(sandbox, "grace@example.com") == []

        page.fill("#id_first_name", "Grace")
        page.click("#w-editor-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/admin/salesforce/outbox/$"))
        page.locator(".messages .success").wait_for()
        screenshot(page, f"correction-done-{language}.png")

        entry.refresh_from_db()
        assert entry.state == OutboxState.DELIVERED
        [lead] = leads_with_email(sandbox, "grace@example.com")
        assert lead["FirstName"] == "Grace" and lead["LastName"] == "Hopper"
        # Delivered on the way back to the outbox (tasks run inline after the commit); the page
        # was drawn after that, so its row shows it, with no link to correct it again.
        assert page.locator(f"tr[data-outbox-entry='{entry.pk}'][data-state='delivered']").count()
        assert page.locator(f"a[data-correct-entry='{entry.pk}']").count() == 0
    finally:
        page.context.close()
