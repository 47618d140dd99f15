"""Settings → Salesforce: permissions, the form, the OAuth views, messages (en and ja)."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from wagtail.log_actions import log
from wagtail.models import ModelLogEntry, Site

import wagtail_salesforce
from tests.connection.oauth_helpers import authorize_in_sandbox, configure_site
from wagtail_salesforce.connection import service
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

CALLBACK = "/admin/salesforce/oauth/callback/"


def _user_client(django_user_model: Any, *, manage: bool) -> Client:
    user = django_user_model.objects.create_user(username="editor", password="pw-123456")
    group = Group.objects.create(name="Editors with admin")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    if manage:
        group.permissions.add(Permission.objects.get(codename="manage_connection"))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def _edit_url(site: Site) -> str:
    return reverse("wagtail_salesforce:edit", args=[site.pk])


def _messages(response: Any) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def test_callback_path_is_the_one_in_the_contract() -> None:
    assert reverse("wagtail_salesforce:oauth_callback") == CALLBACK


@pytest.mark.parametrize(
    ("method", "name", "with_site"),
    [
        ("get", "index", False),
        ("get", "edit", True),
        ("post", "connect", True),
        ("post", "test_connection", True),
        ("post", "disconnect", True),
        ("get", "oauth_callback", False),
    ],
)
def test_admin_user_without_the_permission_gets_403(
    django_user_model: Any, site: Site, method: str, name: str, with_site: bool
) -> None:
    client = _user_client(django_user_model, manage=False)
    url = reverse(f"wagtail_salesforce:{name}", args=[site.pk] if with_site else [])
    query = "?code=c&state=s" if name == "oauth_callback" else ""
    response = getattr(client, method)(url + query)
    assert response.status_code == 403
    assert b"salesforce-forbidden" in response.content


def test_user_with_the_group_permission_can_open_the_panel(
    django_user_model: Any, site: Site
) -> None:
    client = _user_client(django_user_model, manage=True)
    response = client.get(_edit_url(site))
    assert response.status_code == 200
    assert b"salesforce-settings-form" in response.content


def test_anonymous_visitor_is_sent_to_the_login_page(client: Client, site: Site) -> None:
    response = client.get(CALLBACK + "?code=c&state=s")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_menu_item_and_permission_show_for_managers_only(
    admin_client: Client, django_user_model: Any, site: Site
) -> None:
    home = admin_client.get(reverse("wagtailadmin_home"))
    assert reverse("wagtail_salesforce:index").encode() in home.content
    editor = _user_client(django_user_model, manage=False)
    assert (
        reverse("wagtail_salesforce:index").encode()
        not in editor.get(reverse("wagtailadmin_home")).content
    )
    group_page = admin_client.get(reverse("wagtailusers_groups:add"))
    permission = Permission.objects.get(codename="manage_connection")
    assert f'value="{permission.pk}"'.encode() in group_page.content


def _settings_form(**overrides: str) -> dict[str, str]:
    data = {
        "enabled": "on",
        "login_url": "https://login.salesforce.com",
        "consumer_key": "3MVG9-key",
        "consumer_secret": "shh-secret-value",
        "api_version": "62.0",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_consumer_secret_is_write_only(admin_client: Client, site: Site) -> None:
    response = admin_client.post(_edit_url(site), _settings_form())
    assert response.status_code == 302
    page = admin_client.get(_edit_url(site))
    assert b"shh-secret-value" not in page.content
    assert b'data-secret-state="set"' in page.content
    # Saving again without a secret keeps it.
    admin_client.post(_edit_url(site), _settings_form(consumer_secret=""))
    assert SalesforceConnection.objects.get(site=site).consumer_secret == "shh-secret-value"
    stored = SalesforceConnection.objects.get(site=site)
    assert stored.status == ConnectionStatus.NOT_CONNECTED


def test_turning_on_without_credentials_is_refused(admin_client: Client, site: Site) -> None:
    response = admin_client.post(
        _edit_url(site), _settings_form(consumer_key="", consumer_secret="")
    )
    assert response.status_code == 200
    assert "consumer_key" in response.context["form"].errors
    assert "consumer_secret" in response.context["form"].errors


@pytest.mark.parametrize(
    ("login_url", "accepted"),
    [
        ("https://login.salesforce.com", True),
        ("https://test.salesforce.com/", True),
        ("https://acme.my.salesforce.com", True),
        ("http://127.0.0.1:9999", True),
        ("http://login.salesforce.com", False),
        ("https://acme.my.salesforce.com/services/oauth2/authorize", False),
    ],
)
def test_login_url_validation(
    admin_client: Client, site: Site, login_url: str, accepted: bool
) -> None:
    response = admin_client.post(_edit_url(site), _settings_form(login_url=login_url))
    assert (response.status_code == 302) is accepted
    if accepted:
        assert SalesforceConnection.objects.get(site=site).login_url == login_url.rstrip("/")


def test_api_version_must_look_like_a_version(admin_client: Client, site: Site) -> None:
    response = admin_client.post(_edit_url(site), _settings_form(api_version="v62"))
    assert "api_version" in response.context["form"].errors


def test_callback_url_is_built_from_the_site_root_url(admin_client: Client, site: Site) -> None:
    site.hostname, site.port = "www.example.com", 443
    site.save()
    page = admin_client.get(_edit_url(site))
    assert b'value="https://www.example.com/admin/salesforce/oauth/callback/"' in page.content
    assert b"salesforce-https-warning" not in page.content


def test_plain_http_callback_warns_except_on_loopback(admin_client: Client, site: Site) -> None:
    assert b"salesforce-https-warning" not in admin_client.get(_edit_url(site)).content  # localhost
    site.hostname = "intranet.example.com"
    site.save()
    assert b"salesforce-https-warning" in admin_client.get(_edit_url(site)).content


def test_credentials_from_settings_are_shown_as_managed(
    admin_client: Client, site: Site, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {"CONSUMER_KEY": "key-from-env", "CONSUMER_SECRET": "env-secret"}
    page = admin_client.get(_edit_url(site)).content.decode()
    assert "Managed by settings" in page
    assert "key-from-env" in page
    assert "env-secret" not in page
    response = admin_client.post(
        _edit_url(site), _settings_form(consumer_key="ignored", consumer_secret="")
    )
    assert response.status_code == 302
    stored = SalesforceConnection.objects.get(site=site)
    assert stored.effective_consumer_key == "key-from-env"
    assert stored.effective_consumer_secret == "env-secret"
    assert stored.status == ConnectionStatus.NOT_CONNECTED


def test_site_switcher_lists_every_site(admin_client: Client, site: Site) -> None:
    other = Site.objects.create(hostname="other.example.com", port=443, root_page=site.root_page)
    page = admin_client.get(_edit_url(site)).content.decode()
    assert _edit_url(other) in page and "salesforce-site-select" in page


def test_panel_in_japanese(admin_client: Client, site: Site) -> None:
    page = admin_client.get(_edit_url(site), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "未設定" in page
    assert "コールバック URL" in page


# --- the OAuth views against the sandbox ----------------------------------------------


def _start(admin_client: Client, site: Site) -> str:
    response = admin_client.post(reverse("wagtail_salesforce:connect", args=[site.pk]))
    assert response.status_code == 302
    return response["Location"]


def _callback(admin_client: Client, params: dict[str, str]) -> Any:
    return admin_client.get(CALLBACK + "?" + urlencode(params), follow=True)


def test_connect_flow_ends_connected_with_org_user_and_instance(
    admin_client: Client, configured: Any, sandbox: Any
) -> None:
    reply = authorize_in_sandbox(
        _start(admin_client, configured.site), sandbox.username, sandbox.password
    )
    page = _callback(admin_client, reply)
    body = page.content.decode()
    assert 'data-status="connected"' in body
    assert sandbox.username in body and sandbox.instance_url in body
    stored = SalesforceConnection.objects.get(pk=configured.pk)
    assert stored.org_id in body
    assert ModelLogEntry.objects.filter(action="wagtail_salesforce.connect").exists()


def test_deny_shows_the_cause_and_connect_works_again(
    admin_client: Client, configured: Any, sandbox: Any
) -> None:
    reply = authorize_in_sandbox(
        _start(admin_client, configured.site), sandbox.username, sandbox.password, decision="deny"
    )
    page = _callback(admin_client, reply)
    assert "You clicked Deny" in _messages(page)
    assert b"salesforce-connect" in page.content
    retry = authorize_in_sandbox(
        _start(admin_client, configured.site), sandbox.username, sandbox.password
    )
    assert b'data-status="connected"' in _callback(admin_client, retry).content


def test_wrong_secret_says_paste_it_again(
    admin_client: Client, configured: Any, sandbox: Any
) -> None:
    configured.consumer_secret = "wrong-secret"
    configured.save()
    reply = authorize_in_sandbox(
        _start(admin_client, configured.site), sandbox.username, sandbox.password
    )
    page = _callback(admin_client, reply)
    assert "rejected the consumer secret" in _messages(page)
    assert SalesforceConnection.objects.get(pk=configured.pk).status == "not_connected"


def test_reused_state_is_refused(admin_client: Client, configured: Any, sandbox: Any) -> None:
    reply = authorize_in_sandbox(
        _start(admin_client, configured.site), sandbox.username, sandbox.password
    )
    _callback(admin_client, reply)
    again = _callback(admin_client, reply)
    assert "another browser session" in _messages(again)


def test_state_from_another_browser_session_is_refused(
    admin_client: Client, django_user_model: Any, configured: Any, sandbox: Any
) -> None:
    reply = authorize_in_sandbox(
        _start(admin_client, configured.site), sandbox.username, sandbox.password
    )
    other = _user_client(django_user_model, manage=True)
    page = other.get(CALLBACK + "?" + urlencode(reply), follow=True)
    assert "another browser session" in _messages(page)
    assert SalesforceConnection.objects.get(pk=configured.pk).status == "not_connected"


def test_expired_state_is_refused(
    admin_client: Client, configured: Any, sandbox: Any, settings: Any
) -> None:
    authorize_url = _start(admin_client, configured.site)
    reply = authorize_in_sandbox(authorize_url, sandbox.username, sandbox.password)
    session = admin_client.session
    pending = session[service.SESSION_KEY]
    pending[reply["state"]]["created_at"] -= 601
    session[service.SESSION_KEY] = pending
    session.save()
    page = _callback(admin_client, reply)
    assert "expired" in _messages(page)


def test_callback_without_code_points_at_the_callback_url(
    admin_client: Client, configured: Any, sandbox: Any
) -> None:
    authorize_url = _start(admin_client, configured.site)
    state = dict(p.split("=", 1) for p in authorize_url.split("?", 1)[1].split("&"))["state"]
    page = _callback(admin_client, {"state": state})
    assert configured.callback_url() in _messages(page)


def test_test_connection_shows_daily_requests(
    admin_client: Client, connected: Any, sandbox: Any
) -> None:
    page = admin_client.post(
        reverse("wagtail_salesforce:test_connection", args=[connected.site_id]), follow=True
    )
    text = _messages(page)
    assert "The connection works" in text and "remaining" in text


def test_disconnect_revokes_at_salesforce_and_forgets_tokens(
    admin_client: Client, connected: Any, sandbox: Any
) -> None:
    refresh_token = connected.refresh_token
    admin_client.post(reverse("wagtail_salesforce:disconnect", args=[connected.site_id]))
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.status == ConnectionStatus.NOT_CONNECTED
    assert not stored.access_token_encrypted and not stored.refresh_token_encrypted
    from wagtail_salesforce.connection import oauth
    from wagtail_salesforce.exceptions import OAuthError

    with pytest.raises(OAuthError):
        oauth.refresh_access_token(
            sandbox.login_url,
            client_id="site-one-key",
            client_secret="site-one-secret",
            refresh_token=refresh_token,
        )
    assert ModelLogEntry.objects.filter(action="wagtail_salesforce.disconnect").exists()


def test_changing_the_consumer_key_disconnects(
    admin_client: Client, connected: Any, sandbox: Any
) -> None:
    response = admin_client.post(
        _edit_url(connected.site),
        _settings_form(login_url=sandbox.login_url, consumer_key="another-app", consumer_secret=""),
        follow=True,
    )
    assert "disconnected" in _messages(response)
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    # Issue 12: the stored secret does not follow a new consumer key, so it must be entered again.
    assert stored.status == ConnectionStatus.NOT_CONFIGURED
    assert not stored.consumer_secret_encrypted
    assert not stored.refresh_token_encrypted


def test_needs_reauth_shows_a_dashboard_banner(
    admin_client: Client, django_user_model: Any, connected: Any
) -> None:
    SalesforceConnection.objects.filter(pk=connected.pk).update(status="needs_reauth")
    home = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert "salesforce-connection-problems" in home
    assert "needs re-authorisation" in home
    editor = _user_client(django_user_model, manage=False)
    assert b"salesforce-connection-problems" not in editor.get(reverse("wagtailadmin_home")).content


def test_two_sites_connect_to_two_connected_apps(
    admin_client: Client, site: Site, sandbox: Any
) -> None:
    """The sandbox is one org: two connected apps stand in for two orgs (different apps,
    different tokens, independent status)."""
    second = Site.objects.create(hostname="127.0.0.1", port=8001, root_page=site.root_page)
    first_connection = configure_site(site, sandbox, client_id="app-a", client_secret="sec-a")
    second_connection = configure_site(second, sandbox, client_id="app-b", client_secret="sec-b")
    for connection in (first_connection, second_connection):
        reply = authorize_in_sandbox(
            _start(admin_client, connection.site), sandbox.username, sandbox.password
        )
        _callback(admin_client, reply)
    a = SalesforceConnection.objects.get(pk=first_connection.pk)
    b = SalesforceConnection.objects.get(pk=second_connection.pk)
    assert a.status == b.status == ConnectionStatus.CONNECTED
    assert a.refresh_token != b.refresh_token
    admin_client.post(reverse("wagtail_salesforce:disconnect", args=[site.pk]))
    assert SalesforceConnection.objects.get(pk=b.pk).status == ConnectionStatus.CONNECTED


def test_every_string_has_a_japanese_translation() -> None:
    po = (
        Path(wagtail_salesforce.__file__).parent / "locale" / "ja" / "LC_MESSAGES" / "django.po"
    ).read_text(encoding="utf-8")
    entries = po.split("\n\n")[1:]  # the first entry is the header
    # An empty translation is `msgstr ""` with no continuation line after it.
    untranslated = [e for e in entries if re.search(r'^msgstr(\[0\])? ""\s*\Z', e, re.M)]
    assert untranslated == []
    assert "#, fuzzy" not in po


def test_status_names_in_japanese() -> None:
    with translation.override("ja"):
        labels = [str(ConnectionStatus(value).label) for value in ConnectionStatus.values]
    assert labels == ["未設定", "未連携", "連携中", "要再認証", "エラー"]


def test_connected_panel_in_japanese(admin_client: Client, connected: Any) -> None:
    page = admin_client.get(_edit_url(connected.site), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "連携中" in page and "連携をテスト" in page and "連携を解除" in page


def test_lost_encryption_key_is_reported_and_recovered_by_entering_the_secret_again(
    admin_client: Client, connected: Any, sandbox: Any, settings: Any
) -> None:
    sandbox_settings = dict(settings.WAGTAIL_SALESFORCE)
    settings.WAGTAIL_SALESFORCE = {**sandbox_settings, "ENCRYPTION_KEY": Fernet.generate_key()}
    call_command("salesforce_rotate_key", stdout=StringIO())
    # The key used for the stored secrets is lost: a new one and no OLD_ENCRYPTION_KEYS.
    settings.WAGTAIL_SALESFORCE = {**sandbox_settings, "ENCRYPTION_KEY": Fernet.generate_key()}
    page = admin_client.get(_edit_url(connected.site))
    assert b"salesforce-secrets-unreadable" in page.content
    refused = admin_client.post(
        reverse("wagtail_salesforce:connect", args=[connected.site_id]), follow=True
    )
    assert "cannot be decrypted" in _messages(refused)
    admin_client.post(
        _edit_url(connected.site),
        _settings_form(
            login_url=sandbox.login_url,
            consumer_key="site-one-key",
            consumer_secret="site-one-secret",
        ),
    )
    reply = authorize_in_sandbox(
        _start(admin_client, connected.site), sandbox.username, sandbox.password
    )
    page = _callback(admin_client, reply)
    assert b'data-status="connected"' in page.content
    assert b"salesforce-secrets-unreadable" not in page.content


@pytest.mark.parametrize(
    ("error", "description", "expected"),
    [
        ("access_denied", "end-user denied authorization", "You clicked Deny"),
        ("access-denied", "", "You clicked Deny"),
        ("invalid_client", "invalid client credentials", "rejected the consumer secret"),
        ("invalid_client_id", "client identifier invalid", "does not know this consumer key"),
        ("redirect_uri_mismatch", "", "http://localhost/admin/salesforce/oauth/callback/"),
        ("invalid_grant", "expired authorization code", "expired or was already used"),
        ("invalid_request", "invalid code verifier", "PKCE code verifier"),
        ("invalid_request", "missing required code challenge", "requires PKCE"),
        ("invalid_scope", "", "refresh_token, offline_access"),
        ("unsupported_response_type", "", "“unsupported_response_type”"),
    ],
)
def test_oauth_errors_name_cause_and_fix(
    site: Site, error: str, description: str, expected: str
) -> None:
    from wagtail_salesforce.admin.connection.messages import explain_oauth_error

    message = explain_oauth_error(error, description, SalesforceConnection(site=site))
    assert expected in message
    assert "Connect" in message
    if description:
        assert description in message


def test_callback_is_refused_when_the_site_moved_after_connect(
    admin_client: Client, configured: Any, sandbox: Any
) -> None:
    reply = authorize_in_sandbox(
        _start(admin_client, configured.site), sandbox.username, sandbox.password
    )
    site = configured.site
    site.hostname = "moved.example.com"
    site.save()
    page = _callback(admin_client, reply)
    assert "Click Connect to try again" in _messages(page)
    assert SalesforceConnection.objects.get(pk=configured.pk).status == "not_connected"


def test_saving_settings_keeps_a_token_refreshed_meanwhile(connected: Any, sandbox: Any) -> None:
    from wagtail_salesforce.admin.connection.forms import ConnectionSettingsForm
    from wagtail_salesforce.connection.credentials import client_for

    loaded = SalesforceConnection.objects.get(pk=connected.pk)  # the admin opens the panel
    form = ConnectionSettingsForm(
        _settings_form(
            login_url=sandbox.login_url,
            consumer_key="site-one-key",
            consumer_secret="",
            api_version="61.0",
        ),
        instance=loaded,
    )
    sandbox.expire_access_tokens()
    client_for(connected.site).limits()  # a worker refreshes the token meanwhile
    refreshed = SalesforceConnection.objects.get(pk=connected.pk)
    assert form.is_valid(), form.errors
    form.save()
    stored = SalesforceConnection.objects.get(pk=connected.pk)
    assert stored.api_version == "61.0"
    assert stored.token_version == refreshed.token_version
    assert stored.access_token == refreshed.access_token
    assert stored.status == ConnectionStatus.CONNECTED


def test_test_connection_reports_a_spent_daily_limit(
    admin_client: Client, connected: Any, sandbox: Any
) -> None:
    sandbox.set_daily_limit(0)
    page = admin_client.post(
        reverse("wagtail_salesforce:test_connection", args=[connected.site_id]), follow=True
    )
    assert "The test call failed" in _messages(page)
    assert "REQUEST_LIMIT_EXCEEDED" in _messages(page)


def test_error_status_is_explained_and_fixed_by_saving_the_secret_again(
    admin_client: Client, connected: Any, sandbox: Any
) -> None:
    SalesforceConnection.objects.filter(pk=connected.pk).update(
        status=ConnectionStatus.ERROR, status_detail="invalid_client: invalid client credentials"
    )
    page = admin_client.get(_edit_url(connected.site)).content.decode()
    assert 'data-status="error"' in page and "Paste them again" in page
    home = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert "has an error" in home
    admin_client.post(
        _edit_url(connected.site),
        _settings_form(
            login_url=sandbox.login_url,
            consumer_key="site-one-key",
            consumer_secret="site-one-secret",
        ),
    )
    assert SalesforceConnection.objects.get(pk=connected.pk).status == ConnectionStatus.CONNECTED


def test_connect_and_disconnect_show_in_the_site_history_report(
    admin_client: Client, connected: Any
) -> None:
    log(instance=connected, action="wagtail_salesforce.connect")
    admin_client.post(reverse("wagtail_salesforce:disconnect", args=[connected.site_id]))
    report = admin_client.get(reverse("wagtailadmin_reports:site_history"))
    assert report.status_code == 200
    text = report.content.decode()
    assert "Connected to Salesforce" in text and "Disconnected from Salesforce" in text
