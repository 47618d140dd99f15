"""Salesforce's OAuth 2.0 web-server flow: state, PKCE, authorize URL, token, revoke, identity.

Requests to ``{login_url}/services/oauth2/...`` and the identity URL go through the client's
session factory (:func:`wagtail_salesforce.client.transport.configured_session`), so TLS is always
verified against ``WAGTAIL_SALESFORCE["CA_FILE"]`` when set, the ``TIMEOUT`` setting applies, and
network and TLS failures map to the same exceptions as the REST API's. Errors come back as
:class:`~wagtail_salesforce.exceptions.OAuthError` (``error`` / ``error_description`` from
Salesforce), :class:`~wagtail_salesforce.exceptions.NetworkError` or
:class:`~wagtail_salesforce.exceptions.TLSVerificationFailed`; none of their messages carries a
secret. A login URL whose host is not allowed (:mod:`.login_hosts`) raises
:class:`~.login_hosts.LoginHostNotAllowed` (an ``OAuthError``) before anything is sent. OAuth
requests are not retried here: refreshing is coordinated by the connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from wagtail_salesforce.client.transport import configured_session, failure_from_transport
from wagtail_salesforce.exceptions import OAuthError
from wagtail_salesforce.observability import get_logger

from .login_hosts import require_allowed_login_url

logger = get_logger(__name__)

# What the plugin needs: REST API access and a refresh token for offline use.
SCOPES = "api refresh_token"


def new_state() -> str:
    """An unguessable, single-use ``state`` value (256 bits)."""
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    """A PKCE code verifier: 86 characters from the unreserved set (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """The S256 challenge: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _endpoint(login_url: str, path: str) -> str:
    # Every OAuth request (and the browser's authorize redirect) is built here: checking the host
    # here keeps the secret and tokens from a login URL that was edited past the panel's form.
    require_allowed_login_url(login_url)
    return login_url.rstrip("/") + path


def build_authorize_url(
    login_url: str, *, client_id: str, redirect_uri: str, state: str, code_verifier: str
) -> str:
    """Where Connect sends the browser: Salesforce's login + consent page, with PKCE (S256)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": SCOPES,
            "code_challenge": code_challenge(code_verifier),
            "code_challenge_method": "S256",
            # Always ask: the admin may want to log in as a dedicated integration user.
            "prompt": "login consent",
        }
    )
    return f"{_endpoint(login_url, '/services/oauth2/authorize')}?{query}"


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    refresh_token: str | None
    instance_url: str
    identity_url: str
    issued_at: str
    scope: str

    def __repr__(self) -> str:  # never print tokens, even in a debugger or a failed assert
        return f"TokenResponse(instance_url={self.instance_url!r}, scope={self.scope!r})"


@dataclass(frozen=True)
class Identity:
    org_id: str
    user_id: str
    username: str
    display_name: str


def _request(method: str, url: str, **kwargs: Any) -> requests.Response:
    with configured_session() as session:
        try:
            return session.request(method, url, **kwargs)
        except requests.RequestException as error:
            # A lost answer is a NetworkError, never OutcomeUnknown: a token request saves
            # nothing the caller could look up, and the connection decides whether to repeat it.
            raise failure_from_transport(
                error, operation=f"OAuth {method}", idempotent=True
            ) from error


def _oauth_error(response: requests.Response) -> OAuthError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return OAuthError(
            str(body["error"]), str(body.get("error_description") or ""), response.status_code
        )
    return OAuthError("server_error", f"HTTP {response.status_code}", response.status_code)


def _token_request(login_url: str, form: dict[str, str], client_secret: str) -> TokenResponse:
    response = _request("POST", _endpoint(login_url, "/services/oauth2/token"), data=form)
    if response.status_code != 200:
        raise _oauth_error(response)
    try:
        body = response.json()
        token = TokenResponse(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token") or None,
            instance_url=str(body["instance_url"]).rstrip("/"),
            identity_url=str(body["id"]),
            issued_at=str(body.get("issued_at") or ""),
            scope=str(body.get("scope") or ""),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise OAuthError("server_error", "the token answer was not understood") from error
    signature = body.get("signature")
    if signature and client_secret:
        # Salesforce signs id + issued_at with the consumer secret: proof the answer is genuine.
        expected = base64.b64encode(
            hmac.new(
                client_secret.encode(),
                (token.identity_url + token.issued_at).encode(),
                hashlib.sha256,
            ).digest()
        ).decode("ascii")
        if not hmac.compare_digest(expected, str(signature)):
            raise OAuthError("invalid_signature", "the token answer's signature does not match")
    return token


def exchange_code(
    login_url: str,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> TokenResponse:
    """Trade an authorization code (single use, ~15 minutes) for tokens."""
    return _token_request(
        login_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        },
        client_secret,
    )


def refresh_access_token(
    login_url: str, *, client_id: str, client_secret: str, refresh_token: str
) -> TokenResponse:
    """A new access token; ``refresh_token`` in the answer is set only when the app rotates them."""
    return _token_request(
        login_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        },
        client_secret,
    )


def revoke(login_url: str, token: str) -> None:
    """Revoke a token at Salesforce (a refresh token takes its access tokens with it).

    An already invalid token is not an error: the goal, a dead token, is reached.
    """
    response = _request(
        "POST", _endpoint(login_url, "/services/oauth2/revoke"), data={"token": token}
    )
    if response.status_code == 200:
        return
    error = _oauth_error(response)
    if error.error in ("invalid_token", "invalid_grant"):
        logger.info("Token was already invalid at %s", urlsplit(login_url).netloc)
        return
    raise error


def fetch_identity(identity_url: str, access_token: str) -> Identity:
    """Who authorised the connection: the identity service behind the token's ``id`` URL."""
    response = _request(
        "GET",
        identity_url,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if response.status_code != 200:
        raise _oauth_error(response)
    try:
        body = response.json()
        return Identity(
            org_id=str(body["organization_id"]),
            user_id=str(body["user_id"]),
            username=str(body.get("username") or ""),
            display_name=str(body.get("display_name") or body.get("username") or ""),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise OAuthError("server_error", "the identity answer was not understood") from error
