"""The Leads listing filters by consent; a lead's page shows its consent history and records an
admin's opt-in or opt-out; a segment leaves opted-out people out unless it includes them."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from wagtail_salesforce.sync.models import ConsentEvent, ConsentSource, Lead, LeadOrigin, Segment

CONFIG_YAML = """
version: 1
sync:
  match: [Contact, Lead]
  create_as: Lead
  defaults: {Company: "(not provided)"}
  fields:
    company: {Lead: Company}
  consent:
    email:
      label: Email marketing
      meaning: opt_out
      Lead: HasOptedOutOfEmail
      Contact: HasOptedOutOfEmail
"""


@pytest.fixture
def config_yaml() -> str:
    return CONFIG_YAML


@pytest.fixture(autouse=True)
def _settings(plugin_settings: dict[str, Any]) -> None:
    """The plugin reads CONFIG_YAML."""


def person(site: Site, email: str, permitted: bool | None) -> Lead:
    state = {}
    if permitted is not None:
        when = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC).isoformat()
        state = {"email": {"permitted": permitted, "at": when, "source": "salesforce"}}
    return Lead.objects.create(site=site, email=email, consent=state, source=LeadOrigin.SYNC)


@pytest.fixture
def people(site: Site) -> None:
    person(site, "in@example.com", True)
    person(site, "out@example.com", False)
    person(site, "unknown@example.com", None)


def listed(response: Any) -> list[str]:
    return [lead.email for lead in response.context["object_list"]]


@pytest.mark.parametrize(
    ("state", "emails"),
    [
        ("opted_in", ["in@example.com"]),
        ("opted_out", ["out@example.com"]),
        ("unknown", ["unknown@example.com"]),
        ("", ["in@example.com", "out@example.com", "unknown@example.com"]),
    ],
)
def test_the_leads_listing_filters_by_consent(
    admin_client: Client, people: None, state: str, emails: list[str]
) -> None:
    response = admin_client.get(reverse("wagtail_salesforce:leads"), {"c_email": state})
    assert listed(response) == emails
    assert "Consent: Email marketing" in response.content.decode()  # the drawer's filter
    column = response.context["table"].columns["consent_email"]
    shown = {lead.email: str(column.get_value(lead)) for lead in response.context["object_list"]}
    expected = {"in@example.com": "Opted in", "out@example.com": "Opted out"}
    assert shown == {email: expected.get(email, "Unknown") for email in emails}


def test_a_segment_leaves_out_people_who_opted_out_unless_it_includes_them(
    admin_client: Client, site: Site, people: None
) -> None:
    save = reverse("wagtail_salesforce:segment_save")
    admin_client.post(save, {"name": "Everyone"})
    admin_client.post(save, {"name": "Everyone, opted out too", "include_opted_out": "on"})

    listing = admin_client.get(reverse("wagtail_salesforce:segments"))

    assert sorted((s.name, s.lead_count) for s in listing.context["object_list"]) == [
        ("Everyone", 2),
        ("Everyone, opted out too", 3),
    ]
    segment = Segment.objects.get(name="Everyone")
    export = admin_client.get(reverse("wagtail_salesforce:segment_export", args=[segment.pk]))
    assert b"out@example.com" not in b"".join(export.streaming_content)


def test_an_admin_opt_in_is_recorded_with_its_user_and_shown_in_the_history(
    admin_client: Client, admin_user: Any, site: Site
) -> None:
    lead = person(site, "out@example.com", False)
    url = reverse("wagtail_salesforce:lead_edit", args=[lead.pk])

    response = admin_client.post(url, {"consent_topic": "email", "consent_state": "opted_in"})

    assert response.status_code == 302
    event = ConsentEvent.objects.get(lead=lead)
    assert (event.source, event.permitted, event.applied, event.user) == (
        ConsentSource.ADMIN,
        True,
        True,
        admin_user,
    )
    lead.refresh_from_db()
    assert lead.consent["email"]["permitted"] is True
    page = admin_client.get(url).content.decode()
    assert 'id="lead-consent-history"' in page and "Opted in" in page
