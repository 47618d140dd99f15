"""``client_for(site)`` on the connection's database-backed credentials."""

from __future__ import annotations

from typing import Any

import pytest
from wagtail.models import Site

from tests.connection.oauth_helpers import configure_site, connect_site
from wagtail_salesforce.client import client_for
from wagtail_salesforce.connection.models import ApiUsageDaily, SalesforceConnection
from wagtail_salesforce.exceptions import NotConnected


@pytest.mark.usefixtures("trust_sandbox")
def test_clients_of_one_site_share_one_refresh_and_count_every_call(
    salesforce_sandbox: Any, db: None
):
    site = Site.objects.get(is_default_site=True)
    connection = connect_site(
        configure_site(
            site,
            salesforce_sandbox,
            client_id="client-tests",
            client_secret="client-tests-secret",
            rotate_refresh_tokens=True,
        ),
        salesforce_sandbox,
    )
    # Two workers (think: two processes) each hold a client with the same, soon stale, token.
    first, second = client_for(site), client_for(site)
    salesforce_sandbox.expire_access_tokens()

    assert first.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert second.query("SELECT Id FROM Lead")["totalSize"] == 0

    stored = SalesforceConnection.objects.get(pk=connection.pk)
    # The first refreshed; the second adopted the stored token (a second refresh with the
    # rotated-away refresh token would have failed with invalid_grant).
    assert stored.token_version == connection.token_version + 1
    assert stored.status == "connected"
    assert ApiUsageDaily.objects.get(connection=stored).calls == 2
    assert first.api_calls + second.api_calls == 2
    assert stored.org_api_requests_used == salesforce_sandbox.api_calls_used()


def test_client_for_a_site_without_a_connection_raises_not_connected(db: None):
    with pytest.raises(NotConnected):
        client_for(Site.objects.get(is_default_site=True))
