"""The sync tests' variant of the shared fixtures (``tests/fixtures.py``): the sync YAML, no client
retries, and ``connection`` holding a password-grant token stored through the connection model.
Helpers: run a cycle, read the sandbox's records."""

from __future__ import annotations

from typing import Any

import pytest
from wagtail.models import Site

from tests.fixtures import FAST_RETRIES, ConnectionGrant
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
def config_yaml() -> str:
    return SYNC_YAML


@pytest.fixture
def salesforce_settings(salesforce_settings: dict[str, Any]) -> dict[str, Any]:
    """Fail fast on faults (no client retries)."""
    return {**salesforce_settings, **FAST_RETRIES, "TIMEOUT": (2.0, 10.0), "MAX_RETRIES": 0}


@pytest.fixture(autouse=True)
def sync_settings(plugin_settings: dict[str, Any]) -> None:
    """Every sync test trusts the sandbox and reads SYNC_YAML, with the settings above."""


@pytest.fixture
def connection_grant() -> ConnectionGrant:
    """The sync tests' site holds a password-grant token of the sandbox's own connected app."""
    return "password"


def sync(site: Site, **options: Any) -> SyncRun:
    """Run one cycle and return its run (which must exist: no other worker is running)."""
    outcome = run_cycle(site, **options)
    assert outcome.run is not None
    return outcome.run


def sf_records(sandbox: Any, sobject: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.org.records(sobject) if not r.get("IsDeleted")]


def sf_get(sandbox: Any, sobject: str, record_id: str) -> dict[str, Any]:
    return sandbox.org.get(sobject, record_id, None, "62.0")
