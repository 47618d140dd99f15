"""Two Wagtail sites connected to two different orgs at once: a second sandbox server with its
own org id, certificate, tokens and API counter stands in for the second org."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from wagtail.models import Site

from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.exceptions import ReauthorizationRequired
from wagtail_salesforce.sandbox.ids import to_18
from wagtail_salesforce.sandbox.pytest_plugin import SandboxFactory
from wagtail_salesforce.sandbox.server import SandboxHandle

from .oauth_helpers import configure_site, connect_site

SECOND_ORG_ID = to_18("00D000000000B0B")


@pytest.fixture
def second_org(salesforce_sandbox_factory: SandboxFactory) -> SandboxHandle:
    return salesforce_sandbox_factory({"org": {"id": SECOND_ORG_ID, "name": "Second Org"}})


def test_two_sites_use_two_orgs_independently(
    site: Site, sandbox: Any, second_org: Any, settings: Any, tmp_path: Path
) -> None:
    bundle = tmp_path / "both-orgs-ca.pem"
    bundle.write_text(Path(sandbox.ca_file).read_text() + Path(second_org.ca_file).read_text())
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "CA_FILE": str(bundle)}
    other_site = Site.objects.create(hostname="127.0.0.1", port=8001, root_page=site.root_page)
    first = connect_site(
        configure_site(site, sandbox, client_id="org-one-app", client_secret="one"), sandbox
    )
    second = connect_site(
        configure_site(other_site, second_org, client_id="org-two-app", client_secret="two"),
        second_org,
    )
    assert first.org_id != second.org_id == SECOND_ORG_ID
    assert first.instance_url == sandbox.instance_url
    assert second.instance_url == second_org.instance_url

    used_first, used_second = sandbox.api_calls_used(), second_org.api_calls_used()
    client_for(site).limits()
    client_for(other_site).limits()
    client_for(other_site).limits()
    assert sandbox.api_calls_used() == used_first + 1
    assert second_org.api_calls_used() == used_second + 2

    # Revoking in the first org leaves the second connection alone.
    sandbox.revoke_all_tokens()
    with pytest.raises(ReauthorizationRequired):
        client_for(site).limits()
    assert "DailyApiRequests" in client_for(other_site).limits()
    statuses = dict(SalesforceConnection.objects.values_list("site_id", "status"))
    assert statuses == {
        site.pk: ConnectionStatus.NEEDS_REAUTH,
        other_site.pk: ConnectionStatus.CONNECTED,
    }
