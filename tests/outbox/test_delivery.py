"""Delivery of outbox entries to the sandbox over real HTTPS."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.core.signals import submission_delivered
from wagtail_salesforce.outbox.delivery import claim, deliver_entry, schedule_retry, sweep
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

from .conftest import CONFIG_YAML, leads_with_email, make_entry, reconnect, write_config


def campaign_id(sandbox: Any, name: str = "Autumn Webinar") -> str:
    return next(c["Id"] for c in sandbox.org.records("Campaign") if c["Name"] == name)


def members_of(sandbox: Any, campaign: str) -> list[dict[str, Any]]:
    return [m for m in sandbox.org.records("CampaignMember") if m["CampaignId"] == campaign]


def test_record_type_and_campaign_are_applied(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    entry = make_entry(
        site, "lead-full", email=" Ada@Example.COM ", last_name="Lovelace", message="Hello"
    )

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    entry.refresh_from_db()
    [lead] = leads_with_email(sandbox, "ada@example.com")
    web_inquiry = next(
        rt["Id"] for rt in sandbox.org.records("RecordType") if rt["DeveloperName"] == "Web_Inquiry"
    )
    assert entry.salesforce_id == lead["Id"] and entry.salesforce_object == "Lead"
    assert entry.salesforce_action == "created" and entry.attempts == 1
    assert lead["RecordTypeId"] == web_inquiry
    assert lead["Email"] == "ada@example.com"  # trimmed and lower-cased
    assert lead["Company"] == "(not provided)"  # the mapping's default
    assert lead["Description"] == "Message: Hello" and lead["LeadSource"] == "Web"
    [member] = members_of(sandbox, campaign_id(sandbox))
    assert member["LeadId"] == lead["Id"] and member["Status"] == "Responded"
    assert entry.campaign_member_id == member["Id"]
    assert entry.delivered_at is not None and entry.last_error_code == ""


def test_match_on_updates_the_existing_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    existing = sandbox.org.create(
        "Lead", {"LastName": "Old", "Company": "Old Co", "Email": "grace@example.com"}
    )
    entry = make_entry(site, "lead-match", email="Grace@example.com", last_name="Hopper")

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    entry.refresh_from_db()
    [lead] = leads_with_email(sandbox, "grace@example.com")
    assert lead["Id"] == existing and entry.salesforce_id == existing
    assert entry.salesforce_action == "updated"
    assert lead["LastName"] == "Hopper" and lead["Company"] == "(not provided)"


def test_match_on_follows_a_converted_lead_to_its_contact(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead_id = sandbox.org.create(
        "Lead", {"LastName": "Turing", "Company": "Bletchley", "Email": "alan@example.com"}
    )
    contact_id = sandbox.org.convert_lead(lead_id)["contactId"]
    entry = make_entry(site, "lead-match", email="alan@example.com", last_name="Turing-Updated")

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    entry.refresh_from_db()
    assert (entry.salesforce_object, entry.salesforce_id) == ("Contact", contact_id)
    contact = next(c for c in sandbox.org.records("Contact") if c["Id"] == contact_id)
    assert contact["LastName"] == "Turing-Updated"
    assert len(leads_with_email(sandbox, "alan@example.com")) == 1  # no new lead
    [member] = members_of(sandbox, campaign_id(sandbox))
    assert member["ContactId"] == contact_id and not member.get("LeadId")


def test_external_id_upsert_never_duplicates_on_repeat(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    entry = make_entry(site, "lead-upsert", email="linus@example.com", last_name="Torvalds")
    assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    entry.refresh_from_db()
    first_id = entry.salesforce_id

    # As if the first attempt's result was never recorded: deliver the same entry again.
    OutboxEntry.objects.filter(pk=entry.pk).update(
        state=OutboxState.PENDING, salesforce_id="", salesforce_object=""
    )
    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    entry.refresh_from_db()
    matching = [
        lead
        for lead in sandbox.org.records("Lead")
        if lead.get("Submission_Id__c") == str(entry.idempotency_token)
    ]
    assert [lead["Id"] for lead in matching] == [first_id]
    assert entry.salesforce_id == first_id and entry.salesforce_action == "updated"


def test_already_a_campaign_member_counts_as_success(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead_id = sandbox.org.create(
        "Lead", {"LastName": "Hamilton", "Company": "NASA", "Email": "margaret@example.com"}
    )
    campaign = campaign_id(sandbox)
    member_id = sandbox.org.create(
        "CampaignMember", {"CampaignId": campaign, "LeadId": lead_id, "Status": "Sent"}
    )
    entry = make_entry(site, "lead-match", email="margaret@example.com", last_name="Hamilton")

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    entry.refresh_from_db()
    assert entry.campaign_member_id == member_id
    assert len(members_of(sandbox, campaign)) == 1


def test_validation_error_is_a_dead_letter_until_the_config_is_fixed_and_retried(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Path
) -> None:
    # A mapping that forgets Company, which Salesforce requires on a Lead.
    broken = CONFIG_YAML.replace("      Company: {value: Acme}\n", "", 1)
    assert "lead-upsert" in broken and broken.count("Company") == CONFIG_YAML.count("Company") - 1
    write_config(config_file, broken)
    entry = make_entry(site, "lead-upsert", email="edsger@example.com", last_name="Dijkstra")

    assert deliver_entry(entry.pk) == OutboxState.DEAD
    entry.refresh_from_db()
    assert entry.last_error_code == "REQUIRED_FIELD_MISSING"
    assert "Company" in entry.last_error_message and entry.last_error_fields == ["Company"]
    assert leads_with_email(sandbox, "edsger@example.com") == []
    assert deliver_entry(entry.pk) is None  # a dead letter is not picked up by itself

    write_config(config_file, CONFIG_YAML)
    assert schedule_retry([entry.pk]) == 1
    assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    [lead] = leads_with_email(sandbox, "edsger@example.com")
    assert lead["Company"] == "Acme"


def test_revoked_token_pauses_without_spending_attempts_and_reconnecting_drains(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    entries = [
        make_entry(site, "lead-full", email=f"p{n}@example.com", last_name="P") for n in range(3)
    ]
    sandbox.revoke_all_tokens()

    assert deliver_entry(entries[0].pk) == OutboxState.PAUSED
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_REAUTH
    calls_before = len(sandbox.calls)
    sweep()  # the others pause too; the paused one is not resumed while the connection is broken
    sweep()
    states = {entry.state for entry in OutboxEntry.objects.all()}
    assert states == {OutboxState.PAUSED}
    assert set(OutboxEntry.objects.values_list("attempts", flat=True)) == {0}
    assert len(sandbox.calls) == calls_before  # a broken connection costs no API calls
    paused = OutboxEntry.objects.get(pk=entries[0].pk)
    assert paused.last_error_code == "ReauthorizationRequired"

    reconnect(connection, sandbox)
    result = sweep()

    assert result.resumed == 3 and result.states == {OutboxState.DELIVERED: 3}
    assert all(leads_with_email(sandbox, f"p{n}@example.com") for n in range(3))


def test_api_limit_pauses_delivery_for_a_while(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    entry = make_entry(site, "lead-plain", email="limit@example.com", last_name="L")
    sandbox.faults.add("request_limit_exceeded")

    assert deliver_entry(entry.pk) == OutboxState.PAUSED

    entry.refresh_from_db()
    assert entry.attempts == 0 and entry.last_error_code == "REQUEST_LIMIT_EXCEEDED"
    assert entry.next_attempt_at > timezone.now() + datetime.timedelta(minutes=10)


def test_a_lost_create_answer_is_looked_up_instead_of_creating_again(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    # A first delivery caches the campaign: the next one's first call is its write call.
    warm = make_entry(site, "lead-plain", email="warm@example.com", last_name="Warm")
    assert deliver_entry(warm.pk) == OutboxState.DELIVERED
    entry = make_entry(site, "lead-plain", email="lost@example.com", last_name="Lost")
    sandbox.faults.add("lose_response", count=1, method="POST", path=r"/composite$")

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    assert sandbox.faults.list() == []  # the fault fired (and was used up)
    entry.refresh_from_db()
    [lead] = leads_with_email(sandbox, "lost@example.com")
    assert entry.salesforce_id == lead["Id"] and entry.attempts == 1
    [member] = [m for m in members_of(sandbox, campaign_id(sandbox)) if m["LeadId"] == lead["Id"]]
    assert entry.campaign_member_id == member["Id"]  # re-sent: "already a member" is success


def test_a_worker_that_died_after_sending_the_create_does_not_duplicate(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    # The record exists and create_sent_at is set, but the Id was never recorded.
    entry = make_entry(site, "lead-plain", email="crash@example.com", last_name="Crash")
    sandbox.org.create(
        "Lead", {"LastName": "Crash", "Company": "Acme", "Email": "crash@example.com"}
    )
    OutboxEntry.objects.filter(pk=entry.pk).update(create_sent_at=timezone.now())

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    assert len(leads_with_email(sandbox, "crash@example.com")) == 1


def test_transient_failures_back_off_then_dead_letter_after_the_last_attempt(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "OUTBOX_RETRY_BASE_SECONDS": 60.0,
        "OUTBOX_RETRY_MAX_SECONDS": 600.0,
        "OUTBOX_MAX_ATTEMPTS": 2,
    }
    entry = make_entry(site, "lead-plain", email="busy@example.com", last_name="Busy")
    sandbox.faults.add("http_503", path=r"/sobjects/Lead")

    before = timezone.now()
    assert deliver_entry(entry.pk) == OutboxState.RETRYING
    entry.refresh_from_db()
    assert entry.attempts == 1 and entry.last_error_code in {"SERVER_UNAVAILABLE", "UNKNOWN"}
    assert before <= entry.next_attempt_at <= timezone.now() + datetime.timedelta(seconds=60)
    assert claim(entry.pk, now=before - datetime.timedelta(seconds=1)) is None  # not due yet

    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    assert deliver_entry(entry.pk) == OutboxState.DEAD
    entry.refresh_from_db()
    assert entry.attempts == 2


def test_only_one_worker_can_claim_an_entry(site: Site, connection: SalesforceConnection) -> None:
    entry = make_entry(site, "lead-plain", email="claim@example.com", last_name="C")

    first = claim(entry.pk)
    second = claim(entry.pk)

    assert first and second is None
    assert deliver_entry(entry.pk) is None  # still leased to the first worker


def test_an_unknown_mapping_is_a_dead_letter_naming_it(
    site: Site, connection: SalesforceConnection
) -> None:
    entry = make_entry(site, "no-such-mapping", email="x@example.com")

    assert deliver_entry(entry.pk) == OutboxState.DEAD
    entry.refresh_from_db()
    assert (
        entry.last_error_code == "MAPPING_NOT_FOUND"
        and "no-such-mapping" in entry.last_error_message
    )


def test_a_site_without_a_connection_pauses(site: Site, sandbox: Any) -> None:
    entry = make_entry(site, "lead-plain", email="nc@example.com", last_name="N")

    assert deliver_entry(entry.pk) == OutboxState.PAUSED
    entry.refresh_from_db()
    assert entry.attempts == 0 and entry.last_error_code == "NotConnected"


def test_an_untrusted_certificate_is_retried_not_dropped(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    # Without the sandbox's CA the system trust store rejects its certificate.
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "CA_FILE": None}
    entry = make_entry(site, "lead-plain", email="tls@example.com", last_name="T")

    assert deliver_entry(entry.pk) == OutboxState.RETRYING

    entry.refresh_from_db()
    assert entry.last_error_code == "TLS_VERIFICATION_FAILED" and entry.attempts == 1
    assert leads_with_email(sandbox, "tls@example.com") == []


def test_a_missing_record_type_or_campaign_fails_before_anything_is_written(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Path
) -> None:
    write_config(
        config_file,
        CONFIG_YAML.replace("record_type: Web_Inquiry", "record_type: No_Such_Type").replace(
            "campaign: {name: Autumn Webinar}", "campaign: {name: Winter Gala}"
        ),
    )
    typed = make_entry(site, "lead-full", email="rt@example.com", last_name="R")
    campaigned = make_entry(site, "lead-plain", email="cp@example.com", last_name="C")

    assert deliver_entry(typed.pk) == OutboxState.DEAD
    assert deliver_entry(campaigned.pk) == OutboxState.DEAD

    typed.refresh_from_db()
    campaigned.refresh_from_db()
    assert typed.last_error_code == "RECORD_TYPE_NOT_FOUND"
    assert "No_Such_Type" in typed.last_error_message
    assert campaigned.last_error_code == "CAMPAIGN_NOT_FOUND"
    assert "Winter Gala" in campaigned.last_error_message
    assert leads_with_email(sandbox, "rt@example.com") == []
    assert leads_with_email(sandbox, "cp@example.com") == []


def test_retry_delays_grow_exponentially_with_full_jitter_under_the_cap(settings: Any) -> None:
    from wagtail_salesforce.outbox.attempt import retry_delay

    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "OUTBOX_RETRY_BASE_SECONDS": 10.0,
        "OUTBOX_RETRY_MAX_SECONDS": 60.0,
    }
    first = [retry_delay(1) for _ in range(200)]
    late = [retry_delay(10) for _ in range(200)]

    assert all(0.0 <= delay <= 10.0 for delay in first)
    assert all(0.0 <= delay <= 60.0 for delay in late)
    assert max(late) > 10.0  # later attempts wait longer than the first could
    assert len(set(first)) > 100  # jittered, not a fixed schedule


def test_a_sweep_stops_at_its_limit_and_leaves_the_rest_due(
    site: Site, connection: SalesforceConnection
) -> None:
    for n in range(3):
        make_entry(site, "lead-plain", email=f"s{n}@example.com", last_name="S")

    first = sweep(limit=2)
    second = sweep(limit=2)

    assert first.attempted == 2 and second.attempted == 1
    assert set(OutboxEntry.objects.values_list("state", flat=True)) == {OutboxState.DELIVERED}
    assert OutboxEntry.objects.filter(claim_token="").count() == 3  # every lease released


SYNC_SECTION = """
sync:
  match: [Contact, Lead]
  create_as: Lead
  defaults: {Company: "(not provided)"}
  fields:
    last_name: {Lead: LastName, Contact: LastName, direction: both}
    company: {Lead: Company, direction: both, conflict: salesforce_unless_blank}
