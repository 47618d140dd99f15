"""Fixtures for the form and outbox tests: a sandbox org with an external-ID field on Lead, a
Site connected to it through the real OAuth flow, the YAML config in a temporary file and a
landing page with a form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wagtail.models import Page, Site

from tests.connection.oauth_helpers import configure_site, connect_site, default_site
from wagtail_salesforce.client import clear_describe_cache
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.delivery import clear_campaign_cache
from wagtail_salesforce.outbox.models import OutboxEntry
from wagtail_salesforce.sandbox.server import RunningSandbox, start_sandbox

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

CLIENT_ID = "outbox-tests-key"
CLIENT_SECRET = "outbox-tests-secret"


@pytest.fixture(scope="session")
def _outbox_sandbox_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    org_file = tmp_path_factory.mktemp("outbox-org") / "org.yaml"
    org_file.write_text(ORG_YAML, encoding="utf-8")
    with start_sandbox(org_file=str(org_file)) as running:
        yield running


@pytest.fixture
def sandbox(_outbox_sandbox_session: RunningSandbox) -> RunningSandbox:
    """The outbox tests' sandbox (see ORG_YAML), reset for each test."""
    _outbox_sandbox_session.reset()
    return _outbox_sandbox_session


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "salesforce.yaml"
    path.write_text(CONFIG_YAML, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def outbox_settings(settings: Any, sandbox: RunningSandbox, config_file: Path) -> Iterator[None]:
    """Trust the sandbox, read our YAML, and keep every backoff at (near) zero so tests run
    attempt after attempt without waiting. Faults surface at the outbox (no client retries)."""
    settings.WAGTAIL_SALESFORCE = {
        "CA_FILE": sandbox.ca_file,
        "CONFIG_FILES": [str(config_file)],
        "TIMEOUT": (2.0, 5.0),
        "MAX_RETRIES": 0,
        "RETRY_BACKOFF_SECONDS": 0.001,
        "RETRY_BACKOFF_MAX_SECONDS": 0.002,
        "OUTBOX_RETRY_BASE_SECONDS": 0.0,
        "OUTBOX_RETRY_MAX_SECONDS": 0.0,
    }
    clear_describe_cache()
    clear_campaign_cache()
    yield
    clear_describe_cache()
    clear_campaign_cache()


def write_config(path: Path, text: str) -> None:
    """Replace the YAML (a different size, so the config cache notices the edit)."""
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def site(db: None) -> Site:
    return default_site()


@pytest.fixture
def connection(site: Site, sandbox: RunningSandbox) -> SalesforceConnection:
    """``site`` connected to the sandbox through the web-server flow (it holds a refresh token)."""
    configured = configure_site(site, sandbox, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return connect_site(configured, sandbox)


def reconnect(connection: SalesforceConnection, sandbox: RunningSandbox) -> SalesforceConnection:
    """What an administrator's Connect click does after a revoke: a new authorisation."""
    connection.refresh_from_db()
    return connect_site(connection, sandbox)


def make_entry(site: Site, mapping_key: str, **form_data: Any) -> OutboxEntry:
    return OutboxEntry.objects.create(site=site, mapping_key=mapping_key, form_data=form_data)


def leads_with_email(sandbox: RunningSandbox, email: str) -> list[dict[str, Any]]:
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
