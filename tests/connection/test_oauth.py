"""The OAuth endpoints against the sandbox: PKCE, code exchange, refresh, revoke, identity."""

from __future__ import annotations

import socket
import string
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore

from wagtail_salesforce.connection import oauth, service
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.exceptions import NetworkError, OAuthError, TLSVerificationFailed

from .oauth_helpers import authorize_in_sandbox


def test_s256_challenge_matches_rfc_7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert oauth.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifier_and_state_are_long_random_and_url_safe() -> None:
    verifier = oauth.new_code_verifier()
    assert 43 <= len(verifier) <= 128
    unreserved = set(string.ascii_letters + string.digits + "-._~")
    assert set(verifier) <= unreserved
    assert oauth.new_state() != oauth.new_state()


def test_authorize_url_carries_state_challenge_and_scopes() -> None:
    url = oauth.build_authorize_url(
        "https://login.salesforce.com/",
        client_id="key",
        redirect_uri="https://example.com/admin/salesforce/oauth/callback/",
        state="st",
        code_verifier="v" * 50,
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://login.salesforce.com/services/oauth2/authorize"
    )
    assert query["response_type"] == ["code"]
    assert query["state"] == ["st"]
    assert query["code_challenge"] == [oauth.code_challenge("v" * 50)]
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["api refresh_token"]


def _authorize(connection: SalesforceConnection, sandbox: Any) -> tuple[dict[str, str], str]:
    session = SessionStore()
    url = service.start_authorization(session, connection)
    reply = authorize_in_sandbox(url, sandbox.username, sandbox.password)
    return reply, service.pop_state(session, reply["state"]).verifier


def test_code_exchange_gives_tokens_and_identity(configured: Any, sandbox: Any) -> None:
    reply, verifier = _authorize(configured, sandbox)
    token = oauth.exchange_code(
        sandbox.login_url,
        client_id="site-one-key",
        client_secret="site-one-secret",
        code=reply["code"],
        redirect_uri=configured.callback_url(),
        code_verifier=verifier,
    )
    assert token.refresh_token
    assert token.instance_url == sandbox.instance_url
    identity = oauth.fetch_identity(token.identity_url, token.access_token)
    assert identity.username == sandbox.username
    assert identity.org_id.startswith("00D")
    assert token.access_token not in repr(token)


def test_wrong_code_verifier_is_refused_because_the_app_enforces_pkce(
    configured: Any, sandbox: Any
) -> None:
    reply, _verifier = _authorize(configured, sandbox)
    with pytest.raises(OAuthError) as raised:
        oauth.exchange_code(
            sandbox.login_url,
            client_id="site-one-key",
            client_secret="site-one-secret",
            code=reply["code"],
            redirect_uri=configured.callback_url(),
            code_verifier=oauth.new_code_verifier(),
        )
    assert raised.value.error == "invalid_request"


def test_authorize_without_challenge_is_refused_by_a_pkce_app(
    configured: Any, sandbox: Any
) -> None:
    url = oauth.build_authorize_url(
        sandbox.login_url,
        client_id="site-one-key",
        redirect_uri=configured.callback_url(),
        state="s",
        code_verifier="x" * 43,
    )
    without_pkce = url.replace("code_challenge=", "dropped=")
    response = requests.get(without_pkce, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["invalid_request"]


def test_wrong_consumer_secret_is_invalid_client(configured: Any, sandbox: Any) -> None:
    reply, verifier = _authorize(configured, sandbox)
    with pytest.raises(OAuthError) as raised:
        oauth.exchange_code(
            sandbox.login_url,
            client_id="site-one-key",
            client_secret="not-the-secret",
            code=reply["code"],
            redirect_uri=configured.callback_url(),
            code_verifier=verifier,
        )
    assert raised.value.error == "invalid_client"
    assert "not-the-secret" not in str(raised.value)


def test_code_is_single_use(configured: Any, sandbox: Any) -> None:
    reply, verifier = _authorize(configured, sandbox)
    arguments = {
        "client_id": "site-one-key",
        "client_secret": "site-one-secret",
        "code": reply["code"],
        "redirect_uri": configured.callback_url(),
        "code_verifier": verifier,
    }
    oauth.exchange_code(sandbox.login_url, **arguments)
    with pytest.raises(OAuthError) as raised:
        oauth.exchange_code(sandbox.login_url, **arguments)
    assert raised.value.error == "invalid_grant"


def test_refresh_then_revoke_makes_the_refresh_token_invalid(connected: Any, sandbox: Any) -> None:
    arguments = {"client_id": "site-one-key", "client_secret": "site-one-secret"}
    refreshed = oauth.refresh_access_token(
        sandbox.login_url, refresh_token=connected.refresh_token, **arguments
    )
    assert refreshed.access_token != connected.access_token
    oauth.revoke(sandbox.login_url, connected.refresh_token)
    with pytest.raises(OAuthError) as raised:
        oauth.refresh_access_token(
            sandbox.login_url, refresh_token=connected.refresh_token, **arguments
        )
    assert raised.value.error == "invalid_grant"
    # Revoking what is already dead is not an error.
    oauth.revoke(sandbox.login_url, connected.refresh_token)


def test_connected_site_stores_identity_and_status(connected: Any, sandbox: Any) -> None:
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.status == ConnectionStatus.CONNECTED
    assert stored.username == sandbox.username
    assert stored.instance_url == sandbox.instance_url
    assert stored.org_id.startswith("00D")
    assert stored.connected_at is not None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_login_url_is_a_network_error_naming_the_host(settings: Any) -> None:
    port = _closed_port()
    with pytest.raises(NetworkError) as raised:
        oauth.refresh_access_token(
            f"http://127.0.0.1:{port}", client_id="k", client_secret="s", refresh_token="r"
        )
    assert f"127.0.0.1:{port}" in str(raised.value)


def test_untrusted_certificate_is_a_tls_error(sandbox: Any, settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {}  # the system store does not know the sandbox's CA
    with pytest.raises(TLSVerificationFailed):
        oauth.fetch_identity(sandbox.instance_url + "/id/x/y", "token")
