"""Connection life cycle used by the admin views: start and finish Connect, disconnect.

The OAuth ``state`` lives in the user's session: ``{state: {site_id, verifier, created_at}}``.
It is single use (popped at the callback), bound to the session (another browser does not
have it) and to the site, and expires after ``OAUTH_STATE_MAX_AGE`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone

from wagtail_salesforce import conf
from wagtail_salesforce.exceptions import NetworkError, OAuthError, TLSVerificationFailed
from wagtail_salesforce.observability import get_logger

from . import crypto, oauth
from .models import ConnectionStatus, SalesforceConnection

logger = get_logger(__name__)

SESSION_KEY = "wagtail_salesforce_oauth_states"
# At most this many Connect attempts in flight per session (oldest dropped first).
MAX_PENDING_STATES = 5


class StateInvalid(Exception):
    """The callback's ``state`` is missing, unknown (other session) or expired."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class PendingAuthorization:
    site_id: int
    verifier: str
    redirect_uri: str
    created_at: float


def start_authorization(session: SessionBase, connection: SalesforceConnection) -> str:
    """Remember a fresh state + PKCE verifier in the session; return the authorize URL."""
    state = oauth.new_state()
    verifier = oauth.new_code_verifier()
    pending: dict[str, Any] = dict(session.get(SESSION_KEY) or {})
    _drop_expired(pending)
    while len(pending) >= MAX_PENDING_STATES:
        oldest = min(pending, key=lambda key: pending[key]["created_at"])
        del pending[oldest]
    pending[state] = {
        "site_id": connection.site_id,
        "verifier": verifier,
        "redirect_uri": connection.callback_url(),
        "created_at": time.time(),
    }
    session[SESSION_KEY] = pending
    return oauth.build_authorize_url(
        connection.login_url,
        client_id=connection.effective_consumer_key,
        redirect_uri=connection.callback_url(),
        state=state,
        code_verifier=verifier,
    )


def _drop_expired(pending: dict[str, Any]) -> None:
    max_age = float(conf.get("OAUTH_STATE_MAX_AGE"))
    now = time.time()
    for key in [k for k, v in pending.items() if now - float(v.get("created_at", 0)) > max_age]:
        del pending[key]


def pop_state(session: SessionBase, state: str | None) -> PendingAuthorization:
    """Consume ``state`` (single use) or raise :class:`StateInvalid`."""
    if not state:
        raise StateInvalid("missing")
    pending: dict[str, Any] = dict(session.get(SESSION_KEY) or {})
    entry = pending.pop(state, None)
    session[SESSION_KEY] = pending
    if entry is None:
        raise StateInvalid("unknown")
    if time.time() - float(entry["created_at"]) > float(conf.get("OAUTH_STATE_MAX_AGE")):
        raise StateInvalid("expired")
    return PendingAuthorization(
        site_id=int(entry["site_id"]),
        verifier=str(entry["verifier"]),
        redirect_uri=str(entry.get("redirect_uri", "")),
        created_at=float(entry["created_at"]),
    )


def complete_authorization(
    connection: SalesforceConnection, *, code: str, verifier: str
) -> SalesforceConnection:
    """Exchange the code, read the identity, store tokens: the connection is then connected.

    Raises OAuthError / NetworkError / TLSVerificationFailed; the stored connection is unchanged
    then.
    """
    token = oauth.exchange_code(
        connection.login_url,
        client_id=connection.effective_consumer_key,
        client_secret=connection.effective_consumer_secret,
        code=code,
        redirect_uri=connection.callback_url(),
        code_verifier=verifier,
    )
    identity = oauth.fetch_identity(token.identity_url, token.access_token)
    try:
        previous_refresh_token = connection.refresh_token
    except crypto.SecretUnreadable:
        previous_refresh_token = ""  # written with a lost key: replaced below, cannot be revoked
    with transaction.atomic():
        row = SalesforceConnection.objects.select_for_update().get(pk=connection.pk)
        row.access_token = token.access_token
        row.refresh_token = token.refresh_token or ""
        row.instance_url = token.instance_url
        row.identity_url = token.identity_url
        row.org_id = identity.org_id
        row.user_id = identity.user_id
        row.username = identity.username
        row.user_display_name = identity.display_name
        row.connected_at = timezone.now()
        row.last_refresh_at = row.connected_at
        row.token_version += 1
        row.refresh_claim = ""
        row.refresh_claimed_until = None
        if token.refresh_token:
            row.status = ConnectionStatus.CONNECTED
            row.status_detail = ""
        else:
            # Without refresh_token scope the connection dies with the first session timeout.
            row.status = ConnectionStatus.ERROR
            row.status_detail = "no_refresh_token"
        row.save()
    if previous_refresh_token and previous_refresh_token != token.refresh_token:
        # Reconnecting replaces the old grant: do not leave it alive at Salesforce.
        _revoke_quietly(connection.login_url, previous_refresh_token)
    return row


def _revoke_quietly(login_url: str, token: str) -> bool:
    try:
        oauth.revoke(login_url, token)
    except (OAuthError, NetworkError, TLSVerificationFailed) as error:
        logger.warning("Revoking a replaced Salesforce token failed: %s", error)
        return False
    return True


def disconnect(connection: SalesforceConnection) -> bool:
    """Revoke the refresh token at Salesforce and forget the tokens.

    Returns False when the revocation could not be confirmed (the tokens are forgotten anyway;
    the admin is told to revoke the grant in Salesforce).
    """
    try:
        token = connection.refresh_token or connection.access_token
    except crypto.SecretUnreadable:
        token = ""  # unreadable tokens cannot be revoked from here; forget them all the same
        revoked = False
    else:
        revoked = _revoke_quietly(connection.login_url, token) if token else True
    connection.forget_tokens()
    connection.save()
    return revoked
