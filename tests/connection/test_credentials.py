"""``credentials_for(site)`` with the real client and sandbox: refresh, re-auth, usage, logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from wagtail.models import ModelLogEntry, Site

from wagtail_salesforce.connection import credentials as credentials_module
from wagtail_salesforce.connection import crypto
from wagtail_salesforce.connection.credentials import client_for, credentials_for
from wagtail_salesforce.connection.models import (
    ApiUsageDaily,
    ConnectionStatus,
    SalesforceConnection,
)
from wagtail_salesforce.exceptions import NotConnected, ReauthorizationRequired

from .oauth_helpers import configure_site, connect_site


def test_expired_access_token_is_refreshed_transparently(connected: Any, sandbox: Any) -> None:
    old_access = connected.access_token
    sandbox.expire_access_tokens()
    limits = client_for(connected.site).limits()
    assert "DailyApiRequests" in limits
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.access_token != old_access
    assert stored.last_refresh_at is not None
    assert stored.token_version == connected.token_version + 1
    assert stored.status == ConnectionStatus.CONNECTED


def test_revoked_refresh_token_marks_needs_reauth_and_raises(connected: Any, sandbox: Any) -> None:
    sandbox.revoke_all_tokens()
    with pytest.raises(ReauthorizationRequired):
        client_for(connected.site).limits()
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.status == ConnectionStatus.NEEDS_REAUTH
    assert ModelLogEntry.objects.filter(action="wagtail_salesforce.reauth_required").count() == 1
    with pytest.raises(ReauthorizationRequired):
        credentials_for(connected.site)


def test_refresh_token_expired_by_policy_needs_reauth(site: Site, sandbox: Any) -> None:
    connection = configure_site(
        site,
        sandbox,
        client_id="short-lived",
        client_secret="short-secret",
        refresh_token_policy="expire_after",
        refresh_token_ttl_seconds=60,
    )
    connect_site(connection, sandbox)
    sandbox.advance_clock(120)
    sandbox.expire_access_tokens()
    with pytest.raises(ReauthorizationRequired):
        client_for(site).limits()
    assert SalesforceConnection.objects.get(pk=connection.pk).status == "needs_reauth"


def test_rotated_refresh_token_is_saved(site: Site, sandbox: Any) -> None:
    connection = connect_site(
        configure_site(
            site,
            sandbox,
            client_id="rotating",
            client_secret="rot-secret",
            rotate_refresh_tokens=True,
        ),
        sandbox,
    )
    first_refresh = connection.refresh_token
    sandbox.expire_access_tokens()
    client_for(site).limits()
    stored = SalesforceConnection.objects.get(pk=connection.pk)
    assert stored.refresh_token != first_refresh
    # The saved one is the live one: another refresh works with it.
    sandbox.expire_access_tokens()
    client_for(site).limits()


def test_another_process_refresh_is_adopted_without_calling_salesforce(
    connected: Any, sandbox: Any
) -> None:
    stale_credentials = credentials_for(connected.site)
    stale = stale_credentials.access_token
    sandbox.expire_access_tokens()
    winner = credentials_for(connected.site)
    winner.refresh(stale)
    version = SalesforceConnection.objects.get(pk=connected.pk).token_version
    stale_credentials.refresh(stale)
    assert stale_credentials.access_token == winner.access_token
    assert SalesforceConnection.objects.get(pk=connected.pk).token_version == version


def test_api_calls_are_counted_per_connection_per_day(connected: Any, sandbox: Any) -> None:
    client = client_for(connected.site)
    client.limits()
    client.limits()
    usage = ApiUsageDaily.objects.get(connection=connected)
    assert usage.calls == client.api_calls == 2
    assert SalesforceConnection.objects.get(pk=connected.pk).calls_today() == 2


def test_org_usage_from_limit_info_header_is_recorded(connected: Any, sandbox: Any) -> None:
    client_for(connected.site).describe_global()
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.org_api_requests_max is not None
    assert stored.org_api_requests_used == sandbox.api_calls_used()


def test_site_without_connection_is_not_connected(site: Site) -> None:
    with pytest.raises(NotConnected) as raised:
        credentials_for(site)
    assert not isinstance(raised.value, ReauthorizationRequired)


def test_configured_but_not_connected_site_says_click_connect(configured: Any) -> None:
    with pytest.raises(NotConnected, match="Connect"):
        credentials_for(configured.site)


def test_secrets_never_reach_the_logs(
    site: Site, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = connect_site(
        configure_site(site, sandbox, client_id="logged", client_secret="log-secret-4242"),
        sandbox,
    )
    secrets = [connection.access_token, connection.refresh_token, "log-secret-4242"]
    sandbox.expire_access_tokens()
    client_for(site).limits()
    stored = SalesforceConnection.objects.get(pk=connection.pk)
    secrets += [stored.access_token]
    sandbox.revoke_all_tokens()
    sandbox.expire_access_tokens()
    with pytest.raises(ReauthorizationRequired):
        client_for(site).limits()
    assert caplog.records, "the flow should have logged something"
    for secret in secrets:
        assert secret not in caplog.text


def test_row_lock_strategy_refreshes_and_saves_a_rotated_refresh_token(
    site: Site, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL path (select_for_update), run here on SQLite where the lock is a no-op:
    it checks the bookkeeping, not the locking."""
    monkeypatch.setattr(credentials_module, "_uses_row_locks", lambda: True)
    connection = connect_site(
        configure_site(
            site,
            sandbox,
            client_id="row-lock",
            client_secret="row-secret",
            rotate_refresh_tokens=True,
        ),
        sandbox,
    )
    stale_holder = credentials_for(site)
    sandbox.expire_access_tokens()
    client_for(site).limits()
    stored = SalesforceConnection.objects.get(pk=connection.pk)
    assert stored.token_version == connection.token_version + 1
    assert stored.refresh_token != connection.refresh_token
    # A holder of the stale token adopts the stored one instead of refreshing again.
    stale_holder.refresh(connection.access_token)
    assert stale_holder.access_token == stored.access_token
    assert SalesforceConnection.objects.get(pk=connection.pk).token_version == stored.token_version


def test_refresh_refused_for_a_wrong_secret_sets_error_until_the_secret_is_fixed(
    connected: Any, sandbox: Any
) -> None:
    SalesforceConnection.objects.filter(pk=connected.pk).update(
        consumer_secret_encrypted=crypto.encrypt("rotated-away-secret")
    )
    sandbox.expire_access_tokens()
    with pytest.raises(NotConnected) as raised:
        client_for(connected.site).limits()
    assert not isinstance(raised.value, ReauthorizationRequired)
    assert "rotated-away-secret" not in str(raised.value)
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.status == ConnectionStatus.ERROR
    assert stored.status_detail.startswith("invalid_client")
    # The grant itself is intact: the right secret brings the connection back.
    stored.consumer_secret = "site-one-secret"
    stored.status = ConnectionStatus.CONNECTED
    stored.save()
    assert "DailyApiRequests" in client_for(connected.site).limits()


def test_refresh_after_disconnect_says_not_connected(connected: Any, sandbox: Any) -> None:
    from wagtail_salesforce.connection import service

    credentials = credentials_for(connected.site)
    service.disconnect(SalesforceConnection.objects.get(pk=connected.pk))
    with pytest.raises(NotConnected, match="disconnected"):
        credentials.refresh(credentials.access_token)
