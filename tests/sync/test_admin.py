"""The sync admin: lead list and filters, editing, segments and CSV export, runs, Sync now."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client, RequestFactory
from django.urls import reverse
from openpyxl import load_workbook
from wagtail.models import Site

from wagtail_salesforce.admin.health_panel import add_health_panel
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.models import Lead, LeadOrigin, Segment, SyncRun

from .conftest import sf_get, sync


def lead(site: Site, email: str, *, linked: bool = False, **values: Any) -> Lead:
    return Lead.objects.create(
        site=site,
        email=email,
        values=values,
        base=dict(values),
        source=LeadOrigin.SYNC,
        sf_object="Lead" if linked else "",
        sf_id=f"00Q{abs(hash(email)) % 10**15:015d}" if linked else "",
    )


@pytest.fixture
def leads(site: Site) -> list[Lead]:
    return [
        lead(
            site,
            "open@example.com",
            linked=True,
            lead_status="Open - Not Contacted",
            industry="Banking",
            company="Acme",
        ),
        lead(
            site,
            "working@example.com",
            linked=True,
            lead_status="Working - Contacted",
            industry="Banking",
            company="Globex",
        ),
        lead(
            site,
            "tech@example.com",
            lead_status="Working - Contacted",
            industry="Technology",
            company='=HYPERLINK("http://evil")',
        ),
    ]


def listed(response: Any) -> list[str]:
    return [lead_.email for lead_ in response.context["object_list"]]


def test_lead_list_filters_on_salesforce_status_and_industry(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    url = reverse("wagtail_salesforce:leads")

    by_status = admin_client.get(url, {"f_lead_status": "working - contacted"})
    by_both = admin_client.get(
        url, {"f_lead_status": "Working - Contacted", "f_industry": "Banking"}
    )
    by_search = admin_client.get(url, {"q": "globex"})
    unlinked = admin_client.get(url, {"linked": "no"})

    assert listed(by_status) == ["tech@example.com", "working@example.com"]
    assert listed(by_both) == ["working@example.com"]
    assert listed(by_search) == ["working@example.com"]
    assert listed(unlinked) == ["tech@example.com"]
    assert b"working@example.com" in by_both.content


def test_unknown_filter_field_is_explained_not_ignored_silently(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    response = admin_client.get(reverse("wagtail_salesforce:leads"), {"f_no_such": "x"})
    assert "Unknown field(s) in the filter: no_such." in [
        str(m) for m in response.context["messages"]
    ]


def test_editor_edit_marks_fields_for_salesforce_and_the_sync_sends_them(
    admin_client: Client, site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    record_id = sandbox.org.create(
        "Lead", {"LastName": "Edit", "Company": "Old", "Email": "edit@example.com"}
    )
    sync(site)
    edited = Lead.objects.get(email="edit@example.com")
    url = reverse("wagtail_salesforce:lead_edit", args=[edited.pk])
    form = admin_client.get(url).context["form"]
    data = {name: value or "" for name, value in form.initial.items()}

    response = admin_client.post(
        url, {**data, "company": "New Co", "lead_status": "Closed - Converted"}
    )

    assert response.status_code == 302
    edited.refresh_from_db()
    assert edited.needs_push and set(edited.local_modified) == {"company"}
    assert edited.values["lead_status"] == "Open - Not Contacted"  # read-only: Salesforce owns it
    sync(site)
    assert sf_get(sandbox, "Lead", record_id)["Company"] == "New Co"


def test_segment_saved_from_a_filter_exports_its_leads_as_csv(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    save = reverse("wagtail_salesforce:segment_save")
    admin_client.post(save + "?f_lead_status=Working+-+Contacted", {"name": "Working leads"})

    segment = Segment.objects.get(site=site, name="Working leads")
    assert segment.filter["fields"] == {"lead_status": "Working - Contacted"}
    listing = admin_client.get(reverse("wagtail_salesforce:segments"))
    assert [(s.name, s.lead_count) for s in listing.context["object_list"]] == [
        ("Working leads", 2)
    ]

    response = admin_client.get(reverse("wagtail_salesforce:segment_export", args=[segment.pk]))

    assert response["Content-Type"] == "text/csv"
    assert 'filename="working-leads.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["email"] for row in rows] == ["tech@example.com", "working@example.com"]
    # A value that a spreadsheet would run as a formula is defused.
    assert rows[0]["company"] == '\'=HYPERLINK("http://evil")'


def test_sync_now_runs_a_cycle_and_the_history_shows_it(
    admin_client: Client, site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    Lead.objects.create(
        site=site, email="now@example.com", values={"last_name": "Now"}, needs_push=True
    )

    response = admin_client.post(reverse("wagtail_salesforce:sync_now", args=[site.pk]))

    assert response.status_code == 302
    run = SyncRun.objects.get(site=site)  # the test settings run django-q2 tasks inline
    assert run.created == 1
    history = admin_client.get(reverse("wagtail_salesforce:sync_runs"), {"site": site.pk})
    assert list(history.context["object_list"]) == [run]
    assert b'id="sync-now"' in history.content


def test_runs_page_lists_errors(admin_client: Client, site: Site) -> None:
    SyncRun.objects.create(
        site=site,
        status="partial",
        errors=[{"message": "STRING_TOO_LONG: Last Name too long", "email": "x@example.com"}],
    )
    page = admin_client.get(reverse("wagtail_salesforce:sync_runs"))
    assert b"x@example.com: STRING_TOO_LONG: Last Name too long" in page.content


def test_dashboard_panel_shows_the_last_run(site: Site, admin_user: Any) -> None:
    SyncRun.objects.create(site=site, status="succeeded", pulled=3, pushed=2)
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    panels: list[Any] = []

    add_health_panel(request, panels)

    html = panels[0].render_html({})
    assert "3 pulled, 2 pushed" in html


def test_views_need_the_manage_permission(
    django_user_model: Any, site: Site, leads: list[Lead]
) -> None:
    user = django_user_model.objects.create_user("editor", password="x")  # noqa: S106
    # A Wagtail editor, but without the plugin's "manage Salesforce connection" permission.
    group = Group.objects.create(name="Editors without Salesforce")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    for name, args, query in [
        ("leads", [], {}),
        ("lead_edit", [leads[0].pk], {}),
        ("leads", [], {"export": "csv"}),
        ("sync_runs", [], {}),
        ("segments", [], {}),
    ]:
        url = reverse(f"wagtail_salesforce:{name}", args=args)
        assert client.get(url, query).status_code == 403
    assert client.post(reverse("wagtail_salesforce:sync_now", args=[site.pk])).status_code == 403


def test_lead_list_explains_a_config_without_sync_section(
    admin_client: Client, site: Site, leads: list[Lead], config_file: Any
) -> None:
    config_file.write_text("version: 1\nforms: {}\n", encoding="utf-8")

    response = admin_client.get(reverse("wagtail_salesforce:leads"))

    assert response.status_code == 200
    assert b"The YAML config has no sync section" in response.content
    assert len(response.context["object_list"]) == 3


def test_export_with_an_unknown_field_is_a_clear_400(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    response = admin_client.get(
        reverse("wagtail_salesforce:leads"), {"f_nope": "x", "export": "csv"}
    )
    assert response.status_code == 400
    assert response.content == b"Unknown field(s) in the filter: nope."


def test_the_filter_drawer_and_columns_use_field_labels_not_keys(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    response = admin_client.get(reverse("wagtail_salesforce:leads"))

    html = response.content.decode()
    form = response.context["filters"].form
    assert form["f_lead_status"].label == "Lead status"
    assert [column.label for column in response.context["table"].columns.values()][1:4] == [
        "Email address",
        "First name",
        "Last name",
    ]
    assert ">lead_status<" not in html and ">first_name<" not in html


def test_leads_sort_by_a_synced_field(admin_client: Client, site: Site, leads: list[Lead]) -> None:
    url = reverse("wagtail_salesforce:leads")

    ascending = admin_client.get(url, {"ordering": "values__company"})
    descending = admin_client.get(url, {"ordering": "-values__company"})

    assert listed(ascending) == ["tech@example.com", "open@example.com", "working@example.com"]
    assert listed(descending) == list(reversed(listed(ascending)))


def test_the_listing_filters_by_site(admin_client: Client, site: Site, leads: list[Lead]) -> None:
    other = Site.objects.create(hostname="other.example", root_page=site.root_page)
    lead(other, "elsewhere@example.com", company="Else")

    everywhere = admin_client.get(reverse("wagtail_salesforce:leads"))
    here = admin_client.get(reverse("wagtail_salesforce:leads"), {"site": site.pk})

    assert "elsewhere@example.com" in listed(everywhere)
    assert "elsewhere@example.com" not in listed(here) and len(listed(here)) == 3


def test_xlsx_export_holds_the_filtered_leads_with_formulas_defused(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    response = admin_client.get(
        reverse("wagtail_salesforce:leads"), {"f_industry": "technology", "export": "xlsx"}
    )

    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[0] == "email" and "company" in header
    assert [row[0] for row in rows[1:]] == ["tech@example.com"]
    assert rows[1][header.index("company")] == '\'=HYPERLINK("http://evil")'


def test_a_segment_is_deleted_after_a_confirmation_page(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    segment = Segment.objects.create(site=site, name="Old", filter={"fields": {}})
    url = reverse("wagtail_salesforce:segment_delete", args=[segment.pk])

    question = admin_client.get(url)
    assert question.status_code == 200 and Segment.objects.filter(pk=segment.pk).exists()

    admin_client.post(url)
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_the_bulk_action_sends_the_selected_leads_in_the_next_sync(
    admin_client: Client, site: Site, leads: list[Lead]
) -> None:
    failed = leads[2]
    Lead.objects.filter(pk=failed.pk).update(sync_error="STRING_TOO_LONG", needs_push=False)
    url = (
        reverse("wagtail_bulk_action", args=["wagtail_salesforce", "lead", "send_in_next_sync"])
        + f"?id={failed.pk}&next=/admin/salesforce/leads/"
    )

    question = admin_client.get(url)
    assert question.status_code == 200 and failed.email in question.content.decode()
    assert not Lead.objects.get(pk=failed.pk).needs_push

    done = admin_client.post(url)

    assert done.status_code == 302
    assert Lead.objects.get(pk=failed.pk).needs_push
    assert not Lead.objects.get(pk=leads[0].pk).needs_push
    listing = admin_client.get(reverse("wagtail_salesforce:leads")).content.decode()
    assert "data-bulk-action-checkbox" in listing and "Send in the next sync" in listing


def test_the_bulk_action_leaves_leads_alone_for_a_user_without_the_permission(
    django_user_model: Any, site: Site, leads: list[Lead]
) -> None:
    user = django_user_model.objects.create_user("editor", password="x")  # noqa: S106
    group = Group.objects.create(name="Editors without Salesforce")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    url = (
        reverse("wagtail_bulk_action", args=["wagtail_salesforce", "lead", "send_in_next_sync"])
        + f"?id={leads[2].pk}"
    )

    client.post(url)

    assert not Lead.objects.get(pk=leads[2].pk).needs_push
