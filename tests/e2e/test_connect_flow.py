"""Settings → Salesforce in a real browser against the sandbox: Connect to Connected, Deny and
retry, a wrong secret, PKCE enforced by the connected app, a user without the permission."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.contrib.auth.models import Group, Permission
from wagtail.models import Site

from tests.connection.oauth_helpers import default_site
from tests.e2e.conftest import PASSWORD, log_in
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CALLBACK_PATH = "/admin/salesforce/oauth/callback/"
CLIENT_ID = "e2e-consumer-key"
CLIENT_SECRET = "e2e-consumer-secret"


@pytest.fixture
def live_site(live_server: Any) -> Site:
    """The default Site, moved to the live server's host and port (its root URL builds the
    callback URL)."""
    parts = urlsplit(live_server.url)
    return default_site(str(parts.hostname), int(parts.port or 80))


@pytest.fixture
def sandbox_app(salesforce_sandbox: Any, settings: Any, live_server: Any) -> Any:
    settings.WAGTAIL_SALESFORCE = {
        "CA_FILE": salesforce_sandbox.ca_file,
        "ALLOWED_LOGIN_HOSTS": [urlsplit(salesforce_sandbox.login_url).netloc],
    }
    salesforce_sandbox.add_connected_app(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        callback_urls=[live_server.url + CALLBACK_PATH],
        require_pkce=True,
    )
    return salesforce_sandbox


@pytest.fixture
def admin_page(browser_page: Any, live_server: Any, django_user_model: Any, live_site: Site) -> Any:
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    log_in(browser_page, live_server, "boss")
    return browser_page


def _fill_settings(page: Any, live_server: Any, sandbox: Any, secret: str) -> None:
    page.goto(live_server.url + "/admin/salesforce/")
    page.fill("#id_login_url", sandbox.login_url)
    page.fill("#id_consumer_key", CLIENT_ID)
    page.fill("#id_consumer_secret", secret)
    page.click("#salesforce-save")
    page.wait_for_selector("text=Salesforce settings saved.")


def _sandbox_login(page: Any, sandbox: Any) -> None:
    page.fill("#username", sandbox.username)
    page.fill("#password", sandbox.password)
    page.click("#Login")


def _status(page: Any) -> str:
    return str(page.get_attribute("[data-status]", "data-status"))


def test_connect_from_the_panel_to_connected(
    admin_page: Any, live_server: Any, sandbox_app: Any, live_site: Site
) -> None:
    page = admin_page
    _fill_settings(page, live_server, sandbox_app, CLIENT_SECRET)
    callback = page.input_value("#salesforce-callback-url")
    assert callback == live_server.url + CALLBACK_PATH
    assert _status(page) == ConnectionStatus.NOT_CONNECTED
    page.click("#salesforce-connect")
    page.wait_for_url(sandbox_app.login_url + "/**")
    _sandbox_login(page, sandbox_app)
    page.click("#oaapprove")
    page.wait_for_url(re.compile(r".*/admin/salesforce/site/\d+/$"))
    assert _status(page) == ConnectionStatus.CONNECTED
    assert page.inner_text("[data-fact=instance]") == sandbox_app.instance_url
    assert sandbox_app.username in page.inner_text("[data-fact=user]")
    stored = SalesforceConnection.objects.get(site=live_site)
    assert page.inner_text("[data-fact=org]") == stored.org_id
    # Test connection answers with the org's daily API requests.
    page.click("#salesforce-test")
    page.wait_for_selector("text=The connection works")


def test_deny_then_retry(admin_page: Any, live_server: Any, sandbox_app: Any) -> None:
    page = admin_page
    _fill_settings(page, live_server, sandbox_app, CLIENT_SECRET)
    page.click("#salesforce-connect")
    _sandbox_login(page, sandbox_app)
    page.click("#oaapprove_deny")
    page.wait_for_selector("text=You clicked Deny")
    assert _status(page) == ConnectionStatus.NOT_CONNECTED
    page.click("#salesforce-connect")
    _sandbox_login(page, sandbox_app)
    page.click("#oaapprove")
    page.wait_for_selector("[data-status=connected]")


def test_wrong_secret_names_the_cause(admin_page: Any, live_server: Any, sandbox_app: Any) -> None:
    page = admin_page
    _fill_settings(page, live_server, sandbox_app, "a-wrong-secret")
    page.click("#salesforce-connect")
    _sandbox_login(page, sandbox_app)
    page.click("#oaapprove")
    page.wait_for_selector("text=Salesforce rejected the consumer secret")
    assert _status(page) == ConnectionStatus.NOT_CONNECTED


def test_connected_app_enforces_pkce(admin_page: Any, live_server: Any, sandbox_app: Any) -> None:
    page = admin_page
    _fill_settings(page, live_server, sandbox_app, CLIENT_SECRET)
    page.click("#salesforce-connect")
    page.wait_for_url(sandbox_app.login_url + "/**")
    parts = urlsplit(page.url)
    query = dict(parse_qsl(parts.query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    # The same request without a challenge: the PKCE-requiring app refuses it.
    del query["code_challenge"], query["code_challenge_method"]
    page.goto(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}")
    page.wait_for_selector("text=requires PKCE")
    assert _status(page) == ConnectionStatus.NOT_CONNECTED


def test_user_without_the_permission_is_refused(
    browser_page: Any, live_server: Any, django_user_model: Any, live_site: Site
) -> None:
    editor = django_user_model.objects.create_user("editor", "ed@example.com", PASSWORD)
    group = Group.objects.create(name="Editors")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    editor.groups.add(group)
    log_in(browser_page, live_server, "editor")
    for path in ("/admin/salesforce/", CALLBACK_PATH + "?code=x&state=y"):
        response = browser_page.goto(live_server.url + path)
        assert response.status == 403
        assert browser_page.is_visible("#salesforce-forbidden")


@pytest.fixture
def japanese_admin_page(
    chromium: Any, live_server: Any, django_user_model: Any, live_site: Site
) -> Iterator[Any]:
    context = chromium.new_context(locale="ja-JP")
    context.set_default_timeout(15_000)
    page = context.new_page()
    django_user_model.objects.create_superuser("boss-ja", "ja@example.com", PASSWORD)
    try:
        log_in(page, live_server, "boss-ja")
        yield page
    finally:
        context.close()


def test_connect_in_japanese_shows_renkeichuu(
    japanese_admin_page: Any, live_server: Any, sandbox_app: Any
) -> None:
    page = japanese_admin_page
    page.goto(live_server.url + "/admin/salesforce/")
    assert page.inner_text("[data-status]") == "未設定"
    page.fill("#id_login_url", sandbox_app.login_url)
    page.fill("#id_consumer_key", CLIENT_ID)
    page.fill("#id_consumer_secret", CLIENT_SECRET)
    page.click("#salesforce-save")
    page.wait_for_selector("text=Salesforce の設定を保存しました。")
    assert page.inner_text("[data-status]") == "未連携"
    assert page.inner_text("#salesforce-connect") == "連携する"
    page.click("#salesforce-connect")
    _sandbox_login(page, sandbox_app)
    page.click("#oaapprove")
    page.wait_for_selector("[data-status=connected]")
    assert page.inner_text("[data-status]") == "連携中"


SECOND_ORG_ID = "00D000000000002AAA"


def test_changed_login_url_asks_for_the_secret_again(
    admin_page: Any,
    live_server: Any,
    sandbox_app: Any,
    salesforce_sandbox_factory: Any,
    settings: Any,
    tmp_path: Path,
) -> None:
    """A Salesforce admin points the site at another org's login URL: the stored secret is
    cleared (it never follows a new host), Connect is gone until it is entered again."""
    second_org = salesforce_sandbox_factory({"org": {"id": SECOND_ORG_ID, "name": "Second Org"}})
    second_org.add_connected_app(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        callback_urls=[live_server.url + CALLBACK_PATH],
    )
    bundle = tmp_path / "both-cas.pem"
    bundle.write_text(Path(sandbox_app.ca_file).read_text() + Path(second_org.ca_file).read_text())
    settings.WAGTAIL_SALESFORCE = {
        "CA_FILE": str(bundle),
        "ALLOWED_LOGIN_HOSTS": [
            urlsplit(sandbox_app.login_url).netloc,
            urlsplit(second_org.login_url).netloc,
        ],
    }
    page = admin_page
    _fill_settings(page, live_server, sandbox_app, CLIENT_SECRET)
    page.click("#salesforce-connect")
    _sandbox_login(page, sandbox_app)
    page.click("#oaapprove")
    page.wait_for_selector("[data-status=connected]")

    page.fill("#id_login_url", second_org.login_url)
    page.click("#salesforce-save")
    page.wait_for_selector("text=Enter the consumer secret again and save before clicking Connect")
    assert _status(page) == ConnectionStatus.NOT_CONFIGURED
    assert page.get_attribute("[data-secret-state]", "data-secret-state") == "unset"
    assert page.locator("#salesforce-connect").count() == 0
    assert "Changing the login URL or the consumer key clears it" in page.inner_text(
        "#salesforce-settings-form"
    )

    page.fill("#id_consumer_secret", CLIENT_SECRET)
    page.click("#salesforce-save")
    page.wait_for_selector("text=Salesforce settings saved.")
    page.click("#salesforce-connect")
    page.wait_for_url(second_org.login_url + "/**")
    _sandbox_login(page, second_org)
    page.click("#oaapprove")
    page.wait_for_selector("[data-status=connected]")
    assert page.inner_text("[data-fact=org]") == SECOND_ORG_ID
