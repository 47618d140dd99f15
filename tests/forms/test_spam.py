"""Spam defence before queueing: what it catches is stored and held (never delivered, no API
call); releasing it delivers it."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import Site

from tests.outbox.conftest import landing_page
from wagtail_salesforce import conf
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.forms import spam
from wagtail_salesforce.outbox.delivery import deliver_entry, sweep
from wagtail_salesforce.outbox.models import HeldReason, OutboxEntry, OutboxState

# Where the flood test writes its figures (JSON).
FLOOD_RESULTS = os.environ.get(
    "FLOOD_RESULTS", str(Path(tempfile.gettempdir()) / "wagtail_salesforce_flood.json")
)

FORM = {"email": "visitor@example.com", "last_name": "Visitor", "company": "Acme"}


@pytest.fixture
def defended(settings: Any, plugin_settings: dict[str, Any]) -> None:
    """The shipped defaults (the shared test settings turn them off)."""
    settings.WAGTAIL_SALESFORCE = {
        **plugin_settings,
        "SPAM_MIN_FILL_SECONDS": 3.0,
        "SPAM_RATE_LIMIT": 20,
        "SPAM_DUPLICATE_WINDOW_SECONDS": 600,
    }
    caches["default"].clear()


def started_token(page: Any, seconds_ago: float) -> str:
    return spam.fill_time_token(page.pk, time.time() - seconds_ago)


def post(page: Any, client: Client | None = None, **data: str) -> Any:
    form = {**FORM, spam.FILL_TOKEN_FIELD: started_token(page, 30), **data}
    return (client or Client()).post(page.url, form)


def test_the_held_reasons_are_the_outbox_choices() -> None:
    codes = {v for k, v in vars(spam.HeldReason).items() if k.isupper()}
    assert codes <= set(HeldReason.values)


def test_the_rendered_form_has_an_invisible_honeypot_and_a_signed_start(
    site: Site, connection: SalesforceConnection, defended: None
) -> None:
    page = landing_page(site)
    html = Client().get(page.url).content.decode()
    assert 'aria-hidden="true"' in html and 'tabindex="-1"' in html
    assert 'name="contact_homepage"' in html and 'autocomplete="off"' in html
    assert f'name="{spam.FILL_TOKEN_FIELD}"' in html


def test_an_ordinary_visitor_is_queued(
    site: Site, connection: SalesforceConnection, defended: None
) -> None:
    page = landing_page(site)
    assert post(page).status_code == 200
    assert OutboxEntry.objects.get().state == OutboxState.PENDING


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"contact_homepage": "http://spam.example"}, HeldReason.HONEYPOT),
        ({"salesforce_form_started": "forged"}, HeldReason.TOKEN_INVALID),
    ],
)
def test_a_bot_is_stored_and_held_with_the_reason(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    defended: None,
    data: dict[str, str],
    reason: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    page = landing_page(site)
    calls = len(sandbox.calls)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(page, **data).status_code == 200
    entry = OutboxEntry.objects.get()
    assert entry.state == OutboxState.HELD and entry.held_reason == reason
    assert FormSubmission.objects.count() == 1
    assert "contact_homepage" not in entry.form_data
    assert len(sandbox.calls) == calls


def test_a_form_sent_back_too_fast_is_held(
    site: Site, connection: SalesforceConnection, defended: None
) -> None:
    page = landing_page(site)
    post(page, salesforce_form_started=started_token(page, 0.5))
    assert OutboxEntry.objects.get().held_reason == HeldReason.TOO_FAST


def test_the_same_values_twice_are_delivered_once(
    site: Site, connection: SalesforceConnection, defended: None
) -> None:
    page = landing_page(site)
    post(page)
    post(page)
    states = list(OutboxEntry.objects.order_by("pk").values_list("state", "held_reason"))
    assert states == [(OutboxState.PENDING, ""), (OutboxState.HELD, HeldReason.DUPLICATE)]


def test_a_held_entry_released_is_delivered(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    defended: None,
) -> None:
    page = landing_page(site)
    post(page, contact_homepage="x")
    entry = OutboxEntry.objects.get()
    assert deliver_entry(entry.pk) is None or entry.state == OutboxState.HELD
    entry.refresh_from_db()
    assert entry.state == OutboxState.HELD  # never delivered automatically
    assert OutboxEntry.objects.release_held([entry.pk]) == [entry.pk]
    deliver_entry(entry.pk)
    entry.refresh_from_db()
    assert entry.state == OutboxState.DELIVERED and entry.held_reason == HeldReason.HONEYPOT


def test_the_client_address_follows_x_forwarded_for_only_through_trusted_proxies(
    settings: Any, rf: Any
) -> None:
    request = rf.post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    settings.WAGTAIL_SALESFORCE = {}
    assert spam.client_address(request) == "10.0.0.2"
    settings.WAGTAIL_SALESFORCE = {"TRUSTED_PROXIES": ["10.0.0.0/8"]}
    assert spam.client_address(request) == "203.0.113.9"


def test_a_flood_from_one_client_is_stored_and_mostly_held(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    defended: None,
    settings: Any,
) -> None:
    """200 posts from one client: every one answered and stored, at most the rate limit's
    allowance queued, the rest held, none lost. The figures (and what delivering the queued
    ones cost in API calls) go to FLOOD_RESULTS as JSON and to stdout (``-s``)."""
    allowance = int(settings.WAGTAIL_SALESFORCE["SPAM_RATE_LIMIT"])
    window = float(conf.get("SPAM_RATE_WINDOW_SECONDS"))
    page = landing_page(site)
    client = Client()
    calls = len(sandbox.calls)
    answered = 0
    began = time.monotonic()
    for number in range(200):
        response = post(page, client, email=f"bot{number}@example.com")
        answered += response.status_code == 200
    seconds = time.monotonic() - began
    assert seconds < window  # the whole flood fell inside one rate-limit window
    assert answered == 200
    stored = FormSubmission.objects.count()
    assert stored == 200 == OutboxEntry.objects.count()
    queued_ids = list(
        OutboxEntry.objects.filter(state=OutboxState.PENDING).values_list("pk", flat=True)
    )
    held = OutboxEntry.objects.filter(state=OutboxState.HELD).count()
    assert len(queued_ids) <= allowance and held == stored - len(queued_ids)
    assert len(sandbox.calls) == calls  # no API call during the posts

    used = sandbox.api_calls_used()
    swept = sweep()  # the queued ones go as one batch; the held ones stay held
    delivered = OutboxEntry.objects.filter(state=OutboxState.DELIVERED).count()
    assert swept.states == {OutboxState.DELIVERED: len(queued_ids)}
    assert delivered == len(queued_ids)
    lost = 200 - OutboxEntry.objects.filter(
        state__in=(OutboxState.DELIVERED, OutboxState.HELD)
    ).count()
    assert lost == 0
    figures = {
        "posts": 200,
        "seconds": round(seconds, 2),
        "answered": answered,
        "stored": stored,
        "queued": len(queued_ids),
        "delivered": delivered,
        "held": held,
        "lost": lost,
        "api_calls_for_delivered": sandbox.api_calls_used() - used,
        "api_calls_during_posts": 0,
    }
    Path(FLOOD_RESULTS).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print("flood:", json.dumps(figures))


def test_an_editor_finds_held_spam_with_why_and_delivers_it_anyway(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    defended: None,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    page = landing_page(site)
    post(page, contact_homepage="http://spam.example")
    entry = OutboxEntry.objects.get()
    admin = Client()
    admin.force_login(
        django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    )
    listing = admin.get(reverse("wagtail_salesforce:outbox") + "?state=held").content.decode()
    assert "Held as spam" in listing and "honeypot field was filled in" in listing

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("wagtail_salesforce:outbox_deliver_held"), {"entry": entry.pk}
        )

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.state == OutboxState.DELIVERED


def test_a_proxy_set_up_without_trusted_proxies_is_reported(settings: Any) -> None:
    from wagtail_salesforce.forms.checks import check_trusted_proxies

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.WAGTAIL_SALESFORCE = {}
    assert [m.id for m in check_trusted_proxies()] == ["wagtail_salesforce.W301"]
    settings.WAGTAIL_SALESFORCE = {"TRUSTED_PROXIES": ["10.0.0.0/8", "proxy.local"]}
    assert [m.id for m in check_trusted_proxies()] == ["wagtail_salesforce.E301"]
