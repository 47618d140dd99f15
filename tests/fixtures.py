"""The fixtures every test directory builds on (registered by ``tests/conftest.py``): a Wagtail
site, the sandbox trusted by the plugin, the plugin's settings and YAML config, and the site
connected to the sandbox.

A directory adapts them by overriding the small fixtures they read, in its ``conftest.py``:

``salesforce_org``
    the org the sandbox serves (the package's pytest plugin; default: the built-in org);
``config_yaml``
    the YAML config written to ``config_file`` and read through ``CONFIG_FILES`` (default: none);
``salesforce_settings``
    the ``WAGTAIL_SALESFORCE`` dict; extend the default one by asking for it by its own name,
    ``def salesforce_settings(salesforce_settings): return {**salesforce_settings, ...}``;
``connection_grant``
    how ``connection`` gets its tokens: ``"authorization_code"`` (the web-server flow with PKCE
    over HTTP, through the connection service, so it holds a refresh token) or ``"password"``
    (a password-grant token of the sandbox's own connected app, stored as the callback would).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from wagtail.models import Site

from tests.connection.oauth_helpers import configure_site, connect_site, default_site
from wagtail_salesforce.client import clear_describe_cache
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.batch import clear_campaign_cache
from wagtail_salesforce.sandbox.server import SandboxHandle

# The connected app ``configured`` registers in the sandbox for the site's callback URL.
SITE_APP_KEY = "site-one-key"
SITE_APP_SECRET = "site-one-secret"  # noqa: S105 - the sandbox app's test secret

# Client retries that wait milliseconds, for tests that run attempt after attempt.
FAST_RETRIES: dict[str, Any] = {"RETRY_BACKOFF_SECONDS": 0.001, "RETRY_BACKOFF_MAX_SECONDS": 0.002}

ConnectionGrant = Literal["authorization_code", "password"]


def connect_with_password_token(site: Site, sandbox: SandboxHandle) -> SalesforceConnection:
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
def config_yaml() -> str | None:
    """The YAML config of this directory's tests (none by default)."""
    return None


@pytest.fixture
def config_file(tmp_path: Path, config_yaml: str | None) -> Path:
    """``config_yaml`` in a temporary file (tests may rewrite it)."""
    if config_yaml is None:
        pytest.fail("config_file needs a config_yaml fixture returning the YAML text")
    path = tmp_path / "salesforce.yaml"
    path.write_text(config_yaml, encoding="utf-8")
    return path


@pytest.fixture
def salesforce_settings(
    salesforce_sandbox: SandboxHandle, config_yaml: str | None, request: pytest.FixtureRequest
) -> dict[str, Any]:
    """``WAGTAIL_SALESFORCE`` for the test: trust the sandbox's CA, generous timeouts, and read
    ``config_file`` when the directory has a YAML config."""
    entries: dict[str, Any] = {
        "CA_FILE": salesforce_sandbox.ca_file,
        "TIMEOUT": (5.0, 15.0),
        "ALLOWED_LOGIN_HOSTS": [str(urlsplit(salesforce_sandbox.login_url).hostname)],
        # Tests post forms at machine speed from one address: spam defence stays out of the
        # way unless a test turns it on (tests/forms/test_spam.py).
        "SPAM_MIN_FILL_SECONDS": 0,
        "SPAM_RATE_LIMIT": 1_000_000,
        "SPAM_DUPLICATE_WINDOW_SECONDS": 0,
    }
    if config_yaml is not None:
        entries["CONFIG_FILES"] = [str(request.getfixturevalue("config_file"))]
    return entries


@pytest.fixture
def plugin_settings(settings: Any, salesforce_settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``salesforce_settings`` in force, with the describe and campaign caches empty on both
    sides of the test (they are per process and keyed by connection, not by test)."""
    settings.WAGTAIL_SALESFORCE = salesforce_settings
    clear_describe_cache()
    clear_campaign_cache()
    yield salesforce_settings
    clear_describe_cache()
    clear_campaign_cache()


@pytest.fixture
def sandbox(salesforce_sandbox: SandboxHandle, plugin_settings: dict[str, Any]) -> SandboxHandle:
    """The plugin's sandbox serving ``salesforce_org``, reset, and trusted by the plugin."""
    return salesforce_sandbox


@pytest.fixture
def site(db: None) -> Site:
    return default_site()


@pytest.fixture
def configured(site: Site, sandbox: SandboxHandle) -> SalesforceConnection:
    """``site``'s connection settings for a connected app the sandbox knows under the site's
    callback URL; not yet connected."""
    return configure_site(site, sandbox, client_id=SITE_APP_KEY, client_secret=SITE_APP_SECRET)


@pytest.fixture
def connection_grant() -> ConnectionGrant:
    return "authorization_code"


@pytest.fixture
def connection(
    site: Site,
    sandbox: SandboxHandle,
    connection_grant: ConnectionGrant,
    request: pytest.FixtureRequest,
) -> SalesforceConnection:
    """``site`` connected to the sandbox (see ``connection_grant``)."""
    if connection_grant == "password":
        return connect_with_password_token(site, sandbox)
    return connect_site(request.getfixturevalue("configured"), sandbox)


@pytest.fixture
def connected(connection: SalesforceConnection) -> SalesforceConnection:
    """``connection``, under the name the connection and admin tests use beside ``configured``."""
    return connection
