"""OAuth 2.0 for the sandbox: connected apps, authorization codes, access and refresh tokens.

Behaves like Salesforce's web-server flow (with PKCE), refresh-token, username-password and
client-credentials grants, revocation and the identity service. Tokens are random opaque strings
shaped like Salesforce's (``00D...!AQ...`` access tokens, ``5Aep...`` refresh tokens).
HTTP framing lives in :mod:`server`; this module raises :class:`OAuthError` with the exact
``error`` / ``error_description`` pair Salesforce sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CODE_TTL_SECONDS = 15 * 60
LOGIN_TICKET_TTL_SECONDS = 15 * 60
PRUNE_THRESHOLD = 5000  # live tokens kept before dead ones are swept out
DEFAULT_SCOPE = "api refresh_token"
KNOWN_SCOPES = (
    "api", "refresh_token", "offline_access", "id", "profile", "email", "openid", "full", "web",
)


class OAuthError(Exception):
    """An OAuth failure answered as ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class AuthorizePageError(Exception):
    """An authorize request so broken it must not redirect (bad client id, unknown callback)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class AuthorizeRedirectError(Exception):
    """An authorize error reported back to the (valid) redirect_uri."""

    def __init__(self, redirect_url: str) -> None:
        super().__init__(redirect_url)
        self.redirect_url = redirect_url


@dataclass(frozen=True)
class ConnectedApp:
    name: str
    client_id: str
    client_secret: str
    callback_urls: tuple[str, ...]
    require_pkce: bool = True
    refresh_token_policy: str = "until_revoked"  # noqa: S105 - a policy name; or "expire_after"
    refresh_token_ttl_seconds: int | None = None
    rotate_refresh_tokens: bool = False


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorize request, carried through the login and consent pages."""

    app: ConnectedApp
    redirect_uri: str
    state: str | None
    scope: str
    code_challenge: str | None

    def as_params(self) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": self.app.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
        }
        if self.state is not None:
            params["state"] = self.state
        if self.code_challenge is not None:
            params["code_challenge"] = self.code_challenge
            params["code_challenge_method"] = "S256"
        return params


@dataclass
class _AuthCode:
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    issued_at: float
    used: bool = False


@dataclass
class _RefreshToken:
    token: str
    client_id: str
    user_id: str
    scope: str
    issued_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    """A live access token: whose it is, and when it was last used (the session timeout is idle)."""

    token: str
    client_id: str
    user_id: str
    scope: str
    issued_at: float
    last_used: float
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class _State:
    codes: dict[str, _AuthCode] = field(default_factory=dict)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, _RefreshToken] = field(default_factory=dict)
    login_tickets: dict[str, tuple[str, float]] = field(default_factory=dict)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge for ``verifier`` (base64url without padding)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _with_query(url: str, params: Mapping[str, str]) -> str:
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + separator + urllib.parse.urlencode(params)


