"""Drive the sandbox's login + consent pages over HTTP (no browser) and wire a Site to it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from django.contrib.sessions.backends.db import SessionStore
from wagtail.models import Locale, Page, Site

from wagtail_salesforce.connection import service
from wagtail_salesforce.connection.models import SalesforceConnection

CALLBACK_PATH = "/admin/salesforce/oauth/callback/"


def default_site(hostname: str = "localhost", port: int = 80) -> Site:
    """The default Site at ``hostname:port``, recreated if a transactional test flushed it."""
    Locale.objects.get_or_create(language_code="en")
    root = Page.get_first_root_node() or Page.add_root(title="Root", slug="root")
    site, _created = Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": hostname, "port": port, "root_page": root}
    )
    return site


def authorize_in_sandbox(
    authorize_url: str, username: str, password: str, *, decision: str = "allow"
) -> dict[str, str]:
    """Log in and answer the consent page; return the callback's query parameters."""
    parts = urlsplit(authorize_url)
    params = dict(parse_qsl(parts.query))
    endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
    login = requests.post(
        endpoint,
        data={**params, "sandbox_action": "login", "username": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    login.raise_for_status()
    match = re.search(r'name="ticket" value="([^"]+)"', login.text)
    assert match, "the sandbox did not show its consent page"
    consent = requests.post(
        endpoint,
        data={
            **params,
            "sandbox_action": "consent",
            "ticket": match.group(1),
            "decision": decision,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert consent.status_code == 302, consent.text[:500]
    location = consent.headers["Location"]
    return dict(parse_qsl(urlsplit(location).query))


def configure_site(
    site: Site, sandbox: Any, *, client_id: str, client_secret: str, **app_options: Any
) -> SalesforceConnection:
    """A connected app in the sandbox for ``site``'s callback URL, and the site's settings."""
    sandbox.add_connected_app(
        client_id=client_id,
        client_secret=client_secret,
        callback_urls=[site.root_url + CALLBACK_PATH],
        **app_options,
    )
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=sandbox.login_url, consumer_key=client_id
    )
    connection.consumer_secret = client_secret
    connection.settle_status()
    connection.save()
    return connection


def connect_site(connection: SalesforceConnection, sandbox: Any) -> SalesforceConnection:
    """Run the whole web-server flow for ``connection`` (session, PKCE, consent, exchange)."""
    session = SessionStore()
    authorize_url = service.start_authorization(session, connection)
    reply = authorize_in_sandbox(authorize_url, sandbox.username, sandbox.password)
    pending = service.pop_state(session, reply["state"])
    return service.complete_authorization(connection, code=reply["code"], verifier=pending.verifier)
