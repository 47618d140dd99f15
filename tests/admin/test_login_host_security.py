"""Issue 12, break 1: the consumer secret never follows a changed login URL or consumer key, the
login URL must name a Salesforce host (or one an operator allows), and the panel's actions are
written to Wagtail's audit log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.core import checks
from django.test import Client
from django.urls import reverse
from wagtail.models import ModelLogEntry, Site

from tests.connection.oauth_helpers import authorize_in_sandbox
from wagtail_salesforce.connection import oauth
from wagtail_salesforce.connection.login_hosts import LoginHostNotAllowed, is_allowed_login_url
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

CALLBACK = "/admin/salesforce/oauth/callback/"
SECRET = "site-one-secret"  # noqa: S105 - the sandbox app's test secret (tests/fixtures.py)


class FakeLoginHost:
    """An HTTP server on loopback posing as a login host: it records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                recorded.append((self.command, self.path, body))
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error": "invalid_grant"}')

            do_GET = do_POST = _record  # noqa: N815 - the names http.server calls

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self, text: str) -> bool:
        return any(text in path or text in body for _method, path, body in self.requests)


@pytest.fixture
def fake_login_host() -> Iterator[FakeLoginHost]:
    host = FakeLoginHost()
    host.thread.start()
    try:
        yield host
    finally:
        host.server.shutdown()
        host.server.server_close()


def _edit_url(site: Site) -> str:
    return reverse("wagtail_salesforce:edit", args=[site.pk])


def _form(login_url: str, consumer_key: str = "site-one-key", secret: str = "") -> dict[str, str]:
    return {
        "login_url": login_url,
        "consumer_key": consumer_key,
        "consumer_secret": secret,
        "api_version": "62.0",
    }


def _messages(response: Any) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def _connect(admin_client: Client, site: Site) -> Any:
    return admin_client.post(reverse("wagtail_salesforce:connect", args=[site.pk]))


def _actions() -> list[str]:
    return list(ModelLogEntry.objects.order_by("pk").values_list("action", flat=True))


def test_changed_login_url_never_receives_the_stored_secret(
    admin_client: Client, connected: SalesforceConnection, fake_login_host: FakeLoginHost
) -> None:
    # Even a host the operator allows (all of loopback, in the tests' settings) does not get the
    # secret that was entered for another host.
    saved = admin_client.post(
        _edit_url(connected.site), _form(fake_login_host.url), follow=True
    )
    assert "enter the consumer secret again" in _messages(saved).lower()
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.login_url == fake_login_host.url
    assert not stored.consumer_secret_encrypted and not stored.has_tokens
    assert stored.status == ConnectionStatus.NOT_CONFIGURED

    refused = _connect(admin_client, connected.site)
    assert refused["Location"] == _edit_url(connected.site)
    # What today's code did next: the browser comes back with a code, and the token request
    # goes to the new host. Play it to the end: nothing may reach the fake host with the secret.
    session_states = dict(admin_client.session.get("wagtail_salesforce_oauth_states") or {})
    for state in session_states:
        admin_client.get(CALLBACK + "?" + urlencode({"code": "stolen", "state": state}))
    assert not fake_login_host.received(SECRET)
    assert fake_login_host.requests == []


def test_secret_entered_again_connects_and_goes_to_the_new_host_only(
    admin_client: Client, connected: SalesforceConnection, sandbox: Any
) -> None:
    admin_client.post(_edit_url(connected.site), _form(sandbox.login_url, "another-app"))
    page = admin_client.get(_edit_url(connected.site)).content.decode()
    assert 'data-secret-state="unset"' in page and 'id="salesforce-connect"' not in page
    admin_client.post(_edit_url(connected.site), _form(sandbox.login_url, "site-one-key", SECRET))
    started = _connect(admin_client, connected.site)
    reply = authorize_in_sandbox(started["Location"], sandbox.username, sandbox.password)
    admin_client.get(CALLBACK + "?" + urlencode(reply))
    assert SalesforceConnection.objects.get(pk=connected.pk).status == ConnectionStatus.CONNECTED


