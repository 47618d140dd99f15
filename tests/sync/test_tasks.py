"""The lease, the task entry points, the schedule, form upserts and the signals."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from django.dispatch import receiver
from django.utils import timezone
from django_q.models import Schedule
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync import lease
from wagtail_salesforce.sync.leads import upsert_lead_from_form
from wagtail_salesforce.sync.models import Lead, LeadOrigin, SyncLease, SyncRun
from wagtail_salesforce.sync.service import run_cycle
from wagtail_salesforce.sync.signals import post_pull, pre_push
from wagtail_salesforce.sync.tasks import (
    SYNC_SCHEDULE_NAME,
    ensure_sync_schedule,
    run_due_syncs,
    run_sync_cycle,
)

from .conftest import sf_get, sync
from .test_engine import make_local_lead


def test_a_held_lease_blocks_another_worker_until_it_expires(
    connection: SalesforceConnection,
) -> None:
    assert lease.acquire(connection.pk, "worker-a")
    assert not lease.acquire(connection.pk, "worker-b")
    assert lease.acquire(connection.pk, "worker-a")  # renewing your own lease is fine

    SyncLease.objects.filter(connection=connection).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )  # worker-a crashed long ago

    assert lease.acquire(connection.pk, "worker-b")
    lease.release(connection.pk, "worker-a")  # a stale holder cannot release someone else's
    assert not lease.acquire(connection.pk, "worker-a")


def test_cycle_is_skipped_while_another_worker_holds_the_lease(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    assert lease.acquire(connection.pk, "someone-else")
    before = sandbox.api_calls_used()

    outcome = run_cycle(site)

    assert outcome.run is None and outcome.skipped_reason == "locked"
    assert sandbox.api_calls_used() == before
    assert not SyncRun.objects.exists()


def test_a_run_left_running_by_a_dead_worker_is_closed_by_the_next_cycle(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    from wagtail_salesforce.sync.models import SyncRunStatus
    from wagtail_salesforce.sync.service import ABANDONED_RUN_MESSAGE

    # A worker took the lease, recorded its run, and was killed: the lease ran out.
    assert lease.acquire(connection.pk, "killed-worker")
    killed = SyncRun.objects.create(site=site)
    SyncLease.objects.filter(connection=connection).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )

    outcome = run_cycle(site)

    killed.refresh_from_db()
    assert killed.status == SyncRunStatus.FAILED and killed.finished_at is None
    assert killed.errors == [{"message": ABANDONED_RUN_MESSAGE, "level": "error"}]
    assert outcome.run is not None and outcome.run.status == SyncRunStatus.SUCCEEDED


def test_a_running_cycle_of_a_live_worker_is_left_alone(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    from wagtail_salesforce.sync.models import SyncRunStatus

    assert lease.acquire(connection.pk, "live-worker")
    live = SyncRun.objects.create(site=site)

    assert run_cycle(site).skipped_reason == "locked"

    live.refresh_from_db()
    assert live.status == SyncRunStatus.RUNNING


def test_run_sync_cycle_task_returns_a_json_summary(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    make_local_lead(site, "task@example.com", last_name="Task")

    summary = run_sync_cycle(site.pk)

    assert summary["status"] == "succeeded" and summary["created"] == 1
    assert summary["run"] == SyncRun.objects.get().pk
    assert SyncLease.objects.get(connection=connection).holder == ""  # released


def test_run_due_syncs_runs_only_sites_whose_interval_passed(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    first = run_due_syncs()
    assert first[str(site.pk)]["status"] == "succeeded"

    assert run_due_syncs() == {}  # ran a moment ago; the YAML says every 5 minutes

    SyncRun.objects.update(started_at=timezone.now() - datetime.timedelta(minutes=6))
    assert str(site.pk) in run_due_syncs()


def test_schedule_registration_is_idempotent(db: None) -> None:
    ensure_sync_schedule()
    ensure_sync_schedule()

    schedule = Schedule.objects.get(name=SYNC_SCHEDULE_NAME)
    assert schedule.func == "wagtail_salesforce.sync.tasks.run_due_syncs"
    assert Schedule.objects.filter(name=SYNC_SCHEDULE_NAME).count() == 1


def test_form_submission_upserts_the_local_lead_by_normalised_email(site: Site) -> None:
    first = upsert_lead_from_form(
        site,
        {"email": " Form@Example.com", "first_name": "Fay", "last_name": "Form", "company": ""},
        "contact-us",
    )
    second = upsert_lead_from_form(
        site.pk,  # the form mixin knows the site by id
        {"email": "form@example.COM", "first_name": "Faye", "last_name": "Form"},
        "contact-us",
    )

    assert first is not None and second is not None and first.pk == second.pk
    second.refresh_from_db()
    assert second.email == "form@example.com" and second.source == LeadOrigin.FORM
    assert second.values["first_name"] == "Faye"
    assert second.values["company"] == "(not provided)"  # the form mapping's default
    # The form's own delivery creates the Lead in Salesforce; the pull links it later.
    assert not second.needs_push
    assert "first_name" in second.local_modified


def test_form_without_email_or_unknown_mapping_makes_no_lead(site: Site) -> None:
    assert upsert_lead_from_form(site, {"first_name": "Nobody"}, "contact-us") is None
    assert upsert_lead_from_form(site, {"email": "x@example.com"}, "no-such-form") is None
    assert not Lead.objects.exists()


def test_invalid_config_never_breaks_a_form_submission(site: Site, config_file: Path) -> None:
    config_file.write_text("version: 1\nsync: {enabled: maybe}\n", encoding="utf-8")

    assert upsert_lead_from_form(site, {"email": "x@example.com"}, "contact-us") is None
    assert not Lead.objects.exists()


def test_form_lead_is_linked_by_the_pull_after_delivery(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = upsert_lead_from_form(
        site, {"email": "flow@example.com", "first_name": "Flo", "last_name": "W"}, "contact-us"
    )
    assert lead is not None
    # What the outbox delivers for that submission:
    record_id = sandbox.org.create(
        "Lead",
        {
            "Email": "flow@example.com",
            "FirstName": "Flo",
            "LastName": "W",
            "Company": "(not provided)",
            "Title": "Set by sales",
        },
    )

    run = sync(site)

    lead.refresh_from_db()
    assert lead.sf_id == record_id and run.created == 0 and run.conflicts == 0
    assert lead.values["title"] == "Set by sales" and not lead.needs_push
    assert lead.local_modified == {}


def test_pre_push_receivers_can_change_payloads_and_post_pull_sees_leads(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    pulled: list[str] = []

    @receiver(pre_push, weak=False)
    def add_source(sender: Any, records: list[dict[str, Any]], **kwargs: Any) -> None:
        for record in records:
            record["LeadSource"] = "Web"

    @receiver(post_pull, weak=False)
    def remember(sender: Any, leads: list[Lead], **kwargs: Any) -> None:
        pulled.extend(lead.email for lead in leads)

    try:
        lead = make_local_lead(site, "signal@example.com", last_name="Sig")
        sync(site)
        sandbox.org.create("Lead", {"LastName": "P", "Company": "C", "Email": "pull@example.com"})
        sync(site)
    finally:
        pre_push.disconnect(add_source)
        post_pull.disconnect(remember)

    lead.refresh_from_db()
    assert sf_get(sandbox, "Lead", lead.sf_id)["LeadSource"] == "Web"
    assert "pull@example.com" in pulled
