"""Consent against the sandbox: an opt-out anywhere beats an older opt-in, and only a newer,
explicit opt-in re-subscribes a person, in both directions; each event keeps its source and time."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce.admin.sync.filters import LeadFilter
from wagtail_salesforce.config import get_config
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.core.signals import submission_delivered
from wagtail_salesforce.sync import consent
from wagtail_salesforce.sync.models import (
    ConsentEvent,
    ConsentNote,
    ConsentSource,
    Lead,
    Segment,
)

from .conftest import SYNC_YAML, sf_get, sync
from .test_merges import merge_in_salesforce

CONSENT_YAML = SYNC_YAML.replace(
    "forms:\n",
    """  consent:
    email:
      label: Email marketing
      meaning: opt_out
      Lead: HasOptedOutOfEmail
      Contact: HasOptedOutOfEmail
      changed_at: {Lead: Email_Consent_Date__c}
forms:
  signup:
    label: Sign up
    object: Lead
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {value: Acme}
    consent:
      email: {from: subscribe, meaning: opt_in}
""",
)

ORG_YAML = """
objects:
  Lead:
    fields:
      Email_Consent_Date__c: {type: datetime}
"""


@pytest.fixture
def config_yaml() -> str:
    return CONSENT_YAML


@pytest.fixture
def salesforce_org() -> str:
    return ORG_YAML


def sf_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def pulled_lead(site: Site, sandbox: Any, email: str = "ada@example.com") -> tuple[Lead, str]:
    record_id = sandbox.org.create("Lead", {"LastName": "Lovelace", "Company": "A", "Email": email})
    sync(site)
    return Lead.objects.get(site=site, email=email), record_id


def admin_consent(lead: Lead, permitted: bool, at: datetime.datetime | None = None) -> None:
    config = get_config().sync
    assert config is not None
    consent.record_local(
        lead, config, "email", permitted=permitted, source=ConsentSource.ADMIN, at=at
    )


def segment_members(site: Site, **filter_options: Any) -> set[str]:
    segment, _created = Segment.objects.update_or_create(
        site=site, name="All", defaults={"filter": filter_options}
    )
    lead_filter = LeadFilter.from_dict(segment.filter, [], get_config().sync)
    return set(lead_filter.members(Lead.objects.filter(site=site)).values_list("email", flat=True))


def test_an_opt_out_in_salesforce_reaches_the_site_and_leaves_segments(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, record_id = pulled_lead(site, sandbox)
    pulled_lead(site, sandbox, "grace@example.com")
    assert consent.state_name(lead, "email") == consent.OPTED_IN
    assert segment_members(site) == {"ada@example.com", "grace@example.com"}

    sandbox.org.update("Lead", record_id, {"HasOptedOutOfEmail": True})
    sync(site)

    lead.refresh_from_db()
    assert consent.state_name(lead, "email") == consent.OPTED_OUT
    event = lead.consent_events.filter(permitted=False).get()
    assert (event.source, event.applied) == (ConsentSource.SALESFORCE, True)
    modified = sf_get(sandbox, "Lead", record_id)["LastModifiedDate"]
    assert event.given_at == consent._parse(modified)  # no consent date: the record's time
    assert event.salesforce_record == f"Lead {record_id}"
    assert segment_members(site) == {"grace@example.com"}
    assert segment_members(site, include_opted_out=True) == {
        "ada@example.com",
        "grace@example.com",
    }


def test_an_opt_out_given_on_the_site_reaches_salesforce(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, record_id = pulled_lead(site, sandbox)
    when = timezone.now()
    admin_consent(lead, permitted=False, at=when)
    assert lead.needs_push

    sync(site)

    record = sf_get(sandbox, "Lead", record_id)
    assert record["HasOptedOutOfEmail"] is True
    assert consent._parse(record["Email_Consent_Date__c"]) == when.replace(microsecond=0)
    lead.refresh_from_db()
    assert not lead.needs_push
    assert [(e.source, e.permitted, e.applied) for e in lead.consent_events.all()] == [
        (ConsentSource.ADMIN, False, True),
        (ConsentSource.SALESFORCE, True, True),
    ]


def test_salesforce_lifting_an_opt_out_without_a_newer_time_never_resubscribes(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, record_id = pulled_lead(site, sandbox)
    admin_consent(lead, permitted=False)
    sync(site)
    # Someone unticks the box in Salesforce, leaving the consent date as it was.
    sandbox.org.update("Lead", record_id, {"HasOptedOutOfEmail": False})

    sync(site)

    lead.refresh_from_db()
    assert consent.state_name(lead, "email") == consent.OPTED_OUT
    ignored = lead.consent_events.filter(applied=False).get()
    assert (ignored.source, ignored.permitted) == (ConsentSource.SALESFORCE, True)
    assert ignored.note == ConsentNote.NOT_NEWER
    # The opt-out is written back: both sides agree again.
    assert sf_get(sandbox, "Lead", record_id)["HasOptedOutOfEmail"] is True


def test_an_older_salesforce_opt_in_never_overrides_a_newer_site_opt_out(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, record_id = pulled_lead(site, sandbox)
    opted_out_at = timezone.now()
    admin_consent(lead, permitted=False, at=opted_out_at)
    sync(site)
    older = opted_out_at - datetime.timedelta(hours=1)
    sandbox.org.update(
        "Lead", record_id, {"HasOptedOutOfEmail": False, "Email_Consent_Date__c": sf_time(older)}
    )

    sync(site)

    lead.refresh_from_db()
    assert consent.state_name(lead, "email") == consent.OPTED_OUT
    assert lead.consent_events.filter(applied=False, given_at=older.replace(microsecond=0)).exists()
    assert sf_get(sandbox, "Lead", record_id)["HasOptedOutOfEmail"] is True


def test_a_newer_dated_opt_in_in_salesforce_resubscribes(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, record_id = pulled_lead(site, sandbox)
    admin_consent(lead, permitted=False, at=timezone.now() - datetime.timedelta(hours=2))
    sync(site)
    newer = timezone.now() - datetime.timedelta(minutes=1)
    sandbox.org.update(
        "Lead", record_id, {"HasOptedOutOfEmail": False, "Email_Consent_Date__c": sf_time(newer)}
    )

    sync(site)

    lead.refresh_from_db()
    assert consent.state_name(lead, "email") == consent.OPTED_IN
    assert sf_get(sandbox, "Lead", record_id)["HasOptedOutOfEmail"] is False


def deliver_form(site: Site, email: str, at: datetime.datetime, **form_data: Any) -> None:
    """Announce a delivered "signup" submission, as the outbox does after delivering it."""
    submission_delivered.send(
        sender=None,
        entry_id=1,
        site_id=site.pk,
        mapping_key="signup",
        form_data={"email": email, "last_name": "Lovelace", **form_data},
        sobject="Lead",
        record_id="",
        action="updated",
        email=email,
        values={},
        page_id=site.root_page_id,
        submitted_at=at,
    )


def test_an_older_form_opt_in_never_overrides_a_newer_salesforce_opt_out(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, record_id = pulled_lead(site, sandbox)
    opted_out_at = timezone.now() - datetime.timedelta(minutes=5)
    sandbox.org.update(
        "Lead",
        record_id,
        {"HasOptedOutOfEmail": True, "Email_Consent_Date__c": sf_time(opted_out_at)},
    )
    sync(site)
    # A form sent before the opt-out, delivered only now (it waited in the outbox).
    deliver_form(site, lead.email, opted_out_at - datetime.timedelta(minutes=1), subscribe=True)

    sync(site)

    lead.refresh_from_db()
    assert consent.state_name(lead, "email") == consent.OPTED_OUT
    late = lead.consent_events.get(source=ConsentSource.FORM)
    assert (late.permitted, late.applied) == (True, False)
    assert sf_get(sandbox, "Lead", record_id)["HasOptedOutOfEmail"] is True


def test_a_newer_form_opt_in_resubscribes_and_reaches_salesforce(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, record_id = pulled_lead(site, sandbox)
    sandbox.org.update("Lead", record_id, {"HasOptedOutOfEmail": True})
    sync(site)
    ticked_at = timezone.now()

    deliver_form(site, lead.email, ticked_at, subscribe=True)
    sync(site)

    lead.refresh_from_db()
    assert consent.state_name(lead, "email") == consent.OPTED_IN
    record = sf_get(sandbox, "Lead", record_id)
    assert record["HasOptedOutOfEmail"] is False
    assert consent._parse(record["Email_Consent_Date__c"]) == ticked_at.replace(microsecond=0)


def test_the_form_checkbox_records_consent_with_page_and_time(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, _record_id = pulled_lead(site, sandbox)
    admin_consent(lead, permitted=False, at=timezone.now() - datetime.timedelta(days=1))
    ticked_at = timezone.now() - datetime.timedelta(seconds=30)

    deliver_form(site, lead.email, ticked_at, subscribe=True)

    event = ConsentEvent.objects.get(lead=lead, source=ConsentSource.FORM)
    assert (event.permitted, event.applied, event.given_at) == (True, True, ticked_at)
    assert event.page_id == site.root_page_id
    assert event.page_url == site.root_page.full_url


def test_an_unticked_form_checkbox_records_nothing(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead, _record_id = pulled_lead(site, sandbox)
    admin_consent(lead, permitted=False)

    deliver_form(site, lead.email, timezone.now(), subscribe=False)

    lead.refresh_from_db()
    assert consent.state_name(lead, "email") == consent.OPTED_OUT
    assert not ConsentEvent.objects.filter(lead=lead, source=ConsentSource.FORM).exists()


@pytest.mark.parametrize(
    ("current", "incoming", "applied"),
    [
        # (permitted, minutes, explicit) of each side
        (None, (True, 0, False), True),
        ((True, 10, True), (False, 5, False), False),  # the opt-in came later
        ((True, 10, False), (False, 5, False), True),  # an implicit opt-in never holds one off
        ((True, 5, True), (False, 10, False), True),
        ((False, 10, True), (True, 20, False), False),  # not explicit
        ((False, 10, True), (True, 5, True), False),  # older
        ((False, 10, True), (True, 20, True), True),
    ],
)
def test_the_rule(current: Any, incoming: Any, applied: bool) -> None:
    start = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)

    def state(spec: Any) -> consent.ConsentState | None:
        if spec is None:
            return None
        permitted, minutes, explicit = spec
        return consent.ConsentState(
            permitted, start + datetime.timedelta(minutes=minutes), "admin", explicit
        )

    incoming_state = state(incoming)
    assert incoming_state is not None
    assert consent.decide(state(current), incoming_state)[0] is applied


def test_an_opt_out_survives_two_local_leads_becoming_one_in_a_merge(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    kept, kept_id = pulled_lead(site, sandbox, "grace@example.com")
    merged, loser_id = pulled_lead(site, sandbox, "grace.hopper@example.org")
    admin_consent(merged, permitted=False)  # she unsubscribed under her other address
    merged.save()
    assert consent.state_name(kept, "email") == consent.OPTED_IN

    merge_in_salesforce(sandbox, kept_id, [loser_id])
    sync(site)

    (lead,) = Lead.objects.filter(site=site)
    assert lead.pk == kept.pk
    assert consent.state_name(lead, "email") == consent.OPTED_OUT
    assert sf_get(sandbox, "Lead", kept_id)["HasOptedOutOfEmail"] is True
    assert segment_members(site) == set()
