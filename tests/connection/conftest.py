"""Fixtures for the connection tests: the sandbox trusted by the plugin, a configured site."""

from __future__ import annotations

from typing import Any

import pytest
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection

from .oauth_helpers import configure_site, connect_site, default_site


@pytest.fixture
def sandbox(salesforce_sandbox: Any, settings: Any) -> Any:
    """The sandbox, with the plugin trusting its CA and short timeouts."""
    settings.WAGTAIL_SALESFORCE = {"CA_FILE": salesforce_sandbox.ca_file, "TIMEOUT": (5.0, 15.0)}
    return salesforce_sandbox


@pytest.fixture
def site(db: None) -> Site:
    return default_site()


@pytest.fixture
def configured(site: Site, sandbox: Any) -> SalesforceConnection:
    return configure_site(site, sandbox, client_id="site-one-key", client_secret="site-one-secret")


@pytest.fixture
def connected(configured: SalesforceConnection, sandbox: Any) -> SalesforceConnection:
    return connect_site(configured, sandbox)