def test_new_secret_with_the_new_login_url_is_kept(
    admin_client: Client, connected: SalesforceConnection, sandbox: Any
) -> None:
    admin_client.post(
        _edit_url(connected.site), _form(sandbox.login_url, "another-app", "another-secret")
    )
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.consumer_secret == "another-secret"
    assert not stored.has_tokens


@pytest.mark.parametrize(
    "url",
    [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        "https://acme.my.salesforce.com",
        "https://acme--uat.sandbox.my.salesforce.com",
        "https://acme--uat.my.salesforce.com",
        "https://acme-dev-ed.develop.my.salesforce.com",
        "https://acme.scratch.my.salesforce.com",
        "https://acme.demo.my.salesforce.com",
        "https://acme.patch.my.salesforce.com",
        "https://acme.trailblaze.my.salesforce.com",
        "https://Login.Salesforce.com:443",
    ],
)
def test_salesforce_login_hosts_are_allowed_without_settings(url: str, settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {}
    assert is_allowed_login_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://login.salesforce.com",
        "https://login.salesforce.com:8443",
        "https://evil.example.com",
        "https://login.salesforce.com.evil.example.com",
        "https://my.salesforce.com.evil.example.com",
        "https://acme.free.my.salesforce.com",
        "https://user@evil.example.com",
        "https://login.salesforce.com@evil.example.com",
        "http://127.0.0.1:9999",
        "https://localhost",
    ],
)
def test_other_hosts_are_refused_without_settings(url: str, settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {}
    assert not is_allowed_login_url(url)


def test_allowed_login_hosts_name_hosts_ports_and_domains(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {
        "ALLOWED_LOGIN_HOSTS": ["127.0.0.1:8001", "*.login.example.com", "sso.example.org"]
    }
    assert is_allowed_login_url("http://127.0.0.1:8001")
    assert not is_allowed_login_url("http://127.0.0.1:8002")
    assert is_allowed_login_url("https://eu.login.example.com")
    assert not is_allowed_login_url("https://login.example.com.evil.net")
    assert is_allowed_login_url("https://sso.example.org:8443")
    # Plain HTTP only on loopback, even when listed.
    assert not is_allowed_login_url("http://sso.example.org")


def test_panel_refuses_a_login_url_on_a_foreign_host(
    admin_client: Client, site: Site, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {}
    response = admin_client.post(_edit_url(site), _form("https://evil.example.com", secret="s"))
    assert response.status_code == 200
    assert "not a Salesforce login host" in str(response.context["form"].errors["login_url"])
    assert not SalesforceConnection.objects.filter(site=site).exists()


def test_a_login_url_edited_in_the_database_gets_neither_secret_nor_token(
    admin_client: Client,
    connected: SalesforceConnection,
    fake_login_host: FakeLoginHost,
    settings: Any,
) -> None:
    sandbox_host = urlsplit(connected.login_url).netloc
    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "ALLOWED_LOGIN_HOSTS": [sandbox_host],  # the sandbox's port only, not the fake host's
    }
    SalesforceConnection.objects.filter(pk=connected.pk).update(login_url=fake_login_host.url)
    connection = SalesforceConnection.objects.get(pk=connected.pk)
    refused = admin_client.post(
        reverse("wagtail_salesforce:connect", args=[connected.site_id]), follow=True
    )
    assert "not a Salesforce login host" in _messages(refused)
    with pytest.raises(LoginHostNotAllowed):
        oauth.refresh_access_token(
            connection.login_url,
            client_id=connection.consumer_key,
            client_secret=connection.consumer_secret,
            refresh_token=connection.refresh_token,
        )
    admin_client.post(reverse("wagtail_salesforce:disconnect", args=[connected.site_id]))
    assert fake_login_host.requests == []
    assert "wagtail_salesforce.connect_failed" in _actions()


def test_secret_from_settings_locks_the_login_url(
    admin_client: Client, site: Site, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {
        "CONSUMER_KEY": "key-from-env",
        "CONSUMER_SECRET": "env-secret",
        "LOGIN_URL": "https://test.salesforce.com",
    }
    page = admin_client.get(_edit_url(site)).content.decode()
    assert "Managed by settings (WAGTAIL_SALESFORCE[&#x27;LOGIN_URL&#x27;])" in page
    admin_client.post(_edit_url(site), _form("https://evil.example.com"))
    assert SalesforceConnection.objects.get(site=site).login_url == "https://test.salesforce.com"


def test_system_check_reports_a_login_url_and_hosts_that_are_not_allowed(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {
        "LOGIN_URL": "https://evil.example.com",
        "ALLOWED_LOGIN_HOSTS": ["https://sso.example.org/path"],
    }
    ids = {message.id for message in checks.run_checks()}
    assert {"wagtail_salesforce.E002", "wagtail_salesforce.E003"} <= ids
    settings.WAGTAIL_SALESFORCE = {"LOGIN_URL": "https://acme.my.salesforce.com"}
    ids = {message.id for message in checks.run_checks()}
    assert not {"wagtail_salesforce.E002", "wagtail_salesforce.E003"} & ids


# --- audit log ---------------------------------------------------------------------------


def test_settings_saved_logs_field_names_never_the_secret(
    admin_client: Client, site: Site, admin_user: Any
) -> None:
    admin_client.post(_edit_url(site), _form("https://test.salesforce.com", secret="shh-value"))
    entry = ModelLogEntry.objects.get(action="wagtail_salesforce.settings_saved")
    assert entry.user == admin_user
    assert "consumer_secret" in entry.data["changed"] and "login_url" in entry.data["changed"]
    assert "shh-value" not in str(entry.data)


def test_connect_started_and_succeeded_are_logged(
    admin_client: Client, configured: SalesforceConnection, sandbox: Any
) -> None:
    started = _connect(admin_client, configured.site)
    assert _actions() == ["wagtail_salesforce.connect_started"]
    reply = authorize_in_sandbox(started["Location"], sandbox.username, sandbox.password)
    admin_client.get(CALLBACK + "?" + urlencode(reply))
    assert _actions() == ["wagtail_salesforce.connect_started", "wagtail_salesforce.connect"]


def test_connect_denied_is_logged(
    admin_client: Client, configured: SalesforceConnection, sandbox: Any
) -> None:
    started = _connect(admin_client, configured.site)
    reply = authorize_in_sandbox(
        started["Location"], sandbox.username, sandbox.password, decision="deny"
    )
    admin_client.get(CALLBACK + "?" + urlencode(reply))
    assert _actions()[-1] == "wagtail_salesforce.connect_denied"


def test_connect_failed_is_logged_with_salesforce_reason(
    admin_client: Client, configured: SalesforceConnection, sandbox: Any
) -> None:
    started = _connect(admin_client, configured.site)
    state = dict(parse_qsl(urlsplit(started["Location"]).query))["state"]
    admin_client.get(CALLBACK + "?" + urlencode({"code": "not-a-code", "state": state}))
    entry = ModelLogEntry.objects.filter(action="wagtail_salesforce.connect_failed").get()
    assert entry.data == {"reason": "invalid_grant"}


def test_test_connection_is_logged(admin_client: Client, connected: SalesforceConnection) -> None:
    admin_client.post(reverse("wagtail_salesforce:test_connection", args=[connected.site_id]))
    entry = ModelLogEntry.objects.get(action="wagtail_salesforce.test_connection")
    assert entry.data == {"ok": True}


def test_disconnect_is_logged(admin_client: Client, connected: SalesforceConnection) -> None:
    admin_client.post(reverse("wagtail_salesforce:disconnect", args=[connected.site_id]))
    assert _actions() == ["wagtail_salesforce.disconnect"]


def test_every_panel_action_has_a_registered_label() -> None:
    from wagtail.log_actions import registry

    for action in (
        "settings_saved",
        "connect_started",
        "connect_denied",
        "connect_failed",
        "connect",
        "test_connection",
        "disconnect",
    ):
        assert registry.get_action_label(f"wagtail_salesforce.{action}") != ""
