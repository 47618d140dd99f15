"""The Leads listing in Chromium: filter on a synced field in the drawer, sort by a column,
download CSV and XLSX, for a user with the permission, refused to one without. And the plugin
leaves Wagtail's own Japanese alone (the page explorer's 更新, the users list's 管理者)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from wagtail.models import Site

from tests.connection.oauth_helpers import default_site
from tests.e2e.conftest import PASSWORD, group_member, listed_leads, log_in, new_page
from wagtail_salesforce.sync.models import Lead, LeadOrigin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def leads(sync_yaml: Path) -> Site:
    site = default_site()
    for email, status, company in [
        ("open@example.com", "Open - Not Contacted", "Acme"),
        ("working@example.com", "Working - Contacted", "Globex"),
        ("tech@example.com", "Working - Contacted", '=HYPERLINK("http://evil")'),
    ]:
        Lead.objects.create(
            site=site,
            email=email,
            values={"lead_status": status, "company": company},
            source=LeadOrigin.SYNC,
        )
    return site


def user_page(
    chromium: Any, live_server: Any, django_user_model: Any, *, manage: bool, locale: str = "en-GB"
) -> Any:
    username = f"{'manager' if manage else 'editor'}-{locale}"
    # The Leads listing and its export have permissions of their own.
    codenames = ["view_lead", "export_lead"] if manage else []
    group_member(django_user_model, username, f"group-{username}", codenames)
    page = new_page(chromium, locale=locale, accept_downloads=True)
    return log_in(page, live_server, username)


def download(page: Any, label: str) -> bytes:
    """Open the header's Actions menu, click ``label`` and return the downloaded file."""
    page.click("#w-slim-header-buttons button[aria-label=Actions]")
    link = page.locator(f"#w-slim-header-buttons a:has-text('{label}')")
    link.wait_for(state="visible")
    with page.expect_download() as info:
        link.click()
    content = Path(info.value.path()).read_bytes()
    page.keyboard.press("Escape")
    link.wait_for(state="hidden")
    return content


def test_a_manager_filters_sorts_and_exports_leads(
    chromium: Any, live_server: Any, django_user_model: Any, leads: Site
) -> None:
    page = user_page(chromium, live_server, django_user_model, manage=True)
    try:
        page.goto(live_server.url + "/admin/salesforce/leads/")
        assert listed_leads(page) == ["open@example.com", "tech@example.com", "working@example.com"]

        # The drawer names the YAML's field by its label, and filters on it.
        page.click("button[aria-label='Show filters']")
        page.click("button[aria-controls=drilldown-id_f_lead_status]", timeout=5_000)
        assert page.is_visible("label[for=id_f_lead_status]:has-text('Lead status')")
        page.fill("#id_f_lead_status", "working - contacted")
        page.wait_for_url(re.compile(r".*f_lead_status=working.*"))
        page.wait_for_function("document.querySelectorAll('#listing-results tbody tr').length == 2")
        assert listed_leads(page) == ["tech@example.com", "working@example.com"]

        # Sort by Company, descending after a second click.
        page.reload()
        page.click("#listing-results thead th a:has-text('Company')")
        page.wait_for_url(re.compile(r".*ordering=values__company.*"))
        assert listed_leads(page) == ["tech@example.com", "working@example.com"]
        page.click("#listing-results thead th a:has-text('Company')")
        page.wait_for_url(re.compile(r".*ordering=-values__company.*"))
        assert listed_leads(page) == ["working@example.com", "tech@example.com"]

        # The downloads hold the filtered leads, formulas defused.
        page.reload()
        rows = list(csv.DictReader(io.StringIO(download(page, "Download CSV").decode())))
        assert [row["email"] for row in rows] == ["working@example.com", "tech@example.com"]
        assert rows[1]["company"] == '\'=HYPERLINK("http://evil")'
        sheet = load_workbook(io.BytesIO(download(page, "Download XLSX"))).active
        values = list(sheet.iter_rows(values_only=True))
        assert values[0][0] == "email"
        assert [row[0] for row in values[1:]] == ["working@example.com", "tech@example.com"]
    finally:
        page.context.close()


def test_a_user_without_the_permission_is_refused_the_leads(
    chromium: Any, live_server: Any, django_user_model: Any, leads: Site
) -> None:
    page = user_page(chromium, live_server, django_user_model, manage=False)
    try:
        for path in ("/admin/salesforce/leads/", "/admin/salesforce/leads/?export=csv"):
            response = page.goto(live_server.url + path)
            assert response.status == 403
            assert page.is_visible("#salesforce-forbidden")
    finally:
        page.context.close()


def test_wagtails_japanese_is_untouched_by_the_plugin(
    chromium: Any, live_server: Any, django_user_model: Any, sync_yaml: Path
) -> None:
    default_site()
    django_user_model.objects.create_superuser("boss-ja", "boss@example.com", PASSWORD)
    page = new_page(chromium, locale="ja-JP")
    try:
        log_in(page, live_server, "boss-ja")

        page.goto(f"{live_server.url}/admin/pages/")  # the root: the site's home page listed
        headers = [text.strip() for text in page.locator("table thead th").all_inner_texts()]
        assert "更新" in headers and "更新件数" not in headers

        # A superuser's access level reads Wagtail's "Admin": 管理者.
        page.goto(live_server.url + "/admin/users/")
        row = page.locator("table tbody tr", has_text="boss-ja")
        cells = [text.strip() for text in row.locator("td").all_inner_texts()]
        assert "管理者" in cells and "管理画面" not in cells
    finally:
        page.context.close()
