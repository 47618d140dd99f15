"""The sandbox's authorize pages in a real browser: log in, Allow or Deny, land on the callback.

Playwright's sync API drives Debian's Chromium; the callback is a tiny local HTTP server that
records what the browser brought back.
"""

from __future__ import annotations

import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.oauth import pkce_challenge

pytestmark = pytest.mark.browser

CALLBACK_PATH = "/oauth/callback/"


class CallbackServer:
    """Answers the OAuth callback with a small page and keeps the query strings it received."""

    def __init__(self) -> None:
        received: list[dict[str, str]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                split = urllib.parse.urlsplit(self.path)
                if split.path == CALLBACK_PATH:  # the browser also asks for /favicon.ico
                    received.append(dict(urllib.parse.parse_qsl(split.query)))
                body = b"<html><body><h1 id='done'>Callback received</h1></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def callback() -> Iterator[CallbackServer]:
    server = CallbackServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def page(browser_page: Any) -> Any:
    """The e2e conftest's Chromium page (the sandbox's pages need no Django site)."""
    return browser_page


def _start(
    page: Any, sandbox: Any, callback: CallbackServer, state: str, verifier: str, **app_options: Any
) -> None:
    sandbox.add_connected_app(
        client_id="browser-app",
        client_secret="browser-secret",
        callback_urls=[callback.url],
        name="Browser Test App",
        **app_options,
    )
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": "browser-app",
            "redirect_uri": callback.url,
            "state": state,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
            "scope": "api refresh_token",
        }
    )
    page.goto(f"{sandbox.login_url}/services/oauth2/authorize?{query}")
    page.fill("#username", sandbox.username)
    page.fill("#password", sandbox.password)
    page.click("#Login")
    page.wait_for_selector("text=Allow Access?")
    assert "Browser Test App" in page.content()


def test_allow_lands_on_callback_and_the_code_exchanges(
    page: Any, salesforce_sandbox: Any, callback: CallbackServer
) -> None:
    state, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    _start(page, salesforce_sandbox, callback, state, verifier)
    page.click("#oaapprove")
    page.wait_for_selector("#done")
    assert page.url.startswith(callback.url)
    (params,) = callback.received
    assert params["state"] == state and params["code"]
    token = requests.post(
        f"{salesforce_sandbox.login_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "client_id": "browser-app",
            "client_secret": "browser-secret",
            "redirect_uri": callback.url,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    assert token.json()["refresh_token"] and token.json()["token_type"] == "Bearer"


def test_deny_lands_on_callback_with_access_denied(
    page: Any, salesforce_sandbox: Any, callback: CallbackServer
) -> None:
    state = secrets.token_urlsafe(16)
    _start(page, salesforce_sandbox, callback, state, secrets.token_urlsafe(48))
    page.click("#oaapprove_deny")
    page.wait_for_selector("#done")
    (params,) = callback.received
    assert params == {
        "error": "access_denied",
        "error_description": "end-user denied authorization",
        "state": state,
    }


def test_wrong_password_stays_on_the_login_page(
    page: Any, salesforce_sandbox: Any, callback: CallbackServer
) -> None:
    salesforce_sandbox.add_connected_app(
        client_id="browser-app", client_secret="browser-secret", callback_urls=[callback.url]
    )
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": "browser-app",
            "redirect_uri": callback.url,
            "code_challenge": pkce_challenge("v" * 43),
            "code_challenge_method": "S256",
        }
    )
    page.goto(f"{salesforce_sandbox.login_url}/services/oauth2/authorize?{query}")
    page.fill("#username", salesforce_sandbox.username)
    page.fill("#password", "not-the-password")
    page.click("#Login")
    page.wait_for_selector("#error")
    assert callback.received == []


def _browser_code(
    page: Any, sandbox: Any, callback: CallbackServer, verifier: str, **app_options: Any
) -> str:
    """Log in and Allow in the browser; the authorization code the callback received."""
    _start(page, sandbox, callback, secrets.token_urlsafe(16), verifier, **app_options)
    page.click("#oaapprove")
    page.wait_for_selector("#done")
    (params,) = callback.received
    return str(params["code"])


def _token(sandbox: Any, **form: str) -> requests.Response:
    return requests.post(
        f"{sandbox.login_url}/services/oauth2/token",
        data={"client_id": "browser-app", "client_secret": "browser-secret", **form},
        timeout=10,
    )


def test_a_browser_code_with_the_wrong_pkce_verifier_is_refused(
    page: Any, salesforce_sandbox: Any, callback: CallbackServer
) -> None:
    code = _browser_code(page, salesforce_sandbox, callback, secrets.token_urlsafe(48))

    refused = _token(
        salesforce_sandbox,
        grant_type="authorization_code",
        code=code,
        redirect_uri=callback.url,
        code_verifier=secrets.token_urlsafe(48),
    )

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"


def test_a_revoked_refresh_token_from_the_browser_flow_is_invalid_grant(
    page: Any, salesforce_sandbox: Any, callback: CallbackServer
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _browser_code(page, salesforce_sandbox, callback, verifier)
    tokens = _token(
        salesforce_sandbox,
        grant_type="authorization_code",
        code=code,
        redirect_uri=callback.url,
        code_verifier=verifier,
    ).json()

    revoked = requests.post(
        f"{salesforce_sandbox.login_url}/services/oauth2/revoke",
        data={"token": tokens["refresh_token"]},
        timeout=10,
    )
    refreshed = _token(
        salesforce_sandbox, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )

    assert revoked.status_code == 200
    assert refreshed.status_code == 400
    assert refreshed.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }


def test_a_refresh_token_expires_under_the_apps_policy(
    page: Any, salesforce_sandbox: Any, callback: CallbackServer
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _browser_code(
        page,
        salesforce_sandbox,
        callback,
        verifier,
        refresh_token_policy="expire_after",
        refresh_token_ttl_seconds=3600,
    )
    tokens = _token(
        salesforce_sandbox,
        grant_type="authorization_code",
        code=code,
        redirect_uri=callback.url,
        code_verifier=verifier,
    ).json()
    still_valid = _token(
        salesforce_sandbox, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )

    salesforce_sandbox.advance_clock(3601)
    expired = _token(
        salesforce_sandbox, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )

    assert still_valid.status_code == 200
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
