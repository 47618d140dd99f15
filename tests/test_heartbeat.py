"""The cluster heartbeat: written by a real cluster, read by the health panel's cluster warning."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from django_q.signals import post_execute
from wagtail.models import Site

from tests.connection.oauth_helpers import default_site
from tests.services import SiteProcesses, database_name, postgres_execute, wait_until
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.health import WarningCode, site_health
from wagtail_salesforce.heartbeat import ClusterHeartbeat, last_heartbeat
from wagtail_salesforce.sync.models import SyncRun

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "example_site" / "salesforce.yaml"


@pytest.fixture
def connected_site(db: None, settings: Any) -> Site:
    """A site connected a moment ago, with the example YAML's sync every 5 minutes."""
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(EXAMPLE_CONFIG)]}
    site = default_site()
    SalesforceConnection.objects.create(
        site=site,
        enabled=True,
        login_url="https://login.example.com",
        consumer_key="key",
        status=ConnectionStatus.CONNECTED,
    )
    return site


def _beat(age: datetime.timedelta, cluster: str = "site") -> None:
    ClusterHeartbeat.objects.update_or_create(
        cluster=cluster,
        defaults={
            "last_task_at": timezone.now() - age,
            "last_task": "wagtail_salesforce.tasks.sweep_outbox",
        },
    )


def _codes(site: Site) -> set[str]:
    return {warning.code for warning in site_health(site).warnings}


def test_a_new_site_with_a_cluster_at_work_is_not_warned_about_the_cluster(
    connected_site: Site,
) -> None:
    _beat(datetime.timedelta(seconds=40))
    assert not SyncRun.objects.filter(site=connected_site).exists()
    assert _codes(connected_site) == set()


def test_no_heartbeat_at_all_asks_whether_a_cluster_runs(connected_site: Site) -> None:
    [warning] = site_health(connected_site).warnings
    assert warning.code == WarningCode.SYNC_NEVER_RAN
    assert str(warning.message).endswith("is a django-q2 cluster running?")


def test_a_heartbeat_older_than_the_late_threshold_asks_again(connected_site: Site) -> None:
    # Three intervals of 5 minutes: the same threshold as a late sync.
    _beat(datetime.timedelta(minutes=16))
    assert _codes(connected_site) == {WarningCode.SYNC_NEVER_RAN}
    _beat(datetime.timedelta(minutes=1), cluster="other-machine")
    assert _codes(connected_site) == set()


@pytest.mark.django_db
def test_only_the_plugins_tasks_count_as_a_heartbeat() -> None:
    post_execute.send(sender="django_q", task={"func": "mysite.tasks.send_newsletter"})
    assert last_heartbeat() is None
    post_execute.send(sender="django_q", task={"func": "wagtail_salesforce.tasks.sweep_outbox"})
    [beat] = ClusterHeartbeat.objects.all()
    assert beat.cluster == "wagtail_salesforce_tests"
    assert beat.last_task == "wagtail_salesforce.tasks.sweep_outbox"
    assert last_heartbeat() == beat.last_task_at


@pytest.mark.services
def test_a_cluster_on_redis_records_its_heartbeat_where_the_web_tier_reads_it(
    site_processes_factory: Callable[..., SiteProcesses], postgres_url: str, redis_url: str
) -> None:
    site = site_processes_factory(postgres_url, redis_url, ca_file="")
    site.manage("migrate", "--noinput", "-v", "0")
    site.start_qcluster()
    site.manage(
        "shell", "-c",
        "from django_q.tasks import async_task; "
        "async_task('wagtail_salesforce.tasks.sweep_outbox')",
    )
    rows = wait_until(
        lambda: postgres_execute(
            "SELECT cluster, last_task FROM wagtail_salesforce_clusterheartbeat",
            database=database_name(postgres_url),
        ),
        timeout=60,
        message=f"no heartbeat row from the cluster:\n{site.logs_tail()}",
        interval=0.5,
    )
    # The schedules may run first (the sweeper, the sync): any of our tasks is a heartbeat.
    [(cluster, last_task)] = rows
    assert cluster == "wagtail_salesforce_example"
    assert last_task.startswith("wagtail_salesforce.")
