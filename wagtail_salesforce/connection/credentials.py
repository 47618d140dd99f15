"""``credentials_for(site)``: the database-backed ``Credentials`` the REST client runs on, and
``client_for(site)``: a client on them.

Refreshing is safe across processes and threads:

- PostgreSQL (and any backend that can lock rows): the refresh runs inside ``select_for_update``;
  a second process blocks on the row, then sees the new token and adopts it.
- SQLite: a process first *claims* the refresh with the core lease on the connection row
  (``refresh_claim``, ``refresh_claimed_until``), for the row still at the old
  ``token_version``; only the claimant calls Salesforce and writes the result while releasing
  the claim, again only if ``token_version`` is still the old one. The others poll
  (bounded) until ``token_version`` moves and adopt the winner's token. This matters when the
  connected app rotates refresh tokens: a second refresh with the old token would fail.

A rotated refresh token is always saved. ``invalid_grant`` marks the connection
``needs_reauth`` and raises :class:`ReauthorizationRequired`.
"""

from __future__ import annotations

import datetime
import threading
import time

from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from wagtail.log_actions import log
from wagtail.models import Site

from wagtail_salesforce import conf
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.core.lease import Lease, new_token
from wagtail_salesforce.exceptions import (
    NotConnected,
    OAuthError,
    ReauthorizationRequired,
)
from wagtail_salesforce.observability import get_logger

from . import crypto, oauth
from .models import ApiUsageDaily, ConnectionStatus, SalesforceConnection

logger = get_logger(__name__)

POLL_INTERVAL_SECONDS = 0.05

# Who is refreshing a connection's token, on databases without row locks.
REFRESH_CLAIM = Lease(owner_field="refresh_claim", expiry_field="refresh_claimed_until")


def _claim_seconds() -> float:
    """How long a refresh may take: one token request's timeouts, and a margin."""
    timeout = conf.get("TIMEOUT")
    connect_timeout, read_timeout = timeout if isinstance(timeout, list | tuple) else (timeout,) * 2
    return float(connect_timeout) + float(read_timeout) + 5.0


def _uses_row_locks() -> bool:
    return bool(db_connection.features.has_select_for_update and db_connection.vendor != "sqlite")


def mark_needs_reauth(connection_id: int, token_version: int, detail: str) -> bool:
    """Flag the connection (unless it changed meanwhile); log it once. True if it was flagged."""
    flagged = (
        SalesforceConnection.objects.filter(pk=connection_id, token_version=token_version)
        .exclude(status=ConnectionStatus.NEEDS_REAUTH)
        .update(status=ConnectionStatus.NEEDS_REAUTH, status_detail=detail, refresh_claim="")
    )
    if flagged:
        connection = SalesforceConnection.objects.get(pk=connection_id)
        log(instance=connection, action="wagtail_salesforce.reauth_required", user=None)
        logger.warning("Salesforce connection %s needs re-authorisation", connection_id)
    return bool(flagged)


