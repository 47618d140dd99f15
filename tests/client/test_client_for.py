"""``client_for(site)`` on the connection's database-backed credentials."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection as db_connection
from wagtail.models import Site

from tests.connection.oauth_helpers import configure_site, connect_site
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import ApiUsageDaily, SalesforceConnection
from wagtail_salesforce.exceptions import NotConnected

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.usefixtures("trust_sandbox")
def test_clients_of_one_site_share_one_refresh_and_count_every_call(
    salesforce_sandbox: Any, db: None
):
    site = Site.objects.get(is_default_site=True)
    connection = connect_site(
        configure_site(
            site,
            salesforce_sandbox,
            client_id="client-tests",
            client_secret="client-tests-secret",
            rotate_refresh_tokens=True,
        ),
        salesforce_sandbox,
    )
    # Two workers (think: two processes) each hold a client with the same, soon stale, token.
    first, second = client_for(site), client_for(site)
    salesforce_sandbox.expire_access_tokens()

    assert first.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert second.query("SELECT Id FROM Lead")["totalSize"] == 0

    stored = SalesforceConnection.objects.get(pk=connection.pk)
    # The first refreshed; the second adopted the stored token (a second refresh with the
    # rotated-away refresh token would have failed with invalid_grant).
    assert stored.token_version == connection.token_version + 1
    assert stored.status == "connected"
    assert ApiUsageDaily.objects.get(connection=stored).calls == 2
    assert first.api_calls + second.api_calls == 2
    assert stored.org_api_requests_used == salesforce_sandbox.api_calls_used()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("trust_sandbox")
def test_worker_processes_refreshing_at_once_refresh_once(
    salesforce_sandbox: Any, tmp_path: Path, settings: Any
):
    site = Site.objects.get(is_default_site=True)
    connection = connect_site(
        configure_site(
            site,
            salesforce_sandbox,
            client_id="client-processes",
            client_secret="client-processes-secret",
            rotate_refresh_tokens=True,
        ),
        salesforce_sandbox,
    )
    # Hand the workers a file copy of this test database (migrated, with the connection).
    database = tmp_path / "shared.sqlite3"
    db_connection.ensure_connection()
    with sqlite3.connect(database) as copy:
        db_connection.connection.backup(copy)
    start_file = tmp_path / "start"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.client.worker_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "example_site")]),
        "CLIENT_TEST_DATABASE": str(database),
        "CLIENT_TEST_START_FILE": str(start_file),
        "CLIENT_TEST_WAGTAIL_SALESFORCE": json.dumps(settings.WAGTAIL_SALESFORCE),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.client.refresh_worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        # Every worker now holds the same access token; end it, then let them all go at once.
        salesforce_sandbox.expire_access_tokens()
        token_requests_before = len(
            [c for c in salesforce_sandbox.calls if c["path"] == "/services/oauth2/token"]
        )
        start_file.touch()
        outcomes = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    assert [outcome["ok"] for outcome in outcomes] == [True] * len(workers), outcomes
    token_requests = [c for c in salesforce_sandbox.calls if c["path"] == "/services/oauth2/token"]
    assert len(token_requests) - token_requests_before == 1
    with sqlite3.connect(database) as shared:
        (token_version,) = shared.execute(
            "SELECT token_version FROM wagtail_salesforce_salesforceconnection WHERE id = ?",
            (connection.pk,),
        ).fetchone()
        (calls_today,) = shared.execute(
            "SELECT SUM(calls) FROM wagtail_salesforce_apiusagedaily WHERE connection_id = ?",
            (connection.pk,),
        ).fetchone()
    assert token_version == connection.token_version + 1
    assert calls_today == sum(outcome["api_calls"] for outcome in outcomes) == len(workers)


def test_client_for_a_site_without_a_connection_raises_not_connected(db: None):
    with pytest.raises(NotConnected):
        client_for(Site.objects.get(is_default_site=True))
