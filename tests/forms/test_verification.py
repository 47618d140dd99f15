"""Verification backends against a local fake siteverify on loopback (never the internet): a
refused or unreachable check holds the submission; the request has each vendor's shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.core.cache import caches
from django.test import Client
from wagtail.models import Site

from tests.outbox.conftest import landing_page
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import HeldReason, OutboxEntry, OutboxState

GOOD_TOKEN = "passed-the-challenge"  # noqa: S105 - a fake widget token


class FakeVerifier(ThreadingHTTPServer):
    requests: list[dict[str, list[str]]]


class Handler(BaseHTTPRequestHandler):
    server: FakeVerifier

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = parse_qs(body)
        self.server.requests.append(form)
        success = form.get("response") == [GOOD_TOKEN] and form.get("secret") == ["s3cret"]
        answer = {"success": success, "error-codes": [] if success else ["invalid-input-response"]}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def verifier() -> Iterator[FakeVerifier]:
    server = FakeVerifier(("127.0.0.1", 0), Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


BACKENDS = {
    "Turnstile": "cf-turnstile-response",
    "ReCaptcha": "g-recaptcha-response",
    "HCaptcha": "h-captcha-response",
}


def use_backend(settings: Any, plugin_settings: dict[str, Any], name: str, url: str) -> None:
    settings.WAGTAIL_SALESFORCE = {
        **plugin_settings,
        "SPAM_VERIFICATION": {
            "BACKEND": f"wagtail_salesforce.forms.verification.{name}",
            "OPTIONS": {"site_key": "site-key", "secret_key": "s3cret", "verify_url": url},
        },
    }
    caches["default"].clear()


FORM = {"email": "human@example.com", "last_name": "Human"}


@pytest.mark.parametrize(("backend", "field"), BACKENDS.items())
def test_a_passed_challenge_is_queued_and_a_failed_one_held(
    site: Site,
    connection: SalesforceConnection,
    settings: Any,
    plugin_settings: dict[str, Any],
    verifier: FakeVerifier,
    backend: str,
    field: str,
) -> None:
    url = f"http://127.0.0.1:{verifier.server_address[1]}/siteverify"
    use_backend(settings, plugin_settings, backend, url)
    page = landing_page(site)
    assert 'data-sitekey="site-key"' in Client().get(page.url).content.decode()

    Client().post(page.url, {**FORM, field: GOOD_TOKEN})
    Client().post(page.url, {**FORM, "email": "bot@example.com", field: "forged"})

    states = list(OutboxEntry.objects.order_by("pk").values_list("state", "held_reason"))
    assert states == [
        (OutboxState.PENDING, ""),
        (OutboxState.HELD, HeldReason.VERIFICATION_FAILED),
    ]
    first = verifier.requests[0]
    assert first["secret"] == ["s3cret"] and first["response"] == [GOOD_TOKEN]
    assert first["remoteip"] == ["127.0.0.1"]
    assert ("sitekey" in first) == (backend == "HCaptcha")


def test_an_unreachable_verifier_holds_rather_than_refuses(
    site: Site, connection: SalesforceConnection, settings: Any, plugin_settings: dict[str, Any]
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    use_backend(settings, plugin_settings, "Turnstile", f"http://127.0.0.1:{port}/siteverify")
    page = landing_page(site)
    response = Client().post(page.url, {**FORM, "cf-turnstile-response": GOOD_TOKEN})
    assert response.status_code == 200
    entry = OutboxEntry.objects.get()
    assert entry.state == OutboxState.HELD
    assert entry.held_reason == HeldReason.VERIFICATION_UNAVAILABLE