class ConnectionCredentials:
    """Tokens of one ``SalesforceConnection``, refreshed in place when the client asks."""

    def __init__(self, connection: SalesforceConnection) -> None:
        self._connection_id = connection.pk
        self._site_id = connection.site_id
        self._lock = threading.Lock()
        self._load(connection)

    def __repr__(self) -> str:
        return f"<ConnectionCredentials {self.connection_key}>"

    def _load(self, connection: SalesforceConnection) -> None:
        self._access_token = connection.access_token
        self._instance_url = connection.instance_url
        self._api_version = connection.api_version
        self._token_version = connection.token_version
        self.stored_usage = connection.stored_api_usage()

    def _reload(self) -> SalesforceConnection:
        connection = SalesforceConnection.objects.get(pk=self._connection_id)
        self._load(connection)
        return connection

    # --- the Credentials protocol --------------------------------------------------------

    @property
    def connection_key(self) -> str:
        return f"site-{self._site_id}"

    @property
    def instance_url(self) -> str:
        return self._instance_url

    @property
    def access_token(self) -> str:
        return self._access_token

    @property
    def api_version(self) -> str:
        return self._api_version

    def refresh(self, stale_access_token: str) -> None:
        with self._lock:
            if self._access_token != stale_access_token:
                return  # another thread using this object already refreshed
            try:
                current = self._reload()
            except SalesforceConnection.DoesNotExist as error:
                raise NotConnected("The site's Salesforce connection was deleted.") from error
            if not current.has_tokens or not current.is_configured:
                raise NotConnected("The site was disconnected from Salesforce: click Connect.")
            if self._access_token != stale_access_token:
                return  # another process already refreshed: adopt its token
            if current.status == ConnectionStatus.NEEDS_REAUTH:
                raise ReauthorizationRequired(_reauth_message(current))
            if _uses_row_locks():
                self._refresh_with_row_lock(stale_access_token)
            else:
                self._refresh_with_claim(current)

    def record_api_usage(self, used: int, limit: int) -> None:
        SalesforceConnection.objects.filter(pk=self._connection_id).update(
            org_api_requests_used=used, org_api_requests_max=limit, org_api_usage_at=timezone.now()
        )

    def record_api_calls(self, count: int) -> None:
        """Count API calls made through this connection today (the client's counter hook)."""
        ApiUsageDaily.add(self._connection_id, count)

    # --- refresh strategies ----------------------------------------------------------------

    def _refresh_with_row_lock(self, stale_access_token: str) -> None:
        with transaction.atomic():
            row = SalesforceConnection.objects.select_for_update().get(pk=self._connection_id)
            if row.access_token != stale_access_token:
                self._load(row)
                return
            token = self._call_refresh(row)
            _apply_refresh(row, token)
            row.token_version += 1
            row.save(
                update_fields=[
                    "access_token_encrypted",
                    "refresh_token_encrypted",
                    "instance_url",
                    "last_refresh_at",
                    "token_version",
                    "status",
                    "status_detail",
                    "updated_at",
                ]
            )
            self._load(row)

    def _refresh_with_claim(self, current: SalesforceConnection) -> None:
        old_version = current.token_version
        unchanged = SalesforceConnection.objects.filter(
            pk=self._connection_id, token_version=old_version
        )
        claim = new_token()
        duration = datetime.timedelta(seconds=_claim_seconds())
        if not REFRESH_CLAIM.take(unchanged, claim, duration=duration):
            self._wait_for_other_refresh(old_version)
            return
        try:
            token = self._call_refresh(current)
        except BaseException:
            REFRESH_CLAIM.release(
                SalesforceConnection.objects.filter(pk=self._connection_id), claim
            )
            raise
        _apply_refresh(current, token)
        written = REFRESH_CLAIM.release(
            unchanged,
            claim,
            values={
                "access_token_encrypted": current.access_token_encrypted,
                "refresh_token_encrypted": current.refresh_token_encrypted,
                "instance_url": current.instance_url,
                "last_refresh_at": current.last_refresh_at,
                "status": current.status,
                "status_detail": "",
                "token_version": old_version + 1,
                "updated_at": timezone.now(),
            },
        )
        if not written:
            # Disconnected or reconnected while we refreshed: the stored row wins.
            logger.info(
                "Connection %s changed during a refresh; keeping the stored one",
                self.connection_key,
            )
        self._reload()

    def _wait_for_other_refresh(self, old_version: int) -> None:
        deadline = time.monotonic() + _claim_seconds()
        while time.monotonic() < deadline:
            row = SalesforceConnection.objects.get(pk=self._connection_id)
            if row.token_version != old_version:
                self._load(row)
                if row.status == ConnectionStatus.NEEDS_REAUTH:
                    raise ReauthorizationRequired(_reauth_message(row))
                if not row.access_token_encrypted:
                    raise NotConnected("The Salesforce connection was disconnected.")
                return
            if row.status == ConnectionStatus.NEEDS_REAUTH:
                raise ReauthorizationRequired(_reauth_message(row))
            if not row.refresh_claim:
                # The claimant gave up (error) without a new token: let the caller retry.
                raise NotConnected("Refreshing the Salesforce access token failed; try again.")
            time.sleep(POLL_INTERVAL_SECONDS)
        raise NotConnected("Timed out waiting for another process to refresh the access token.")

    def _call_refresh(self, row: SalesforceConnection) -> oauth.TokenResponse:
        refresh_token = row.refresh_token
        if not refresh_token:
            mark_needs_reauth(row.pk, row.token_version, "no refresh token stored")
            raise ReauthorizationRequired(_reauth_message(row))
        try:
            return oauth.refresh_access_token(
                row.login_url,
                client_id=row.effective_consumer_key,
                client_secret=row.effective_consumer_secret,
                refresh_token=refresh_token,
            )
        except OAuthError as error:
            if error.error == "invalid_grant":
                mark_needs_reauth(row.pk, row.token_version, error.description or error.error)
                raise ReauthorizationRequired(_reauth_message(row)) from error
            SalesforceConnection.objects.filter(pk=row.pk, token_version=row.token_version).update(
                status=ConnectionStatus.ERROR, status_detail=str(error)
            )
            raise NotConnected(
                f"Salesforce refused to refresh the access token ({error.error})."
            ) from error


def _apply_refresh(row: SalesforceConnection, token: oauth.TokenResponse) -> None:
    row.access_token = token.access_token
    if token.refresh_token:
        row.refresh_token = token.refresh_token  # the app rotates refresh tokens: keep the new one
    row.instance_url = token.instance_url or row.instance_url
    row.last_refresh_at = timezone.now()
    row.status = ConnectionStatus.CONNECTED
    row.status_detail = ""


def _reauth_message(row: SalesforceConnection) -> str:
    return (
        f"The Salesforce connection of site {row.site_id} needs re-authorisation: its refresh "
        "token expired or was revoked. Click Connect in Settings → Salesforce."
    )


def get_connection(site: Site | int) -> SalesforceConnection | None:
    site_id = site if isinstance(site, int) else site.pk
    return SalesforceConnection.objects.select_related("site").filter(site_id=site_id).first()


def credentials_for(site: Site | int) -> ConnectionCredentials:
    """Credentials of ``site``'s connection; NotConnected/ReauthorizationRequired if unusable."""
    connection = get_connection(site)
    if connection is None or not connection.is_configured:
        raise NotConnected("Salesforce is not configured for this site.")
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        raise ReauthorizationRequired(_reauth_message(connection))
    if not connection.has_tokens:
        raise NotConnected("This site is not connected to Salesforce: click Connect.")
    try:
        return ConnectionCredentials(connection)
    except crypto.SecretUnreadable as error:
        raise NotConnected(str(error)) from error


def client_for(site: Site | int) -> SalesforceClient:
    """A client for ``site``'s Salesforce connection.

    Raises ``NotConnected`` (or ``ReauthorizationRequired``) when the site has no usable
    connection. Every call the client makes is counted on the connection's per-day counter as
    it happens (``ConnectionCredentials.record_api_calls``).
    """
    credentials = credentials_for(site)
    # The budget starts from the usage stored by earlier calls (any process's), so a client
    # that is about to spend knows how far the org has gone before its first answer.
    return SalesforceClient(
        credentials,
        on_api_call=credentials.record_api_calls,
        api_usage=credentials.stored_usage,
    )
