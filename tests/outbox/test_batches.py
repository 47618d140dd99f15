"""Batched delivery: entries delivered together keep every per-entry guarantee (exactly once,
their own dead letters, one record per match value)."""

from __future__ import annotations

import collections
from typing import Any

from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.delivery import claim_due, deliver_batch, deliver_entry, drain
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

from .conftest import leads_with_email, make_entry
from .test_delivery import campaign_id, members_of


def deliver_all_due(limit: int = 200) -> list[str | None]:
    """One batch of everything due (up to ``limit``), delivered together."""
    return deliver_batch(claim_due(limit))


def warm_campaign_cache(site: Site) -> None:
    """Deliver one entry, so the campaign's Id is cached and the next batch makes no look-up
    before its write call (its first POST to /composite is the write)."""
    warm = make_entry(site, "lead-plain", email="warm@example.com", last_name="Warm")
    assert deliver_entry(warm.pk) == OutboxState.DELIVERED


def test_one_bad_entry_in_a_batch_of_200_is_a_dead_letter_alone(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    for n in range(200):
        email = "not-an-email" if n == 117 else f"b{n:03d}@example.com"
        make_entry(site, "lead-full", email=email, last_name=f"Visitor {n}")

    states = deliver_all_due()

    assert collections.Counter(states) == {OutboxState.DELIVERED: 199, OutboxState.DEAD: 1}
    dead = OutboxEntry.objects.get(state=OutboxState.DEAD)
    assert dead.form_data["email"] == "not-an-email"
    assert dead.last_error_code == "INVALID_EMAIL_ADDRESS" and dead.attempts == 1
    assert dead.salesforce_id == "" and dead.campaign_member_id == ""
    delivered = OutboxEntry.objects.filter(state=OutboxState.DELIVERED)
    assert all(len(leads_with_email(sandbox, e.form_data["email"])) == 1 for e in delivered)
    members = {m["LeadId"]: m["Id"] for m in members_of(sandbox, campaign_id(sandbox))}
    assert {e.salesforce_id: e.campaign_member_id for e in delivered} == members
    assert len(members) == 199


def test_a_batch_whose_write_answer_is_lost_is_looked_up_per_entry_without_duplicates(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    warm_campaign_cache(site)
    emails = [f"lost{n:02d}@example.com" for n in range(50)]
    for email in emails:
        make_entry(site, "lead-plain", email=email, last_name="Lost")
    # Two entries with the same values: each must end up with its own record.
    make_entry(site, "lead-plain", email="twin@example.com", last_name="Twin")
    make_entry(site, "lead-plain", email="twin@example.com", last_name="Twin")
    sandbox.faults.add("lose_response", count=1, method="POST", path=r"/composite$")

    states = deliver_all_due()

    assert sandbox.faults.list() == []  # the write call's answer was lost
    assert states == [OutboxState.DELIVERED] * 52
    entries = OutboxEntry.objects.exclude(form_data__email="warm@example.com")
    assert set(entries.values_list("attempts", flat=True)) == {1}
    for email in emails:
        [lead] = leads_with_email(sandbox, email)
        assert entries.get(form_data__email=email).salesforce_id == lead["Id"]
    twins = leads_with_email(sandbox, "twin@example.com")
    assert len(twins) == 2
    assert set(
        entries.filter(form_data__email="twin@example.com").values_list("salesforce_id", flat=True)
    ) == {lead["Id"] for lead in twins}
    members = collections.Counter(m["LeadId"] for m in members_of(sandbox, campaign_id(sandbox)))
    assert all(members[entry.salesforce_id] == 1 for entry in entries)
    assert all(entry.campaign_member_id for entry in entries)


def test_match_on_entries_whose_earlier_creates_landed_update_those_records(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    # As if an earlier batch's write call landed but its answer (and the worker) were lost.
    entries = [
        make_entry(site, "lead-match", email=f"m{n}@example.com", last_name=f"M{n}")
        for n in range(10)
    ]
    landed = {}
    for entry in entries[:5]:
        landed[entry.pk] = sandbox.org.create(
            "Lead",
            {"LastName": "Before", "Company": "(not provided)", "Email": entry.form_data["email"]},
        )
    OutboxEntry.objects.update(create_sent_at=timezone.now())

    assert deliver_all_due() == [OutboxState.DELIVERED] * 10

    for entry in entries:
        entry.refresh_from_db()
        [lead] = leads_with_email(sandbox, entry.form_data["email"])
        assert (
            entry.salesforce_id == lead["Id"] and lead["LastName"] == entry.form_data["last_name"]
        )
        if entry.pk in landed:
            assert lead["Id"] == landed[entry.pk] and entry.salesforce_action == "updated"
        else:
            assert entry.salesforce_action == "created"


def test_the_same_email_twice_in_a_batch_makes_one_record_that_the_later_one_updates(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    first = make_entry(site, "lead-match", email="Twice@example.com", last_name="First")
    second = make_entry(site, "lead-match", email="twice@example.com", last_name="Second")
    other = make_entry(site, "lead-match", email="other@example.com", last_name="Other")

    assert deliver_all_due() == [OutboxState.DELIVERED] * 3

    [lead] = leads_with_email(sandbox, "twice@example.com")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.salesforce_id == second.salesforce_id == lead["Id"]
    assert (first.salesforce_action, second.salesforce_action) == ("created", "updated")
    assert lead["LastName"] == "Second"  # the later submission's values win
    assert len(leads_with_email(sandbox, "other@example.com")) == 1
    [member] = [m for m in members_of(sandbox, campaign_id(sandbox)) if m["LeadId"] == lead["Id"]]
    assert first.campaign_member_id == second.campaign_member_id == member["Id"]
    other.refresh_from_db()
    assert other.state == OutboxState.DELIVERED


def test_a_lone_submission_is_a_batch_of_one_delivered_by_the_drain_at_once(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    entry = make_entry(site, "lead-full", email="lone@example.com", last_name="Lone")

    def sleep(seconds: float) -> None:
        raise AssertionError("a drain with an entry due must not wait")

    result = drain(0.0, sleep=sleep)

    assert result.attempted == 1 and result.states == {OutboxState.DELIVERED: 1}
    entry.refresh_from_db()
    [lead] = leads_with_email(sandbox, "lone@example.com")
    assert entry.salesforce_id == lead["Id"] and entry.campaign_member_id


def test_a_batch_mixing_mappings_delivers_each_with_its_own_rules(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    existing = sandbox.org.create(
        "Lead", {"LastName": "Old", "Company": "Old Co", "Email": "mixed-match@example.com"}
    )
    plain = make_entry(site, "lead-plain", email="mixed-plain@example.com", last_name="P")
    upsert = make_entry(site, "lead-upsert", email="mixed-upsert@example.com", last_name="U")
    match = make_entry(site, "lead-match", email="mixed-match@example.com", last_name="M")
    full = make_entry(site, "lead-full", email="mixed-full@example.com", last_name="F")

    assert deliver_all_due() == [OutboxState.DELIVERED] * 4

    for entry in (plain, upsert, match, full):
        entry.refresh_from_db()
    assert (match.salesforce_id, match.salesforce_action) == (existing, "updated")
    [upserted] = leads_with_email(sandbox, "mixed-upsert@example.com")
    assert upserted["Submission_Id__c"] == str(upsert.idempotency_token)
    assert upsert.campaign_member_id == ""  # lead-upsert has no campaign
    assert plain.salesforce_action == full.salesforce_action == "created"
    assert all(entry.campaign_member_id for entry in (plain, match, full))


def test_a_revoked_connection_pauses_the_whole_batch_without_spending_attempts(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    for n in range(5):
        make_entry(site, "lead-match", email=f"r{n}@example.com", last_name="R")
    sandbox.revoke_all_tokens()

    assert deliver_all_due() == [OutboxState.PAUSED] * 5

    assert set(OutboxEntry.objects.values_list("attempts", flat=True)) == {0}
    assert OutboxEntry.objects.filter(claim_token="").count() == 5