class OAuthService:
    """Connected apps and tokens of one sandbox org. Thread-safe."""

    def __init__(
        self,
        *,
        org_id: str,
        session_timeout_seconds: int,
        apps: list[ConnectedApp],
        authenticate_user: Callable[[str, str], dict | None],
        first_user_id: Callable[[], str],
        user: Callable[[str], dict],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.org_id = org_id
        self.session_timeout_seconds = session_timeout_seconds
        self._configured_apps = list(apps)
        self._apps = {app.client_id: app for app in apps}
        self._authenticate_user = authenticate_user
        self._first_user_id = first_user_id
        self._user = user
        self._clock = clock
        self._clock_offset = 0.0
        self._lock = threading.Lock()
        self._state = _State()
        # Filled in by the server once it knows its ports.
        self.login_url = ""
        self.instance_url = ""

    # -- time and apps ------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the OAuth clock forward (tests of code, session and refresh-token expiry)."""
        with self._lock:
            self._clock_offset += seconds

    def app(self, client_id: str | None) -> ConnectedApp | None:
        with self._lock:
            return self._apps.get(client_id or "")

    @property
    def apps(self) -> list[ConnectedApp]:
        with self._lock:
            return list(self._apps.values())

    def add_connected_app(self, app: ConnectedApp) -> ConnectedApp:
        if app.refresh_token_policy not in ("until_revoked", "expire_after"):
            raise ValueError(f"Unknown refresh token policy {app.refresh_token_policy!r}")
        expiring = app.refresh_token_policy == "expire_after"  # noqa: S105 - a policy name
        if expiring and not app.refresh_token_ttl_seconds:
            raise ValueError("refresh_token_policy 'expire_after' needs refresh_token_ttl_seconds")
        with self._lock:
            self._apps[app.client_id] = app
        return app

    def reset(self) -> None:
        """Forget every token, code and added app; rewind the clock offset."""
        with self._lock:
            self._state = _State()
            self._apps = {app.client_id: app for app in self._configured_apps}
            self._clock_offset = 0.0

    # -- authorize ----------------------------------------------------------------------------
    def check_authorize(self, params: Mapping[str, str]) -> AuthorizeRequest:
        """Validate an authorize request, raising the page or redirect error Salesforce gives."""
        app = self.app(params.get("client_id"))
        if app is None:
            raise AuthorizePageError("invalid_client_id", "client identifier invalid")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in app.callback_urls:
            raise AuthorizePageError(
                "redirect_uri_mismatch", "redirect_uri must match configuration"
            )
        state = params.get("state")

        def fail(error: str, description: str) -> AuthorizeRedirectError:
            reply = {"error": error, "error_description": description}
            if state is not None:
                reply["state"] = state
            return AuthorizeRedirectError(_with_query(redirect_uri, reply))

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "response type not supported")
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or ("S256" if challenge else None)
        if challenge is None and app.require_pkce:
            raise fail("invalid_request", "missing required code challenge")
        if challenge is not None and method != "S256":
            raise fail("invalid_request", "unsupported code challenge method")
        requested = (params.get("scope") or "").split()
        unknown = [scope for scope in requested if scope not in KNOWN_SCOPES]
        if unknown:
            raise fail("invalid_scope", "the requested scope is not allowed")
        scope = " ".join(requested) if requested else DEFAULT_SCOPE
        return AuthorizeRequest(
            app=app, redirect_uri=redirect_uri, state=state, scope=scope, code_challenge=challenge
        )

    def login(self, username: str, password: str) -> str | None:
        """Check a user's credentials; return a short-lived login ticket for the consent page."""
        user = self._authenticate_user(username, password)
        if user is None:
            return None
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._prune(self.now())
            self._state.login_tickets[ticket] = (user["Id"], self.now())
        return ticket

    def redeem_login_ticket(self, ticket: str) -> str | None:
        """The user id behind a login ticket (single use), or None when unknown or stale."""
        with self._lock:
            entry = self._state.login_tickets.pop(ticket, None)
        if entry is None or self.now() - entry[1] > LOGIN_TICKET_TTL_SECONDS:
            return None
        return entry[0]

    def approve(self, request: AuthorizeRequest, user_id: str) -> str:
        """Issue a code and return the redirect URL carrying it (and the state, verbatim)."""
        code = "aPrx" + secrets.token_urlsafe(48)
        with self._lock:
            self._state.codes[code] = _AuthCode(
                client_id=request.app.client_id,
                user_id=user_id,
                redirect_uri=request.redirect_uri,
                scope=request.scope,
                code_challenge=request.code_challenge,
                issued_at=self.now(),
            )
        reply = {"code": code}
        if request.state is not None:
            reply["state"] = request.state
        return _with_query(request.redirect_uri, reply)

    @staticmethod
    def deny(request: AuthorizeRequest) -> str:
        reply = {"error": "access_denied", "error_description": "end-user denied authorization"}
        if request.state is not None:
            reply["state"] = request.state
        return _with_query(request.redirect_uri, reply)

    # -- token endpoint -----------------------------------------------------------------------
    def token(self, form: Mapping[str, str], authorization: str | None = None) -> dict[str, Any]:
        """Answer a token request, or raise :class:`OAuthError`."""
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                basic_id, _, basic_secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError) as error:
                raise OAuthError("invalid_client", "invalid client credentials") from error
            client_id = urllib.parse.unquote_plus(basic_id)
            client_secret = urllib.parse.unquote_plus(basic_secret)
        grant_type = form.get("grant_type")
        grants = ("authorization_code", "refresh_token", "password", "client_credentials")
        if grant_type not in grants:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        app = self.app(client_id)
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        # The code and refresh grants may leave the secret out (PKCE); a wrong one always fails.
        secret_optional = grant_type in ("authorization_code", "refresh_token")
        if client_secret is None and not secret_optional:
            raise OAuthError("invalid_client", "invalid client credentials")
        if client_secret is not None and not hmac.compare_digest(
            client_secret.encode(), app.client_secret.encode()
        ):
            raise OAuthError("invalid_client", "invalid client credentials")
        if grant_type == "authorization_code":
            return self._grant_code(app, form)
        if grant_type == "refresh_token":
            return self._grant_refresh(app, form)
        if grant_type == "password":
            user = self._authenticate_user(form.get("username", ""), form.get("password", ""))
            if user is None:
                raise OAuthError("invalid_grant", "authentication failure")
            return self._issue(app, user["Id"], DEFAULT_SCOPE, with_refresh=False)
        return self._issue(app, self._first_user_id(), DEFAULT_SCOPE, with_refresh=False)

    def _grant_code(self, app: ConnectedApp, form: Mapping[str, str]) -> dict[str, Any]:
        code_value = form.get("code", "")
        with self._lock:
            code = self._state.codes.get(code_value)
            if code is None or code.client_id != app.client_id:
                raise OAuthError("invalid_grant", "invalid authorization code")
            if code.used:
                raise OAuthError("invalid_grant", "invalid authorization code")
            if self.now() - code.issued_at > CODE_TTL_SECONDS:
                raise OAuthError("invalid_grant", "expired authorization code")
            if form.get("redirect_uri") != code.redirect_uri:
                raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
            verifier = form.get("code_verifier")
            if code.code_challenge is not None:
                if not verifier:
                    raise OAuthError("invalid_grant", "invalid code verifier")
                if not hmac.compare_digest(pkce_challenge(verifier), code.code_challenge):
                    raise OAuthError("invalid_request", "invalid code verifier")
            # Single use: a second exchange of the same code fails even if the first one errored
            # later, just as Salesforce burns a code once it was presented with valid credentials.
            code.used = True
        return self._issue(app, code.user_id, code.scope, with_refresh="refresh_token" in code.scope
                           or "offline_access" in code.scope)

    def _grant_refresh(self, app: ConnectedApp, form: Mapping[str, str]) -> dict[str, Any]:
        value = form.get("refresh_token", "")
        with self._lock:
            refresh = self._state.refresh.get(value)
            if refresh is None or refresh.revoked or refresh.client_id != app.client_id:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            current_app = self._apps.get(app.client_id, app)
            if (
                current_app.refresh_token_policy == "expire_after"  # noqa: S105
                and current_app.refresh_token_ttl_seconds is not None
                and self.now() - refresh.issued_at > current_app.refresh_token_ttl_seconds
            ):
                refresh.revoked = True
                raise OAuthError("invalid_grant", "expired access/refresh token")
            if current_app.rotate_refresh_tokens:
                # The old refresh token stops working the moment a new one is handed out.
                refresh.revoked = True
        if app.rotate_refresh_tokens:
            return self._issue(app, refresh.user_id, refresh.scope, with_refresh=True)
        return self._issue(app, refresh.user_id, refresh.scope, with_refresh=False,
                           parent_refresh=refresh.token)

    def _issue(
        self,
        app: ConnectedApp,
        user_id: str,
        scope: str,
        *,
        with_refresh: bool,
        parent_refresh: str | None = None,
    ) -> dict[str, Any]:
        now = self.now()
        access_value = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        refresh_value = f"5Aep{secrets.token_urlsafe(60)}" if with_refresh else None
        with self._lock:
            self._prune(now)
            if refresh_value is not None:
                self._state.refresh[refresh_value] = _RefreshToken(
                    token=refresh_value, client_id=app.client_id, user_id=user_id, scope=scope,
                    issued_at=now,
                )
            self._state.access[access_value] = AccessToken(
                token=access_value, client_id=app.client_id, user_id=user_id, scope=scope,
                issued_at=now, last_used=now, refresh_token=refresh_value or parent_refresh,
            )
        issued_at = str(int(now * 1000))
        identity_url = self.identity_url(user_id)
        signature = base64.b64encode(
            hmac.new(
                app.client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode("ascii")
        body: dict[str, Any] = {"access_token": access_value}
        if refresh_value is not None:
            body["refresh_token"] = refresh_value
        body.update(
            {
                "signature": signature,
                "scope": scope,
                "instance_url": self.instance_url,
                "id": identity_url,
                "token_type": "Bearer",
                "issued_at": issued_at,
            }
        )
        return body

    def _prune(self, now: float) -> None:
        """Forget dead access tokens and stale login tickets so a long run does not grow."""
        state = self._state
        if len(state.access) > PRUNE_THRESHOLD:
            state.access = {
                value: access for value, access in state.access.items()
                if not access.revoked and now - access.last_used <= self.session_timeout_seconds
            }
        if len(state.login_tickets) > PRUNE_THRESHOLD:
            state.login_tickets = {
                ticket: entry for ticket, entry in state.login_tickets.items()
                if now - entry[1] <= LOGIN_TICKET_TTL_SECONDS
            }

    # -- revocation, sessions -------------------------------------------------------------------
    def revoke(self, token: str) -> None:
        """Revoke an access token, or a refresh token together with its access tokens."""
        with self._lock:
            access = self._state.access.get(token)
            if access is not None:
                access.revoked = True
                return
            refresh = self._state.refresh.get(token)
            if refresh is None:
                raise OAuthError("invalid_token", "invalid token")
            refresh.revoked = True
            for other in self._state.access.values():
                if other.refresh_token == token:
                    other.revoked = True

    def revoke_all_tokens(self) -> None:
        with self._lock:
            for access in self._state.access.values():
                access.revoked = True
            for refresh in self._state.refresh.values():
                refresh.revoked = True

    def expire_access_tokens(self) -> None:
        """End every session now (as if the session timeout had passed); refresh tokens live on."""
        with self._lock:
            self._state.access.clear()

    def expire_access_token(self, token: str) -> None:
        with self._lock:
            self._state.access.pop(token, None)

    def authenticate(self, token: str) -> AccessToken | None:
        """The live access token for a bearer value, refreshing its idle timer; None if invalid."""
        now = self.now()
        with self._lock:
            access = self._state.access.get(token)
            if access is None or access.revoked:
                return None
            if now - access.last_used > self.session_timeout_seconds:
                del self._state.access[token]
                return None
            access.last_used = now
            return access

    # -- identity -------------------------------------------------------------------------------
    def identity_url(self, user_id: str) -> str:
        return f"{self.login_url}/id/{self.org_id}/{user_id}"

    def identity(self, user_id: str) -> dict[str, Any]:
        """The identity-service document (also the base of userinfo)."""
        user = self._user(user_id)
        base = self.instance_url
        urls = {
            "enterprise": f"{base}/services/Soap/c/{{version}}/{self.org_id}",
            "metadata": f"{base}/services/Soap/m/{{version}}/{self.org_id}",
            "partner": f"{base}/services/Soap/u/{{version}}/{self.org_id}",
            "rest": f"{base}/services/data/v{{version}}/",
            "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "search": f"{base}/services/data/v{{version}}/search/",
            "query": f"{base}/services/data/v{{version}}/query/",
            "recent": f"{base}/services/data/v{{version}}/recent/",
            "profile": f"{base}/{user_id}",
            "users": f"{base}/services/data/v{{version}}/chatter/users",
            "custom_domain": base,
        }
        first = user.get("FirstName") or ""
        last = user.get("LastName") or ""
        display = (f"{first} {last}").strip() or user.get("Username", "")
        return {
            "id": self.identity_url(user_id),
            "asserted_user": True,
            "user_id": user_id,
            "organization_id": self.org_id,
            "username": user.get("Username"),
            "nick_name": (user.get("Username") or "").split("@")[0],
            "display_name": display,
            "email": user.get("Email"),
            "email_verified": True,
            "first_name": first,
            "last_name": last,
            "timezone": "GMT",
            "active": bool(user.get("IsActive", True)),
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "last_modified_date": user.get("LastModifiedDate"),
            "is_app_installed": True,
            "urls": urls,
        }

    def userinfo(self, user_id: str) -> dict[str, Any]:
        """OpenID Connect userinfo: the standard claims plus the identity fields."""
        identity = self.identity(user_id)
        claims = {
            "sub": identity["id"],
            "preferred_username": identity["username"],
            "nickname": identity["nick_name"],
            "name": identity["display_name"],
            "given_name": identity["first_name"],
            "family_name": identity["last_name"],
            "zoneinfo": "GMT",
            "updated_at": identity["last_modified_date"],
        }
        return {**claims, **identity}
