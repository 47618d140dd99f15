"""The example site's landing page, with the demo YAML, delivers a visitor's submission to the
sandbox as a Lead with the Web_Inquiry record type in the Autumn Webinar campaign."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client

from tests.outbox.conftest import leads_with_email
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

DEMO_YAML = Path(__file__).resolve().parents[2] / "example_site" / "salesforce.yaml"


def test_the_demo_landing_page_delivers_a_lead_with_record_type_and_campaign(
    connection: SalesforceConnection,
    sandbox: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from home.demo_content import build_demo_content

    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "CONFIG_FILES": [str(DEMO_YAML)]}
    content = build_demo_content(hostname="localhost", port=80)
    connection.site = content.site
    connection.save()

    with django_capture_on_commit_callbacks(execute=True):
        response = Client(HTTP_HOST="localhost").post(
            "/contact-us/",
            {"email": "demo@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        )

    assert response.status_code == 200
    entry = OutboxEntry.objects.get()
    assert entry.mapping_key == "landing-lead" and entry.state == OutboxState.DELIVERED
    [lead] = leads_with_email(sandbox, "demo@example.com")
    record_type = next(
        r for r in sandbox.org.records("RecordType") if r["Id"] == lead["RecordTypeId"]
    )
    assert record_type["DeveloperName"] == "Web_Inquiry"
    assert lead["Company"] == "(not provided)" and lead["LeadSource"] == "Web"
    [member] = [m for m in sandbox.org.records("CampaignMember") if m["LeadId"] == lead["Id"]]
    assert member["Status"] == "Responded"
