"""Chaos on the scale-out set-up: PostgreSQL, Redis, two django-q2 clusters, the sandbox as a
separate process injecting faults. Form submissions are delivered and sync cycles run while:

1. both clusters are killed with SIGKILL while a delivery and a sync cycle are in flight, then
   restarted;
2. Redis restarts (its queue is lost: the sweeper must make up for it);
3. PostgreSQL refuses connections for a few seconds (existing sessions terminated);
4. Salesforce (the sandbox process) stops answering for a while (SIGSTOP), submissions keep
   arriving meanwhile.

Afterwards every submission is in Salesforce exactly once, nothing is a dead letter, every local
lead is in Salesforce exactly once, and the sync watermarks agree with what was stored locally.
The outage lasts ~12 s here; ``bench/load_bench.py --sandbox-outage 60`` runs the minute-long one.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.services import (
    RedisServer,
    SiteProcesses,
    database_name,
    postgres_execute,
    wait_until,
)

pytestmark = pytest.mark.services

WORKER = str(Path(__file__).with_name("worker.py"))
FIRST_WAVE = 40
SECOND_WAVE = 20
LOCAL_LEADS = 30
REMOTE_LEADS = 30
SANDBOX_OUTAGE_SECONDS = 12
DATABASE_OUTAGE_SECONDS = 3
API = "/services/data/v62.0"

WAGTAIL_SALESFORCE = {
    "TIMEOUT": [2.0, 3.0],
    "MAX_RETRIES": 0,
    "OUTBOX_RETRY_BASE_SECONDS": 0.5,
    "OUTBOX_RETRY_MAX_SECONDS": 2.0,
    # Longer than an attempt can take (a handful of calls, 5 s each at most), so a lease only
    # lapses when its worker is dead.
    "OUTBOX_LEASE_SECONDS": 25.0,
    "OUTBOX_API_LIMIT_PAUSE_SECONDS": 2.0,
    "SYNC_LEASE_SECONDS": 12.0,
    "SYNC_BATCH_SIZE": 10,
    "SYNC_OVERLAP_SECONDS": 30.0,
}
Q_CLUSTER = {"workers": 2, "timeout": 60, "retry": 90, "poll": 0.2, "max_attempts": 1}


class Salesforce:
    """The sandbox process seen from the test: REST with a token of its own, the control API."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.verify = sandbox.ca_file
        # Or REQUESTS_CA_BUNDLE from the environment would replace our CA (requests issue 3829).
        self.session.trust_env = False
        token = self.session.post(
            f"{sandbox.login_url}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "username": sandbox.username,
                "password": sandbox.password,
            },
            timeout=10,
        )
        token.raise_for_status()
        self.token = token.json()
        self.session.headers["Authorization"] = f"Bearer {self.token['access_token']}"

    def query(self, soql: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        url = f"{self.sandbox.instance_url}{API}/query"
        response = self.session.get(url, params={"q": soql}, timeout=30)
        while True:
            response.raise_for_status()
            page = response.json()
            records.extend(page["records"])
            if page["done"]:
                return records
            response = self.session.get(
                f"{self.sandbox.instance_url}{page['nextRecordsUrl']}", timeout=30
            )

    def create_leads(self, emails: list[str]) -> None:
        response = self.session.post(
            f"{self.sandbox.instance_url}{API}/composite/sobjects",
            json={
                "allOrNone": True,
                "records": [
                    {
                        "attributes": {"type": "Lead"},
                        "LastName": "Remote",
                        "Company": "Globex",
                        "Email": email,
                    }
                    for email in emails
                ],
            },
            timeout=30,
        )
        response.raise_for_status()
        assert all(result["success"] for result in response.json())

    def fault(self, **spec: Any) -> None:
        self.sandbox.control("POST", "faults", spec)

    def clear_faults(self) -> None:
        self.sandbox.control("DELETE", "faults")


class Database:
    """Direct reads of the site's PostgreSQL database (no Django start-up per poll)."""

    def __init__(self, url: str) -> None:
        self.name = database_name(url)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return postgres_execute(sql, database=self.name)

    def outbox(self) -> dict[str, int]:
        return dict(
            self.rows("SELECT state, count(*) FROM wagtail_salesforce_outboxentry GROUP BY state")
        )

    def in_flight(self) -> int:
        return self.rows(
            "SELECT count(*) FROM wagtail_salesforce_outboxentry "
            "WHERE claim_token != '' AND state IN ('pending', 'retrying')"
        )[0][0]

    def running_syncs(self) -> int:
        return self.rows(
            "SELECT count(*) FROM wagtail_salesforce_syncrun WHERE status = 'running'"
        )[0][0]

    def refuse_connections(self, seconds: float) -> None:
        """Refuse new sessions and end the current ones (superusers included), then allow
        connections again. The server itself keeps running."""
        postgres_execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        try:
            terminated = postgres_execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE datname = '{self.name}' AND pid != pg_backend_pid()"
            )
            assert terminated[0][0] >= 1, "no worker was connected to the database"
            time.sleep(seconds)  # the outage itself: its length is the point, nothing to poll
        finally:
            postgres_execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


