"""Resilience: many submissions delivered while ~30% of API requests fail in every way the
sandbox can fail; once the outbox drains, each submission exists exactly once in Salesforce.
Run with batches of one entry (each its own calls) and of 200 (a whole batch's look-ups and
writes fail or get lost together)."""

from __future__ import annotations

import collections
import os
import time
from typing import Any

import pytest
from django.db.models import Max
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.delivery import sweep
from wagtail_salesforce.outbox.models import DELIVERABLE_STATES, OutboxEntry, OutboxState

from .conftest import make_entry

# The full size by default (about 40 s); OUTBOX_RESILIENCE_N changes it.
SUBMISSIONS = int(os.environ.get("OUTBOX_RESILIENCE_N", "1000"))
FAULT_KINDS = (
    "http_503",
    "drop_connection",
    "lose_response",
    "unable_to_lock_row",
    "expire_session",
)
# Five kinds at 7% each: about 30% of API requests fail.
FAULT_RATE = 0.07
DRAIN_DEADLINE_SECONDS = 60 + SUBMISSIONS * 0.4
MAPPINGS = ("lead-plain", "lead-upsert", "lead-match")


@pytest.mark.parametrize("batch_size", [1, 200])
def test_every_submission_lands_exactly_once_despite_faults(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any, batch_size: int
) -> None:
    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "OUTBOX_MAX_ATTEMPTS": 100,
        "OUTBOX_BATCH_SIZE": batch_size,
    }
    leads_before = sandbox.org.count("Lead")
    emails = [f"visitor{n:04d}@example.com" for n in range(SUBMISSIONS)]
    for n, email in enumerate(emails):
        make_entry(site, MAPPINGS[n % len(MAPPINGS)], email=email, last_name=f"Visitor {n}")
    for kind in FAULT_KINDS:
        sandbox.faults.add(kind, rate=FAULT_RATE, path=r"^/services/data/")

    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    sweeps = 0
    while OutboxEntry.objects.filter(state__in=DELIVERABLE_STATES).exists():
        assert time.monotonic() < deadline, "the outbox did not drain in time"
        sweep(limit=500)
        sweeps += 1
    fired = {fault["kind"]: fault["fired"] for fault in sandbox.faults.list()}
    sandbox.faults.clear()

    states = collections.Counter(OutboxEntry.objects.values_list("state", flat=True))
    assert states == {OutboxState.DELIVERED: SUBMISSIONS}
    assert all(fired[kind] > 0 for kind in FAULT_KINDS), fired
    assert OutboxEntry.objects.aggregate(Max("attempts"))["attempts__max"] > 1

    leads = sandbox.org.records("Lead")
    assert len(leads) == leads_before + SUBMISSIONS
    per_email = collections.Counter(str(lead.get("Email")).lower() for lead in leads)
    assert all(per_email[email] == 1 for email in emails)  # zero lost, zero duplicated
    delivered_ids = set(OutboxEntry.objects.values_list("salesforce_id", flat=True))
    assert delivered_ids == {lead["Id"] for lead in leads if lead["Email"] in set(emails)}

    # Plain and match_on mappings add a campaign member: exactly one per such lead.
    with_campaign = set(
        OutboxEntry.objects.exclude(mapping_key="lead-upsert").values_list(
            "salesforce_id", flat=True
        )
    )
    members = collections.Counter(m["LeadId"] for m in sandbox.org.records("CampaignMember"))
    assert {lead_id: members[lead_id] for lead_id in with_campaign} == dict.fromkeys(
        with_campaign, 1
    )
    # Upserts carry the entry's idempotency token as their external ID.
    tokens = {
        str(token)
        for token in OutboxEntry.objects.filter(mapping_key="lead-upsert").values_list(
            "idempotency_token", flat=True
        )
    }
    assert tokens == {lead.get("Submission_Id__c") for lead in leads} - {None}
