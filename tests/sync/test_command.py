"""``manage.py salesforce_sync`` against the sandbox."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.sync import lease
from wagtail_salesforce.sync.models import Lead, SyncRun, SyncState

from .conftest import sf_records
from .test_engine import make_local_lead


def run_command(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("salesforce_sync", *args, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def test_dry_run_reports_without_writing_anywhere(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead = make_local_lead(site, "dry@example.com", last_name="Dry")
    sandbox.org.create("Lead", {"LastName": "Remote", "Company": "C", "Email": "r@example.com"})

    summary = run_command("--dry-run")

    assert summary["dry_run"] and summary["created"] == 2  # one pulled, one to push
    assert [r["Email"] for r in sf_records(sandbox, "Lead")] == ["r@example.com"]
    assert list(Lead.objects.values_list("email", flat=True)) == ["dry@example.com"]
    lead.refresh_from_db()
    assert lead.needs_push and not lead.sf_id
    assert not SyncRun.objects.exists()
    assert not SyncState.objects.exclude(watermark=None).exists()


def test_command_runs_a_cycle_for_the_named_site(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    make_local_lead(site, "cmd@example.com", last_name="Cmd")

    summary = run_command("--site", site.hostname)

    assert (summary["status"], summary["created"]) == ("succeeded", 1)
    assert SyncRun.objects.get().pk == summary["run"]
    full = run_command("--full")
    assert full["full"] and (full["created"], full["pushed"]) == (0, 0)
    # The full read brought back what Salesforce defaulted on create.
    assert Lead.objects.get().values["lead_status"] == "Open - Not Contacted"


def test_command_explains_an_unknown_site(db: None) -> None:
    with pytest.raises(CommandError, match="No Wagtail site has hostname nowhere.example"):
        call_command("salesforce_sync", "--site", "nowhere.example")


def test_command_exits_3_while_another_worker_holds_the_lease(
    site: Site, connection: SalesforceConnection
) -> None:
    assert lease.acquire(connection.pk, "other-worker")
    with pytest.raises(CommandError) as raised:
        call_command("salesforce_sync")
    assert raised.value.returncode == 3


def test_command_exits_2_for_a_site_that_is_not_connected(site: Site) -> None:
    with pytest.raises(CommandError) as raised:
        call_command("salesforce_sync")
    assert raised.value.returncode == 2
