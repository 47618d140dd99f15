"""Connect, Test connection and the health panel explain an org without API access (with the
fix), and say when the connected user may not create what the form mappings deliver."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from tests.connection.oauth_helpers import authorize_in_sandbox
from tests.outbox.conftest import make_entry
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.connection.problems import API_DISABLED_DETAIL
from wagtail_salesforce.health import WarningCode, site_health
from wagtail_salesforce.outbox.delivery import deliver_entry

CALLBACK = "/admin/salesforce/oauth/callback/"
EXPLANATION = "does not include API access"
FIX = "a Professional Edition org needs the API add-on"

CONFIG = """
version: 1
forms:
  webinar:
    label: Webinar sign-up
    object: Lead
    campaign: {name: Autumn Webinar, member_status: Responded}
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {value: Acme}
"""


@pytest.fixture
def config_yaml() -> str:
    return CONFIG


def _messages(response: Any) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def _connect(admin_client: Client, site: Site, sandbox: Any) -> Any:
    start = admin_client.post(reverse("wagtail_salesforce:connect", args=[site.pk]))
    reply = authorize_in_sandbox(start["Location"], sandbox.username, sandbox.password)
    return admin_client.get(CALLBACK + "?" + urlencode(reply), follow=True)


def _test_connection(admin_client: Client, site_id: int, language: str = "en") -> Any:
    return admin_client.post(
        reverse("wagtail_salesforce:test_connection", args=[site_id]),
        follow=True,
        headers={"accept-language": language},
    )


def _api_access(sandbox: Any, enabled: bool) -> None:
    answer = requests.post(
        f"{sandbox.login_url}/__sandbox__/api_access", json={"enabled": enabled}, timeout=10
    )
    assert answer.status_code == 204


def test_connect_to_an_org_without_api_access_explains_it_with_the_fix(
    admin_client: Client, configured: SalesforceConnection, sandbox: Any
) -> None:
    sandbox.set_api_enabled(False)
    page = _connect(admin_client, configured.site, sandbox)
    text = _messages(page)
    assert EXPLANATION in text and FIX in text and "Enterprise" in text
    assert "Connected to Salesforce as" not in text
    stored = SalesforceConnection.objects.get(pk=configured.pk)
    assert stored.has_tokens  # OAuth itself worked
    assert (stored.status, stored.status_detail) == (ConnectionStatus.ERROR, API_DISABLED_DETAIL)
    # The panel keeps saying it after the message is gone.
    panel = admin_client.get(reverse("wagtail_salesforce:edit", args=[configured.site_id]))
    assert FIX in panel.content.decode()


def test_test_connection_explains_it_and_clears_it_once_the_org_has_the_api(
    admin_client: Client, connected: SalesforceConnection, sandbox: Any
) -> None:
    _api_access(sandbox, False)
    refused = _messages(_test_connection(admin_client, connected.site_id))
    assert EXPLANATION in refused and FIX in refused
    assert SalesforceConnection.objects.get(pk=connected.pk).status_detail == API_DISABLED_DETAIL
    japanese = _messages(_test_connection(admin_client, connected.site_id, "ja"))
    assert "API アドオンを購入する必要があります" in japanese

    _api_access(sandbox, True)
    works = _messages(_test_connection(admin_client, connected.site_id))
    assert "The connection works" in works and EXPLANATION not in works
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert (stored.status, stored.status_detail) == (ConnectionStatus.CONNECTED, "")


def test_the_health_panel_shows_an_org_without_api_access(
    admin_client: Client, connected: SalesforceConnection, sandbox: Any
) -> None:
    assert WarningCode.API_DISABLED not in {w.code for w in site_health(connected.site).warnings}
    _api_access(sandbox, False)
    _test_connection(admin_client, connected.site_id)
    health = site_health(connected.site)
    assert [w.code for w in health.warnings] == [WarningCode.API_DISABLED]
    assert health.level == "critical"
    dashboard = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert 'data-explanation="api_disabled"' in dashboard and FIX in dashboard


def test_a_delivery_refused_for_api_access_shows_on_the_health_panel(
    connected: SalesforceConnection, sandbox: Any
) -> None:
    sandbox.set_api_enabled(False)
    entry = make_entry(connected.site, "webinar", email="ada@example.com", last_name="Lovelace")
    deliver_entry(entry.pk)
    entry.refresh_from_db()
    assert entry.last_error_code == "API_DISABLED_FOR_ORG"
    assert WarningCode.API_DISABLED in {w.code for w in site_health(connected.site).warnings}


def test_connect_says_when_the_user_may_not_create_the_mapped_objects(
    admin_client: Client, configured: SalesforceConnection, sandbox: Any
) -> None:
    for sobject in ("Lead", "CampaignMember"):
        answer = requests.post(
            f"{sandbox.login_url}/__sandbox__/object_permissions",
            json={"object": sobject, "create": False},
            timeout=10,
        )
        assert answer.status_code == 204
    text = _messages(_connect(admin_client, configured.site, sandbox))
    assert "Connected to Salesforce as" in text
    assert "may not create Lead records (Lead)" in text
    assert "may not create Campaign Member records (CampaignMember)" in text
    assert "“webinar”" in text and "Create permission" in text


def test_test_connection_checks_access_from_the_fresh_describe_cache(
    admin_client: Client, connected: SalesforceConnection, sandbox: Any
) -> None:
    first = _messages(_test_connection(admin_client, connected.site_id))
    assert "The connection works" in first and "may not create" not in first
    # The describes just read are fresh: the next test reads them from the cache, so an
    # org-side change shows only once they are read again (Connect, or the refresh).
    requests.post(
        f"{sandbox.login_url}/__sandbox__/object_permissions",
        json={"object": "Lead", "create": False},
        timeout=10,
    )
    calls = len(sandbox.calls)
    again = _messages(_test_connection(admin_client, connected.site_id))
    assert "may not create" not in again
    assert not [c for c in sandbox.calls[calls:] if "/describe" in c["path"]]


def test_mapped_fields_the_user_may_not_write_are_named(
    admin_client: Client, configured: SalesforceConnection, sandbox: Any, config_file: Any
) -> None:
    config_file.write_text(
        CONFIG.replace("Company: {value: Acme}", "Company: {value: Acme}\n      Name: {value: X}"),
        encoding="utf-8",
    )
    text = _messages(_connect(admin_client, configured.site, sandbox))
    assert "may not write these fields of Lead" in text and ": Name." in text


def test_connect_finds_an_org_without_api_access_even_with_no_mapping(
    admin_client: Client, configured: SalesforceConnection, sandbox: Any, config_file: Any
) -> None:
    config_file.write_text("version: 1\n# no forms yet\n", encoding="utf-8")
    sandbox.set_api_enabled(False)
    text = _messages(_connect(admin_client, configured.site, sandbox))
    assert EXPLANATION in text and FIX in text
