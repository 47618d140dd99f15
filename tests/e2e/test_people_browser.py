"""Personal data requests in Chromium: a data protection officer looks a person up, downloads
their data as JSON, then erases it through the confirmation dialog, which lists what goes and
offers the Salesforce choices the setting allows. A user with the export permission only gets
no Erase button. Screenshots in English and Japanese go to ``/tmp/team/shots/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import ModelLogEntry, Site

from tests.connection.oauth_helpers import default_site
from tests.e2e.conftest import group_member, log_in, new_page
from tests.outbox.conftest import landing_page
from tests.sync.conftest import SYNC_YAML
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import ErasureTombstone, Lead, LeadOrigin, person_hash

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/team/shots")  # noqa: S108 - outside the repo, asked for by the task
EMAIL = "grace.hopper@example.com"


@pytest.fixture
def held(tmp_path: Path, settings: Any) -> dict[str, Any]:
    """A person with a lead, a form submission and its delivered outbox entry; and another."""
    path = tmp_path / "salesforce.yaml"
    path.write_text(SYNC_YAML, encoding="utf-8")
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(path)], "ERASURE_SALESFORCE": "anonymise"}
    site: Site = default_site()
    page = landing_page(site, "contact-us")
    rows: dict[str, Any] = {"site": site}
    for email, name in [(EMAIL, "Hopper"), ("ada@example.com", "Lovelace")]:
        data = {"email": email, "last_name": name, "company": "Navy", "message": "Hello"}
        submission = FormSubmission.objects.create(page=page, form_data=data)
        entry = OutboxEntry.objects.create(
            site=site,
            page=page,
            submission=submission,
            form_data=data,
            mapping_key="contact-us",
            state=OutboxState.DELIVERED,
            salesforce_object="Lead",
            salesforce_id="00Q5g0000000001EAA" if email == EMAIL else "00Q5g0000000002EAA",
            salesforce_action="created",
        )
        lead = Lead.objects.create(
            site=site,
            email=email,
            values={"last_name": name, "company": "Navy"},
            source=LeadOrigin.FORM,
        )
        rows[email] = {"submission": submission, "entry": entry, "lead": lead}
    return rows


def officer_page(
    chromium: Any, live_server: Any, django_user_model: Any, codenames: list[str], language: str
) -> Any:
    username = f"dpo-{language}-{len(codenames)}"
    group_member(
        django_user_model, username, f"Privacy {username}", codenames, language=language
    )
    page = new_page(chromium, accept_downloads=True, viewport={"width": 1280, "height": 1200})
    return log_in(page, live_server, username)


def look_up(page: Any, live_server: Any, email: str) -> None:
    page.goto(live_server.url + reverse("wagtail_salesforce:people"))
    page.fill("#id_email", email)
    page.click("#person-lookup button[type=submit]")
    page.wait_for_selector("#person-heading")


@pytest.mark.parametrize("language", ["en", "ja"])
def test_an_officer_downloads_then_erases_a_persons_data(
    chromium: Any,
    live_server: Any,
    django_user_model: Any,
    held: dict[str, Any],
    language: str,
    tmp_path: Path,
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = officer_page(
        chromium, live_server, django_user_model, ["access_person", "erase_person"], language
    )
    try:
        # The menu item sits in Settings, beside Settings → Salesforce.
        people_url = reverse("wagtail_salesforce:people")
        assert page.locator(f"#wagtail-sidebar a[href='{people_url}']").count() == 1
        look_up(page, live_server, "  Grace.HOPPER@example.com ")
        assert page.locator("html").get_attribute("lang") == language
        counts = {
            row.get_attribute("data-kind"): row.locator("td").nth(1).inner_text()
            for row in page.locator("#person-summary tbody tr").all()
        }
        assert counts == {
            "leads": "1",
            "form_submissions": "1",
            "outbox_entries": "1",
            "sync_runs": "0",
        }
        page.screenshot(path=str(SHOTS / f"people-lookup-{language}.png"), full_page=True)

        with page.expect_download() as download_info:
            page.click("#person-export button[type=submit]")
        download = download_info.value
        assert download.suggested_filename == f"person-{person_hash(EMAIL)[:12]}.json"
        target = tmp_path / "export.json"
        download.save_as(target)
        document = json.loads(target.read_text(encoding="utf-8"))
        assert document["email"] == EMAIL
        assert [lead["id"] for lead in document["leads"]] == [held[EMAIL]["lead"].pk]
        assert [s["id"] for s in document["form_submissions"]] == [held[EMAIL]["submission"].pk]
        assert [e["id"] for e in document["outbox_entries"]] == [held[EMAIL]["entry"].pk]
        assert "ada@example.com" not in target.read_text(encoding="utf-8")
        assert ModelLogEntry.objects.filter(action="wagtail_salesforce.export").count() == 1

        page.click("button[data-a11y-dialog-show='person-erase-dialog']")
        dialog = page.locator("#person-erase-dialog")
        dialog.locator("#person-erase-confirm").wait_for(state="visible")
        listed = dialog.locator("#person-erase-list li").all_inner_texts()
        assert len(listed) == 4  # leads, submissions, outbox entries, the audit-log line
        # The setting allows up to anonymising: no Delete choice; its own value is chosen.
        choices = dialog.locator("input[name=salesforce]")
        assert [c.get_attribute("value") for c in choices.all()] == ["keep", "anonymise"]
        assert dialog.locator("input[name=salesforce][value=anonymise]").is_checked()
        dialog.locator("input[name=salesforce][value=keep]").check()
        page.screenshot(path=str(SHOTS / f"people-erase-dialog-{language}.png"))

        dialog.locator("#person-erase-confirm").click()
        page.wait_for_selector(".messages .success")
        page.screenshot(path=str(SHOTS / f"people-erased-{language}.png"))
    finally:
        page.context.close()

    assert not Lead.objects.filter(email=EMAIL).exists()
    assert not FormSubmission.objects.filter(pk=held[EMAIL]["submission"].pk).exists()
    entry = OutboxEntry.objects.get(pk=held[EMAIL]["entry"].pk)
    assert entry.form_data == {} and entry.state == OutboxState.DELIVERED
    assert ErasureTombstone.objects.filter(email_hash=person_hash(EMAIL)).exists()
    assert Lead.objects.filter(email="ada@example.com").exists()
    [erased] = ModelLogEntry.objects.filter(action="wagtail_salesforce.erase")
    assert erased.data["salesforce"] == "keep" and "grace" not in erased.label


def test_the_export_permission_alone_offers_no_erasure(
    chromium: Any, live_server: Any, django_user_model: Any, held: dict[str, Any]
) -> None:
    page = officer_page(chromium, live_server, django_user_model, ["access_person"], "en")
    try:
        look_up(page, live_server, EMAIL)
        assert page.locator("#person-export").count() == 1
        assert page.locator("button[data-a11y-dialog-show='person-erase-dialog']").count() == 0
        # Posting the erasure by hand (with the page's CSRF token) is refused too.
        token = page.locator("#person-export input[name=csrfmiddlewaretoken]").input_value()
        response = page.request.post(
            live_server.url + reverse("wagtail_salesforce:people_erase"),
            form={"email": EMAIL, "salesforce": "keep", "csrfmiddlewaretoken": token},
            headers={"Referer": live_server.url + reverse("wagtail_salesforce:people")},
        )
        assert response.status == 403
        assert "salesforce-forbidden" in response.text()
    finally:
        page.context.close()
    assert Lead.objects.filter(email=EMAIL).exists()
