"""The "Marketing" recipe group in Chromium: its member sees and exports the leads, finds the
Salesforce outbox under Reports, and has no Settings → Salesforce; the connection panel's URLs
answer 403. Screenshots of the Leads listing and the Settings menu, in English and in Japanese
(the user's preferred language), go to ``/tmp/marketing_shots/``."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from wagtail.models import Site

from tests.connection.oauth_helpers import default_site
from tests.e2e.conftest import group_member, listed_leads, log_in, new_page
from wagtail_salesforce.sync.models import Lead, LeadOrigin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/marketing_shots")  # noqa: S108 - outside the repo, asked for by the issue
EMAILS = ["ann@example.com", "bob@example.com", "cy@example.com"]
MARKETING_CODENAMES = [
    "view_lead",
    "export_lead",
    "edit_lead",
    "manage_segment",
    "view_outboxentry",
]


@pytest.fixture
def leads(sync_yaml: Path) -> Site:
    site = default_site()
    for email in EMAILS:
        Lead.objects.create(
            site=site,
            email=email,
            values={"lead_status": "Open - Not Contacted", "company": "Acme"},
            source=LeadOrigin.SYNC,
        )
    return site


def marketing_page(
    chromium: Any, live_server: Any, django_user_model: Any, *, language: str = "en"
) -> Any:
    """A logged-in Chromium page of a member of the "Marketing" group who prefers ``language``."""
    username = f"marketer-{language}"
    user = group_member(
        django_user_model, username, "Marketing", MARKETING_CODENAMES, language=language
    )
    assert user.groups.get().permissions.count() == 1 + len(MARKETING_CODENAMES)
    page = new_page(chromium, accept_downloads=True)
    return log_in(page, live_server, username)


def sidebar_menus(page: Any) -> list[str]:
    """The labels of the sidebar's top-level menu items, in order."""
    items = page.locator(
        "#wagtail-sidebar .sidebar-main-menu > ul > li > :is(a, button) .menuitem-label"
    )
    items.first.wait_for(state="visible")
    return [text.strip() for text in items.all_inner_texts()]


def open_sidebar_menu(page: Any, label: str) -> None:
    """Open the sidebar's submenu ``label`` (e.g. "Settings") and wait for it to show."""
    page.locator("#wagtail-sidebar button.sidebar-menu-item__link", has_text=label).click()
    page.locator(".sidebar-sub-menu-panel").first.wait_for(state="visible")


def test_marketing_sees_and_exports_leads_but_not_the_connection(
    chromium: Any, live_server: Any, django_user_model: Any, leads: Site
) -> None:
    page = marketing_page(chromium, live_server, django_user_model)
    try:
        page.goto(live_server.url + reverse("wagtail_salesforce:leads"))
        assert listed_leads(page) == EMAILS

        # The CSV download holds every lead.
        page.click("#w-slim-header-buttons button[aria-label=Actions]")
        link = page.locator("#w-slim-header-buttons a:has-text('Download CSV')")
        link.wait_for(state="visible")
        with page.expect_download() as info:
            link.click()
        rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text("utf-8"))))
        assert sorted(row["email"] for row in rows) == EMAILS
        page.keyboard.press("Escape")

        # Reports → Salesforce outbox is offered …
        outbox_url = reverse("wagtail_salesforce:outbox")
        open_sidebar_menu(page, "Reports")
        outbox_link = page.locator(f"#wagtail-sidebar a[href='{outbox_url}']")
        assert outbox_link.is_visible()
        assert outbox_link.inner_text().strip() == "Salesforce outbox"
        page.keyboard.press("Escape")

        # … Settings → Salesforce is not: with nothing else in it for this group, Wagtail leaves
        # the whole Settings menu out. The panel's URLs refuse this user.
        page.goto(live_server.url + reverse("wagtail_salesforce:leads"))
        assert sidebar_menus(page) == ["Leads", "Reports", "Help"]
        index_url = reverse("wagtail_salesforce:index")
        assert page.locator(f"#wagtail-sidebar a[href='{index_url}']").count() == 0

        for url in (index_url, reverse("wagtail_salesforce:edit", args=[leads.pk])):
            response = page.goto(live_server.url + url)
            assert response.status == 403, url
            assert page.is_visible("#salesforce-forbidden")
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("language", "menus"),
    [("en", ["Leads", "Reports", "Help"]), ("ja", ["リード", "レポート", "Help"])],
)
def test_screenshots_of_the_marketing_users_admin(
    chromium: Any,
    live_server: Any,
    django_user_model: Any,
    leads: Site,
    language: str,
    menus: list[str],
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = marketing_page(chromium, live_server, django_user_model, language=language)
    try:
        page.goto(live_server.url + reverse("wagtail_salesforce:leads"))
        assert page.locator("html").get_attribute("lang") == language
        assert listed_leads(page) == EMAILS
        leads_shot = SHOTS / f"leads-{language}.png"
        page.screenshot(path=str(leads_shot), full_page=True)
        assert leads_shot.stat().st_size > 0

        # Where Settings would be: the sidebar has no Settings menu for this group.
        assert sidebar_menus(page) == menus
        index_url = reverse("wagtail_salesforce:index")
        assert page.locator(f"#wagtail-sidebar a[href='{index_url}']").count() == 0
        menu_shot = SHOTS / f"settings-menu-{language}.png"
        page.screenshot(path=str(menu_shot))
        assert menu_shot.stat().st_size > 0
    finally:
        page.context.close()
