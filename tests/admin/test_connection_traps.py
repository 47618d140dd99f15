"""The connection panel without traps: credentials turn Salesforce on, a plain Pause, coloured
status tags, a Disconnect that asks first, and a warning off the callback's host."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

CREDENTIALS = {
    "login_url": "https://login.salesforce.com",
    "consumer_key": "3MVG9-key",
    "consumer_secret": "shh-secret-value",
    "api_version": "62.0",
}


def edit_url(site: Site) -> str:
    return reverse("wagtail_salesforce:edit", args=[site.pk])


def test_saving_key_secret_and_login_url_makes_connect_available(
    admin_client: Client, site: Site
) -> None:
    response = admin_client.post(edit_url(site), CREDENTIALS)

    assert response.status_code == 302
    connection = SalesforceConnection.objects.get(site=site)
    assert connection.enabled and connection.status == ConnectionStatus.NOT_CONNECTED
    page = admin_client.get(edit_url(site)).content.decode()
    assert 'id="salesforce-connect"' in page
    assert 'data-status="not_connected"' in page


def test_pause_is_a_plain_box_that_stops_and_resumes(admin_client: Client, site: Site) -> None:
    admin_client.post(edit_url(site), {**CREDENTIALS, "paused": "on"})

    connection = SalesforceConnection.objects.get(site=site)
    assert not connection.enabled
    page = admin_client.get(edit_url(site)).content.decode()
    assert 'id="salesforce-paused"' in page and "Untick" in page
    assert 'id="salesforce-connect"' not in page
    assert re.search(r'<input type="checkbox" name="paused"[^>]* checked', page)

    admin_client.post(edit_url(site), {**CREDENTIALS, "consumer_secret": ""})

    assert SalesforceConnection.objects.get(site=site).enabled
    assert 'id="salesforce-connect"' in admin_client.get(edit_url(site)).content.decode()


@pytest.mark.parametrize(
    ("status", "tone"),
    [
        (ConnectionStatus.CONNECTED, "success"),
        (ConnectionStatus.NEEDS_REAUTH, "warning"),
        (ConnectionStatus.ERROR, "critical"),
    ],
)
def test_status_tags_are_coloured_by_state(
    admin_client: Client, connected: Any, status: str, tone: str
) -> None:
    SalesforceConnection.objects.filter(pk=connected.pk).update(status=status)

    page = admin_client.get(edit_url(connected.site)).content.decode()

    assert f'data-status="{status}" data-tone="{tone}"' in page
    assert f"salesforce-status--{tone}" in page


def test_a_site_without_settings_shows_a_neutral_tag(admin_client: Client, site: Site) -> None:
    page = admin_client.get(edit_url(site)).content.decode()
    assert 'data-status="not_configured" data-tone="default"' in page


def test_disconnect_asks_before_it_disconnects(admin_client: Client, connected: Any) -> None:
    url = reverse("wagtail_salesforce:disconnect", args=[connected.site_id])
    panel = admin_client.get(edit_url(connected.site)).content.decode()
    assert f'href="{url}"' in panel  # the button opens the question, it does not post

    question = admin_client.get(url)

    assert question.status_code == 200
    html = question.content.decode()
    assert 'id="salesforce-confirm-disconnect"' in html
    assert f'<form method="post" action="{url}">' in html
    assert SalesforceConnection.objects.get(pk=connected.pk).has_tokens

    admin_client.post(url)

    assert not SalesforceConnection.objects.get(pk=connected.pk).has_tokens


def test_opening_the_admin_off_the_callback_host_warns_with_the_right_link(
    admin_client: Client, site: Site
) -> None:
    assert site.hostname == "localhost"
    admin_client.post(edit_url(site), CREDENTIALS)

    elsewhere = admin_client.get(edit_url(site), HTTP_HOST="127.0.0.1").content.decode()
    at_home = admin_client.get(edit_url(site), HTTP_HOST="localhost").content.decode()

    assert 'id="salesforce-host-warning"' in elsewhere
    assert f'href="http://localhost{edit_url(site)}"' in elsewhere
    assert 'id="salesforce-host-warning"' not in at_home