@pytest.fixture
def chaos_site(
    site_processes_factory: Callable[..., SiteProcesses],
    postgres_url: str,
    private_redis: RedisServer,
    salesforce_sandbox_process: Any,
) -> Iterator[SiteProcesses]:
    site = site_processes_factory(
        postgres_url,
        private_redis.url,
        salesforce_sandbox_process.ca_file,
        settings_module="tests.production.settings",
        extra_env={
            "PRODUCTION_TEST_WAGTAIL_SALESFORCE": json.dumps(WAGTAIL_SALESFORCE),
            "PRODUCTION_TEST_Q_CLUSTER": json.dumps(Q_CLUSTER),
        },
    )
    yield site
    # Never leave the shared sandbox process frozen, whatever happened.
    os.kill(salesforce_sandbox_process.pid, signal.SIGCONT)


def test_submissions_and_sync_survive_killed_clusters_and_outages_exactly_once(
    chaos_site: SiteProcesses,
    postgres_url: str,
    private_redis: RedisServer,
    salesforce_sandbox_process: Any,
) -> None:
    site, sandbox = chaos_site, salesforce_sandbox_process
    salesforce = Salesforce(sandbox)
    database = Database(postgres_url)

    site.manage("migrate", "--noinput", "-v", "0")
    site.python(
        WORKER,
        "seed",
        sandbox.login_url,
        sandbox.client_id,
        sandbox.client_secret,
        json.dumps(salesforce.token),
    )
    site.python(WORKER, "local-leads", str(LOCAL_LEADS))
    salesforce.create_leads([f"remote{n:04d}@example.com" for n in range(REMOTE_LEADS)])
    # Slow writes keep deliveries and cycles in flight; some calls fail the usual ways.
    salesforce.fault(kind="latency", latency_ms=250, method="POST")
    salesforce.fault(kind="http_503", rate=0.05)
    salesforce.fault(kind="lose_response", rate=0.05, method="POST", path=r"/sobjects/Lead/?$")
    salesforce.fault(kind="unable_to_lock_row", rate=0.05, method="POST", path=r"/sobjects/")

    clusters = [site.start_qcluster("cluster-a"), site.start_qcluster("cluster-b")]
    site.start("pump", WORKER, "pump", "1.0")
    site.python(WORKER, "submissions", "0", str(FIRST_WAVE))

    # 1. Kill both clusters while a delivery and a sync cycle are under way.
    wait_until(
        lambda: database.in_flight() and database.running_syncs(),
        90,
        "no delivery and sync cycle in flight together\n" + site.logs_tail(),
        interval=0.05,
    )
    for cluster in clusters:
        site.stop(cluster, signal.SIGKILL)
    killed_at = database.outbox()
    assert killed_at.get("delivered", 0) < FIRST_WAVE, "everything was delivered before the kill"
    clusters = [site.start_qcluster("cluster-a"), site.start_qcluster("cluster-b")]

    # 2. Redis restarts: every queued task is gone.
    private_redis.restart()

    # 3. PostgreSQL refuses connections for a moment.
    database.refuse_connections(DATABASE_OUTAGE_SECONDS)

    # 4. Salesforce stops answering; visitors keep submitting meanwhile.
    os.kill(sandbox.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        site.python(WORKER, "submissions", str(FIRST_WAVE), str(SECOND_WAVE))
        time.sleep(max(0.0, SANDBOX_OUTAGE_SECONDS - (time.monotonic() - started)))
    finally:
        os.kill(sandbox.pid, signal.SIGCONT)
    salesforce.clear_faults()
    recovered_at = time.monotonic()

    total = FIRST_WAVE + SECOND_WAVE
    wait_until(
        lambda: database.outbox() == {"delivered": total},
        150,
        f"the outbox did not drain: {database.outbox()}\n{site.logs_tail()}",
        interval=0.5,
    )
    # A cycle that started after the recovery and ran to the end.
    wait_until(
        lambda: database.rows(
            "SELECT count(*) FROM wagtail_salesforce_syncrun WHERE status = 'succeeded' "
            f"AND started_at > now() - interval '{time.monotonic() - recovered_at + 1} seconds'"
        )[0][0],
        90,
        "no sync cycle succeeded after the outages\n" + site.logs_tail(),
        interval=0.5,
    )
    for cluster in clusters:
        site.stop(cluster, signal.SIGTERM)
    site.stop_all()  # the pump too: nothing writes any more

    # Every submission exactly once in Salesforce, as the outbox says.
    leads = salesforce.query("SELECT Id, Email FROM Lead WHERE Email LIKE 'chaos%'")
    per_email = collections.Counter(lead["Email"] for lead in leads)
    expected = {f"chaos{n:05d}@example.com" for n in range(total)}
    assert set(per_email) == expected, "lost submissions"
    assert [email for email, count in per_email.items() if count > 1] == [], "duplicates"
    delivered_ids = {
        row[0]
        for row in database.rows(
            "SELECT salesforce_id FROM wagtail_salesforce_outboxentry WHERE state = 'delivered'"
        )
    }
    assert delivered_ids == {lead["Id"] for lead in leads}

    # Every local lead pushed exactly once; nothing waits.
    remote = salesforce.query(
        "SELECT Id, Email, SystemModstamp FROM Lead WHERE Email != null"
    ) + salesforce.query("SELECT Id, Email, SystemModstamp FROM Contact WHERE Email != null")
    remote_per_email = collections.Counter(record["Email"].lower() for record in remote)
    local_emails = {f"local{n:04d}@example.com" for n in range(LOCAL_LEADS)}
    assert {email: remote_per_email[email] for email in local_emails} == dict.fromkeys(
        local_emails, 1
    )
    assert database.rows(
        "SELECT count(*) FROM wagtail_salesforce_lead WHERE needs_push OR sf_id = ''"
    ) == [(0,)]

    # Watermarks consistent: never ahead of Salesforce, and every record modified up to the
    # watermark is stored locally, linked to its Salesforce record.
    local_links = dict(database.rows("SELECT email, sf_id FROM wagtail_salesforce_lead"))
    for sobject, watermark in database.rows(
        "SELECT sobject, watermark FROM wagtail_salesforce_syncstate"
    ):
        records = [r for r in remote if r["attributes"]["type"] == sobject]
        if not records:
            continue
        assert watermark is not None, f"{sobject}: records exist but no watermark"
        mark = watermark.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        newest = max(r["SystemModstamp"][:19] for r in records)  # UTC, "+0000" in Salesforce
        assert mark <= newest, f"{sobject}: watermark {mark} is ahead of Salesforce ({newest})"
        covered = [r for r in records if r["SystemModstamp"][:19] <= mark]
        assert covered, f"{sobject}: the watermark covers nothing"
        missing = [r["Email"] for r in covered if local_links.get(r["Email"].lower()) != r["Id"]]
        assert missing == [], f"{sobject}: pulled past these without storing them"
