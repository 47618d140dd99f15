"""The form and outbox tests' variant of the shared fixtures (``tests/fixtures.py``): a sandbox
org with an external-ID field on Lead, the mappings in CONFIG_YAML and fast retries; ``connection``
is the site connected through the web-server flow. Helpers: entries, leads, a landing page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from wagtail.models import Page, Site

from tests.connection.oauth_helpers import connect_site
from tests.fixtures import FAST_RETRIES
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import OutboxEntry
from wagtail_salesforce.sandbox.server import SandboxHandle

ORG_YAML = """
objects:
  Lead:
    fields:
      Submission_Id__c: {type: string, length: 64, external_id: true, unique: true}
"""

# The mappings the tests use; ``write_config`` swaps in variants.
CONFIG_YAML = """
version: 1
forms:
  lead-full:
    label: Lead with record type and campaign
    object: Lead
    record_type: Web_Inquiry
    campaign: {name: Autumn Webinar, member_status: Responded}
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company, default: "(not provided)"}
      LeadSource: {value: Web}
      Description: {template: "Message: {message}"}
  lead-match:
    label: Lead matched on email
    object: Lead
    campaign: {name: Autumn Webinar, member_status: Responded}
    match_on: Email
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company, default: "(not provided)"}
  lead-upsert:
    label: Lead upserted on the submission id
    object: Lead
    external_id: Submission_Id__c
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {value: Acme}
  lead-plain:
    label: Plain Lead create
    object: Lead
    campaign: {name: Autumn Webinar}
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {value: Acme}
"""


@pytest.fixture
def salesforce_org() -> str:
    return ORG_YAML


@pytest.fixture
def config_yaml() -> str:
    return CONFIG_YAML


@pytest.fixture
def salesforce_settings(salesforce_settings: dict[str, Any]) -> dict[str, Any]:
    """Keep every backoff at (near) zero so tests run attempt after attempt without waiting.
    Faults surface at the outbox (no client retries)."""
    return {
        **salesforce_settings,
        **FAST_RETRIES,
        "TIMEOUT": (2.0, 5.0),
        "MAX_RETRIES": 0,
        "OUTBOX_RETRY_BASE_SECONDS": 0.0,
        "OUTBOX_RETRY_MAX_SECONDS": 0.0,
    }


@pytest.fixture(autouse=True)
def outbox_settings(plugin_settings: dict[str, Any]) -> None:
    """Every outbox test trusts the sandbox and reads CONFIG_YAML, with the settings above."""


def write_config(path: Path, text: str) -> None:
    """Replace the YAML (a different size, so the config cache notices the edit)."""
    path.write_text(text, encoding="utf-8")


def reconnect(connection: SalesforceConnection, sandbox: SandboxHandle) -> SalesforceConnection:
    """What an administrator's Connect click does after a revoke: a new authorisation."""
    connection.refresh_from_db()
    return connect_site(connection, sandbox)


def make_entry(site: Site, mapping_key: str, **form_data: Any) -> OutboxEntry:
    return OutboxEntry.objects.create(site=site, mapping_key=mapping_key, form_data=form_data)


def leads_with_email(sandbox: SandboxHandle, email: str) -> list[dict[str, Any]]:
    return [
        lead
        for lead in sandbox.org.records("Lead")
        if str(lead.get("Email") or "").lower() == email.lower()
    ]


def landing_page(site: Site, mapping_key: str = "lead-full") -> Any:
    """A published landing page under the site's root with email/last name/company/message."""
    from home.models import FormField, LandingPage

    root = site.root_page or Page.get_first_root_node()
    page = root.add_child(
        instance=LandingPage(
            title="Contact us", slug=f"contact-{mapping_key}", salesforce_mapping=mapping_key
        )
    )
    for order, (label, field_type, required) in enumerate(
        [
            ("Email", "email", True),
            ("Last name", "singleline", True),
            ("Company", "singleline", False),
            ("Message", "multiline", False),
        ]
    ):
        FormField.objects.create(
            page=page, sort_order=order, label=label, field_type=field_type, required=required
        )
    return page
