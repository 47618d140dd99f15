"""Fixtures for the client tests: a real sandbox over HTTPS and test credentials that refresh
their access token at the sandbox's token endpoint (so the refresh path runs over real HTTP)."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from tests.connection.oauth_helpers import authorize_in_sandbox
from wagtail_salesforce.client import SalesforceClient, clear_describe_cache
from wagtail_salesforce.exceptions import OAuthError, ReauthorizationRequired
from wagtail_salesforce.sandbox.oauth import pkce_challenge


class SandboxCredentials:
    """A ``Credentials`` implementation for tests.

    Refreshes are serialised with a lock and guarded by a compare-and-swap on the access token,
    the way the database-backed implementation guards them across processes: a caller holding a
    stale token that another caller already replaced gets the new one without a second refresh.
    """

    connection_key = "test-connection"
    api_version = "62.0"

    def __init__(
        self,
        sandbox: Any,
        token: dict[str, Any],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        self._sandbox = sandbox
        self.client_id = client_id or sandbox.client_id
        self._client_secret = client_secret or sandbox.client_secret
        self._lock = threading.Lock()
        self._access_token: str = token["access_token"]
        self._refresh_token: str | None = token.get("refresh_token")
        self.instance_url: str = token["instance_url"]
        self.refresh_requests = 0
        self.token_endpoint_calls = 0
        self.needs_reauthorisation = False
        self.usage_reports: list[tuple[int, int]] = []

    @property
    def access_token(self) -> str:
        return self._access_token

    @property
    def refresh_token(self) -> str | None:
        return self._refresh_token

    def refresh(self, stale_access_token: str) -> None:
        with self._lock:
            self.refresh_requests += 1
            if self._access_token != stale_access_token:
                return  # someone else refreshed while we waited
            if self.needs_reauthorisation or not self._refresh_token:
                raise ReauthorizationRequired("The connection needs re-authorisation.")
            response = requests.post(
                f"{self._sandbox.login_url}/services/oauth2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": self._refresh_token,
                    "client_id": self.client_id,
                    "client_secret": self._client_secret,
                },
                timeout=10,
            )
            self.token_endpoint_calls += 1
            body = response.json()
            if response.status_code != 200:
                if body.get("error") == "invalid_grant":
                    self.needs_reauthorisation = True
                    raise ReauthorizationRequired("The refresh token was revoked or expired.")
                raise OAuthError(body.get("error", ""), body.get("error_description", ""))
            self._access_token = body["access_token"]
            # Rotated refresh tokens replace the old one, which stops working.
            self._refresh_token = body.get("refresh_token") or self._refresh_token
            self.instance_url = body.get("instance_url") or self.instance_url

    def record_api_usage(self, used: int, limit: int) -> None:
        self.usage_reports.append((used, limit))


# The client tests' org: the built-in one plus external ID fields (one unique, one not, for
# upserts and the 300 "several matches" answer) and an active duplicate rule on Contact email.
ORG_YAML = """
objects:
  Lead:
    fields:
      External_Key__c: {type: string, length: 64, external_id: true, unique: true}
      Non_Unique_Key__c: {type: string, length: 64, external_id: true}
      Typed_Email__c: {type: string, length: 255}
      Rating__c: {type: picklist, values: [Hot, Warm, Cold], restricted: true}
  Contact:
    duplicate_rules: [{name: Contact email, fields: [Email], action: block}]
"""
CALLBACK = "http://127.0.0.1:8000/admin/salesforce/oauth/callback/"


def issue_token(
    sandbox: Any, *, client_id: str | None = None, client_secret: str | None = None
) -> dict[str, Any]:
    """Run the web-server flow over HTTP (login, consent, code exchange with PKCE) and return
    the token response: an access token *and* a refresh token, as a real connection holds."""
    client_id = client_id or sandbox.client_id
    client_secret = client_secret or sandbox.client_secret
    verifier = secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "state": secrets.token_urlsafe(8),
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    reply = authorize_in_sandbox(
        f"{sandbox.login_url}/services/oauth2/authorize?{query}", sandbox.username, sandbox.password
    )
    token = requests.post(
        f"{sandbox.login_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": reply["code"],
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    assert body.get("refresh_token"), "the code grant should include a refresh token"
    return body


def calls_to(sandbox: Any, path_fragment: str) -> list[dict[str, Any]]:
    """The sandbox's logged API-host requests whose path contains ``path_fragment``."""
    return [
        call for call in sandbox.calls if call["host"] == "api" and path_fragment in call["path"]
    ]


@pytest.fixture
def salesforce_org() -> str:
    """The client tests' org (see ORG_YAML) for the plugin's ``salesforce_sandbox``."""
    return ORG_YAML


@pytest.fixture(autouse=True)
def fast_retries(settings: Any) -> Iterator[None]:
    """Keep backoff sleeps to milliseconds and start every test with an empty describe cache."""
    settings.WAGTAIL_SALESFORCE = {
        "MAX_RETRIES": 3,
        "RETRY_BACKOFF_SECONDS": 0.001,
        "RETRY_BACKOFF_MAX_SECONDS": 0.004,
        "TIMEOUT": (2.0, 5.0),
        "ALLOWED_LOGIN_HOSTS": ["127.0.0.1", "localhost"],  # the loopback sandbox
    }
    clear_describe_cache()
    yield
    clear_describe_cache()


@pytest.fixture
def trust_sandbox(salesforce_sandbox: Any, settings: Any) -> None:
    """Make the sandbox's CA file the configured trust (CA_FILE)."""
    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "CA_FILE": str(salesforce_sandbox.ca_file),
    }


@pytest.fixture
def credentials(salesforce_sandbox: Any, trust_sandbox: None) -> SandboxCredentials:
    """Credentials for the sandbox's org, holding a refresh token."""
    return SandboxCredentials(salesforce_sandbox, issue_token(salesforce_sandbox))


@pytest.fixture
def client(credentials: SandboxCredentials) -> SalesforceClient:
    return SalesforceClient(credentials)


def new_lead(**values: Any) -> dict[str, Any]:
    return {"LastName": "Lovelace", "Company": "Analytical Engines", **values}


@pytest.fixture
def unused_tcp_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
