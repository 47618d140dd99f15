"""Fixtures for the sync tests: a Site connected to the sandbox (a password-grant token stored
through the connection model), the sync YAML in a temporary file, and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wagtail.models import Site

from tests.connection.oauth_helpers import default_site
from wagtail_salesforce.client import clear_describe_cache
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.models import SyncRun
from wagtail_salesforce.sync.service import run_cycle

SYNC_YAML = """
version: 1
sync:
  enabled: true
  interval_minutes: 5
  match: [Contact, Lead]
  create_as: Lead
  defaults: {Company: "(not provided)"}
  fields:
    first_name: {Lead: FirstName, Contact: FirstName, direction: both, conflict: newest_wins}
    last_name: {Lead: LastName, Contact: LastName, direction: both, conflict: salesforce_wins}
    title: {Lead: Title, Contact: Title, direction: both, conflict: wagtail_wins}
    notes:
      {Lead: Description, Contact: Description, direction: both, conflict: salesforce_unless_blank}
    company: {Lead: Company, direction: both, conflict: salesforce_wins}
    phone: {Lead: Phone, Contact: Phone, direction: to_salesforce}
    lead_status: {Lead: Status, direction: from_salesforce}
    industry: {Lead: Industry, direction: from_salesforce}
forms:
  contact-us:
    label: Contact us
    object: Lead
    match_on: Email
    fields:
      Email: {from: email}
      FirstName: {from: first_name}
      LastName: {from: last_name}
      Company: {from: company, default: "(not provided)"}
  newsletter:
    label: Newsletter
    object: Campaign
    fields:
      Name: {from: email}
"""


@pytest.fixture
def sandbox(salesforce_sandbox: Any) -> Any:
    return salesforce_sandbox


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "salesforce.yaml"
    path.write_text(SYNC_YAML, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def sync_settings(settings: Any, sandbox: Any, config_file: Path) -> Iterator[None]:
    """Trust the sandbox, read our YAML, fail fast on faults (no client retries)."""
    settings.WAGTAIL_SALESFORCE = {
        "CA_FILE": sandbox.ca_file,
        "CONFIG_FILES": [str(config_file)],
        "TIMEOUT": (2.0, 10.0),
        "MAX_RETRIES": 0,
        "RETRY_BACKOFF_SECONDS": 0.001,
        "RETRY_BACKOFF_MAX_SECONDS": 0.002,
    }
    clear_describe_cache()
    yield
    clear_describe_cache()


def connect_with_token(site: Site, sandbox: Any) -> SalesforceConnection:
    """Store a password-grant token on ``site``'s connection, as the OAuth callback would."""
    token = sandbox.password_token()
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=sandbox.login_url, consumer_key=sandbox.client_id
    )
    connection.consumer_secret = sandbox.client_secret
    connection.access_token = token["access_token"]
    connection.refresh_token = token.get("refresh_token") or ""
    connection.instance_url = token["instance_url"]
    connection.settle_status()
    connection.save()
    return connection


@pytest.fixture
def site(db: None) -> Site:
    return default_site()


@pytest.fixture
def connection(site: Site, sandbox: Any) -> SalesforceConnection:
    return connect_with_token(site, sandbox)


def sync(site: Site, **options: Any) -> SyncRun:
    """Run one cycle and return its run (which must exist: no other worker is running)."""
    outcome = run_cycle(site, **options)
    assert outcome.run is not None
    return outcome.run


def sf_records(sandbox: Any, sobject: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.org.records(sobject) if not r.get("IsDeleted")]


def sf_get(sandbox: Any, sobject: str, record_id: str) -> dict[str, Any]:
    return sandbox.org.get(sobject, record_id, None, "62.0")
