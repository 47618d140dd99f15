"""The push switches from sObject Collections to Bulk API 2.0 above ``SYNC_BULK_THRESHOLD``."""

from __future__ import annotations

from typing import Any

from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync.models import Lead, SyncRunStatus

from .conftest import sf_get, sync
from .test_engine import make_local_lead


def api_requests(sandbox: Any, method: str, path_end: str) -> list[dict[str, Any]]:
    return [
        call
        for call in sandbox.calls
        if call["host"] == "api" and call["method"] == method and call["path"].endswith(path_end)
    ]


def make_leads(site: Site, count: int, *, invalid_at: int) -> list[Lead]:
    """``count`` new local leads; the one at ``invalid_at`` has no last name (required)."""
    leads = []
    for number in range(count):
        names = {"first_name": f"First{number}"}
        if number != invalid_at:
            names["last_name"] = f"Last{number}"
        leads.append(make_local_lead(site, f"person{number}@example.com", **names))
    return leads


def test_push_above_the_threshold_goes_through_bulk_and_links_every_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "SYNC_BULK_THRESHOLD": 20}
    leads = make_leads(site, 50, invalid_at=17)
    sandbox.sandbox.clear_calls()

    run = sync(site)

    assert run.status != SyncRunStatus.FAILED, run.errors
    assert (run.created, run.pushed) == (49, 49)
    jobs = api_requests(sandbox, "POST", "/jobs/ingest")
    composites = api_requests(sandbox, "POST", "/composite")
    assert len(jobs) == 1
    # The pull's queries and the look-up by email, both before the job: no collections written.
    assert len(composites) == 2
    assert all(call["time"] <= jobs[0]["time"] for call in composites)
    for number, lead in enumerate(leads):
        lead.refresh_from_db()
        if number == 17:
            assert not lead.sf_id and not lead.needs_push
            assert lead.sync_error.startswith("REQUIRED_FIELD_MISSING: ")
            continue
        assert lead.sf_object == "Lead" and lead.sf_id and not lead.needs_push, number
        record = sf_get(sandbox, "Lead", lead.sf_id)
        assert (record["Email"], record["LastName"]) == (lead.email, f"Last{number}")
    assert [(e["email"], e["code"]) for e in run.errors] == [
        ("person17@example.com", "REQUIRED_FIELD_MISSING")
    ]


def test_a_bulk_job_failed_as_a_whole_leaves_its_leads_for_the_next_cycle(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "SYNC_BULK_THRESHOLD": 20}
    leads = make_leads(site, 30, invalid_at=-1)
    sandbox.faults.add("bulk_job_failed", count=1, method="PATCH", path="/jobs/ingest/")

    failed = sync(site)

    assert failed.pushed == 0 and failed.status == SyncRunStatus.PARTIAL
    assert {e["code"] for e in failed.errors} == {"BULK_JOB_FAILED"}
    waiting = Lead.objects.filter(site=site, needs_push=True, sf_id="")
    assert waiting.count() == 30  # no record was judged: none waits for a local edit
    assert sandbox.org.records("Lead") == []

    retried = sync(site)  # the next cycle, with Salesforce processing jobs again

    assert (retried.created, retried.pushed) == (30, 30), retried.errors
    for lead in leads:
        lead.refresh_from_db()
        assert lead.sf_id and not lead.needs_push and lead.sync_error == ""


def test_push_at_or_below_the_threshold_still_uses_collections(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "SYNC_BULK_THRESHOLD": 20}
    leads = make_leads(site, 20, invalid_at=3)
    sandbox.sandbox.clear_calls()

    run = sync(site)

    assert (run.created, run.pushed) == (19, 19)
    assert api_requests(sandbox, "POST", "/jobs/ingest") == []
    # The pull's queries, the look-up, then the creates as collections.
    assert len(api_requests(sandbox, "POST", "/composite")) == 3
    invalid = Lead.objects.get(pk=leads[3].pk)
    assert invalid.sync_error.startswith("REQUIRED_FIELD_MISSING: ") and not invalid.sf_id
    assert Lead.objects.filter(site=site, sf_id="").count() == 1
