"""A form's consent checkbox, end to end: a visitor ticks it on a page, the submission is
delivered, and the sync's receiver records the consent with the page and the submission's time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.delivery import deliver_entry
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import ConsentEvent, ConsentSource, Lead

from .conftest import landing_page, write_config

CONSENT_CONFIG = """
version: 1
forms:
  signup:
    label: Sign up
    object: Lead
    match_on: Email
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company, default: "(not provided)"}
    consent:
      email: {from: subscribe, meaning: opt_in}
sync:
  match: [Contact, Lead]
  create_as: Lead
  defaults: {Company: "(not provided)"}
  fields:
    last_name: {Lead: LastName, Contact: LastName}
  consent:
    email:
      meaning: opt_out
      Lead: HasOptedOutOfEmail
      Contact: HasOptedOutOfEmail
"""


def signup_page(site: Site) -> Any:
    from home.models import FormField

    page = landing_page(site, "signup")
    FormField.objects.create(
        page=page, sort_order=9, label="Subscribe", field_type="checkbox", required=False
    )
    return page


def submit(page: Any, **data: str) -> OutboxEntry:
    response = Client().post(page.url, {"email": "ada@example.com", "last_name": "L", **data})
    assert response.status_code == 200
    return OutboxEntry.objects.get(submission__form_data__email="ada@example.com")


def test_a_ticked_checkbox_records_consent_with_its_page_and_submission_time(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Path
) -> None:
    write_config(config_file, CONSENT_CONFIG)
    page = signup_page(site)
    entry = submit(page, subscribe="on")

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    lead = Lead.objects.get(site=site, email="ada@example.com")
    event = ConsentEvent.objects.get(lead=lead)
    assert (event.source, event.permitted, event.applied) == (ConsentSource.FORM, True, True)
    assert event.given_at == entry.created_at  # when the visitor sent it, not when delivered
    assert event.page_id == page.pk and event.page_url == page.full_url
    assert lead.consent["email"]["permitted"] is True


def test_an_unticked_checkbox_records_no_consent(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Path
) -> None:
    write_config(config_file, CONSENT_CONFIG)
    entry = submit(signup_page(site))

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    assert Lead.objects.filter(site=site, email="ada@example.com").exists()
    assert not ConsentEvent.objects.exists()