"""


def test_a_delivered_submission_upserts_the_local_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Path
) -> None:
    from wagtail_salesforce.sync.models import Lead

    write_config(config_file, CONFIG_YAML + SYNC_SECTION)
    entry = make_entry(site, "lead-full", email=" Grace@Example.COM ", last_name="Hopper",
                       company="Navy")

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    lead = Lead.objects.get(site=site)
    assert lead.email == "grace@example.com"
    assert lead.values["last_name"] == "Hopper" and lead.values["company"] == "Navy"


def test_a_rejected_submission_leaves_no_local_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Path
) -> None:
    from wagtail_salesforce.sync.models import Lead

    write_config(config_file, CONFIG_YAML + SYNC_SECTION)
    entry = make_entry(site, "lead-full", email="not-an-email", last_name="Nobody")

    assert deliver_entry(entry.pk) == OutboxState.DEAD
    assert not Lead.objects.filter(site=site).exists()


def test_delivery_log_lines_carry_the_submissions_correlation_id(
    site: Site, connection: SalesforceConnection, sandbox: Any, caplog: Any
) -> None:
    import logging

    from wagtail_salesforce.observability import CorrelationIdFilter

    caplog.handler.addFilter(CorrelationIdFilter())
    entry = make_entry(site, "lead-full", email="traced@example.com", last_name="Traced")

    with caplog.at_level(logging.INFO, logger="wagtail_salesforce"):
        assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    delivered = [r for r in caplog.records if "delivered to" in r.getMessage()]
    assert len(delivered) == 1
    assert delivered[0].correlation_id == str(entry.idempotency_token)
    assert delivered[0].correlation_fields == {"outbox_entry": entry.pk, "site": site.pk}


def test_delivery_announces_the_delivered_submission(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    heard: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    submission_delivered.connect(listener)
    try:
        entry = make_entry(site, "lead-full", email=" Ada@Example.COM ", last_name="Lovelace")
        assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    finally:
        submission_delivered.disconnect(listener)

    entry.refresh_from_db()
    [announced] = heard
    assert (announced["entry_id"], announced["site_id"]) == (entry.pk, site.pk)
    assert announced["mapping_key"] == "lead-full"
    assert (announced["sobject"], announced["record_id"], announced["action"]) == (
        "Lead",
        entry.salesforce_id,
        "created",
    )
    assert announced["email"] == "ada@example.com"
    assert announced["values"]["LastName"] == "Lovelace"
    assert announced["form_data"]["last_name"] == "Lovelace"


def test_a_failing_listener_is_logged_and_the_entry_stays_delivered(
    site: Site, connection: SalesforceConnection, sandbox: Any, caplog: Any
) -> None:
    import logging

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the listener broke")

    submission_delivered.connect(broken)
    try:
        entry = make_entry(site, "lead-full", email="kept@example.com", last_name="Kept")
        with caplog.at_level(logging.ERROR, logger="wagtail_salesforce.outbox.attempt"):
            assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    finally:
        submission_delivered.disconnect(broken)

    assert OutboxEntry.objects.get(pk=entry.pk).state == OutboxState.DELIVERED
    assert "the listener broke" in caplog.text
    assert len(leads_with_email(sandbox, "kept@example.com")) == 1
