"""The sync under the API budget: it stretches its interval, then yields (skips cycles) before
the budget while form delivery still delivers, and carries on when calls are free again."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from wagtail.models import Site

from tests.sync.conftest import sync
from tests.sync.test_engine import hide_existing_records_from_pull, make_local_lead
from wagtail_salesforce.client import SYNC, api_priority
from wagtail_salesforce.client.budget import BULK_BREAK_EVEN_RECORDS
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.health import WarningCode, site_health
from wagtail_salesforce.outbox.delivery import deliver_entry
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.engine import Cycle
from wagtail_salesforce.sync.models import Lead, SyncRun, SyncRunStatus
from wagtail_salesforce.sync.service import is_due, run_cycle, sync_blocker, sync_config

LIMIT = 1000  # the default budget (50 %) is 500: the sync slows from 400 and yields from 475


def _org_usage(site: Site, sandbox: Any, used: int) -> None:
    """The org (other integrations included) has used ``used`` calls, as the plugin last read
    it (the read is one more call)."""
    sandbox.set_daily_limit(LIMIT)
    sandbox.set_api_usage(used - 1)
    client_for(site).limits()


def _age_the_usage_reading(connection: SalesforceConnection, minutes: float) -> None:
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        org_api_usage_at=timezone.now() - datetime.timedelta(minutes=minutes)
    )


def _api_calls(sandbox: Any) -> int:
    return sum(1 for call in sandbox.calls if call["host"] == "api" and call["api_calls"])


def test_near_the_budget_the_sync_yields_while_delivery_still_delivers(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    _org_usage(site, sandbox, 480)
    calls_before = _api_calls(sandbox)

    outcome = run_cycle(site)

    assert outcome.run is None and outcome.skipped_reason == "budget"
    assert _api_calls(sandbox) == calls_before
    assert not SyncRun.objects.exists()
    blocker = sync_blocker(site)
    assert blocker is not None and "yielding to form delivery" in blocker
    health = site_health(site)
    assert health.sync_held_back == "yielding"
    assert WarningCode.SYNC_YIELDING in {warning.code for warning in health.warnings}

    entry = OutboxEntry.objects.create(
        site=site,
        mapping_key="contact-us",
        form_data={"email": "yield@example.com", "last_name": "Yield", "first_name": "Y"},
    )
    assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    assert [r["Email"] for r in sandbox.org.records("Lead")].count("yield@example.com") == 1


def test_a_yielding_sync_reads_the_usage_again_and_runs_once_calls_are_free(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    _org_usage(site, sandbox, 480)
    assert run_cycle(site).skipped_reason == "budget"
    sandbox.set_api_usage(10)  # the limit's rolling window freed calls

    assert run_cycle(site).skipped_reason == "budget"  # the reading is still fresh
    _age_the_usage_reading(connection, minutes=11)
    run = sync(site)

    assert run.status == SyncRunStatus.SUCCEEDED, run.errors
    assert sum(1 for call in sandbox.calls if call["path"].endswith("/limits")) == 2
    assert site_health(site).sync_held_back == ""


@pytest.mark.parametrize(("used", "due"), [(100, True), (420, False)])
def test_past_the_slow_share_the_interval_stretches(
    site: Site, connection: SalesforceConnection, sandbox: Any, used: int, due: bool
) -> None:
    run = sync(site)
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    _org_usage(site, sandbox, used)

    # Every 5 minutes as configured; every 20 (4 x 5) while the budget slows the sync.
    assert is_due(site, 5) is due
    assert site_health(site).sync_held_back == ("" if due else "slowed")


def test_the_budget_stopping_a_cycle_part_way_keeps_the_leads_for_later(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    hide_existing_records_from_pull(connection)
    lead = make_local_lead(site, "later@example.com", last_name="Later")
    _org_usage(site, sandbox, 300)
    # The sync may take the usage to 301: the pull's one call, and not the push's look-up.
    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "API_BUDGET_CALLS": 301,
        "API_BUDGET_SYNC_YIELD_PERCENT": 100.0,
    }

    run = sync(site)

    assert run.status == SyncRunStatus.PARTIAL
    assert [e["level"] for e in run.errors] == ["warning"]
    assert "API budget" in run.errors[0]["message"]
    assert run.api_calls == 1
    lead.refresh_from_db()
    assert lead.needs_push and not lead.sf_id

    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "API_BUDGET_CALLS": None}
    again = sync(site)

    assert again.status == SyncRunStatus.SUCCEEDED, again.errors
    lead.refresh_from_db()
    assert lead.sf_id and not lead.needs_push
    assert Lead.objects.filter(site=site).count() == 1


@pytest.mark.parametrize(("used", "bulk"), [(100, False), (420, True)])
def test_past_the_slow_share_a_large_push_prefers_bulk(
    site: Site, connection: SalesforceConnection, sandbox: Any, used: int, bulk: bool
) -> None:
    # More than a Bulk job's break-even, far fewer than SYNC_BULK_THRESHOLD (10,000).
    Lead.objects.bulk_create(
        Lead(
            site=site, email=f"many{n}@example.com", values={"last_name": f"M{n}"}, needs_push=True
        )
        for n in range(BULK_BREAK_EVEN_RECORDS + 1)
    )
    _org_usage(site, sandbox, used)
    run = SyncRun(site=site, dry_run=True)
    cycle = Cycle(
        site, client_for(site), sync_config(), run, connection_id=connection.pk, dry_run=True
    )

    with api_priority(SYNC):
        cycle.push()  # a dry run: looks the leads up, writes nothing

    assert cycle.use_bulk is bulk
    assert run.created == BULK_BREAK_EVEN_RECORDS + 1
