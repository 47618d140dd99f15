"""A cycle that cannot run says why: "Sync now" refuses at once, a cycle records a failed run."""

from __future__ import annotations

from typing import Any

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.connection.problems import connection_problem, explain_status_detail
from wagtail_salesforce.health import site_health
from wagtail_salesforce.sync.models import SyncRun, SyncRunStatus
from wagtail_salesforce.sync.service import run_cycle, sync_blocker

from .conftest import sync


def _needs_reauthorisation(connection: SalesforceConnection) -> str:
    connection.status = ConnectionStatus.NEEDS_REAUTH
    connection.status_detail = "invalid_grant: expired access/refresh token"
    connection.save()
    return explain_status_detail(connection)


def _messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_sync_now_on_a_connection_needing_reauthorisation_says_why_and_queues_nothing(
    admin_client: Client, site: Site, connection: SalesforceConnection
) -> None:
    reason = _needs_reauthorisation(connection)

    response = admin_client.post(
        reverse("wagtail_salesforce:sync_now", args=[site.pk]), follow=True
    )

    # The panel's own sentence, and no cycle ran (tasks run inline in the test settings, so a
    # queued task would have left a run behind).
    assert reason and reason in _messages(response)
    assert "Sync queued" not in " ".join(_messages(response))
    assert not SyncRun.objects.filter(site=site).exists()


def test_sync_now_on_a_site_without_a_connection_says_it_is_not_configured(
    admin_client: Client, site: Site
) -> None:
    response = admin_client.post(
        reverse("wagtail_salesforce:sync_now", args=[site.pk]), follow=True
    )

    assert connection_problem(None) in _messages(response)
    assert not SyncRun.objects.filter(site=site).exists()


def test_a_cycle_that_cannot_reach_salesforce_is_a_failed_run_with_the_reason(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    succeeded = sync(site)
    assert succeeded.status == SyncRunStatus.SUCCEEDED
    reason = _needs_reauthorisation(connection)

    outcome = run_cycle(site)

    assert outcome.run is not None and outcome.run.pk is not None
    failed = SyncRun.objects.get(pk=outcome.run.pk)
    assert failed.status == SyncRunStatus.FAILED
    assert failed.errors == [{"message": reason, "level": "error"}]
    assert failed.finished_at is not None
    # The dashboard reports the failure, not the success before it.
    assert site_health(site).last_sync_status == SyncRunStatus.FAILED


def test_a_paused_site_is_neither_synced_nor_queued(
    admin_client: Client, site: Site, connection: SalesforceConnection
) -> None:
    connection.enabled = False
    connection.save()

    assert sync_blocker(site) == connection_problem(connection)
    outcome = run_cycle(site)

    assert outcome.run is not None
    assert outcome.run.status == SyncRunStatus.FAILED
    assert "paused" in outcome.run.errors[0]["message"]


def test_a_connected_site_has_no_blocker(site: Site, connection: SalesforceConnection) -> None:
    assert sync_blocker(site) is None
