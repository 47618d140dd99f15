"""Helper process of the production tests: one Django process on the example site's settings
(``DATABASE_URL``/``REDIS_URL`` pick PostgreSQL and Redis). Prints one JSON line per result.

    worker.py schedules GO_FILE
        print "ready", wait for GO_FILE, then register the schedules (as every node does at start)
    worker.py seed LOGIN_URL CLIENT_ID CLIENT_SECRET TOKEN_JSON
        migrate and connect the default site with the given token
    worker.py submissions FIRST COUNT
        store COUNT outbox entries (emails chaos{n}@example.com) and queue their delivery
    worker.py lease-hold
        take the sync lease of the default site's connection, print it, then hang (to be killed)
    worker.py lease-takeover SECONDS
        try to take the lease at once, then until it is granted (at most SECONDS); print both
    worker.py sync
        run one sync cycle of the default site; print its summary
    worker.py local-leads COUNT
        store COUNT local leads (emails local{n}@example.com) waiting to be pushed by the sync
    worker.py pump SECONDS
        every SECONDS, queue the outbox sweeper and a sync cycle of the default site (the
        schedules, run faster than once a minute)
    worker.py state
        print the outbox states, the sync runs and the watermarks
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path
from typing import Any


def _print(value: Any) -> None:
    print(json.dumps(value, default=str), flush=True)


def _wait_for(go_file: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the go signal never came")
        time.sleep(0.002)


def schedules(go_file: str) -> None:
    from django.db import connection
    from django_q.models import Schedule

    from wagtail_salesforce.sync.tasks import ensure_sync_schedule
    from wagtail_salesforce.tasks import ensure_schedules

    connection.ensure_connection()  # connect before the barrier: start the race together
    Schedule.objects.exists()
    print("ready", flush=True)
    _wait_for(Path(go_file))
    ensure_schedules()
    ensure_sync_schedule()
    _print({"registered": True})


def seed(login_url: str, client_id: str, client_secret: str, token_json: str) -> None:
    from django.core.management import call_command
    from wagtail.models import Page, Site

    from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

    call_command("migrate", verbosity=0, interactive=False)
    token = json.loads(token_json)
    site, _created = Site.objects.update_or_create(
        is_default_site=True,
        defaults={"hostname": "localhost", "port": 80, "root_page": Page.get_first_root_node()},
    )
    connection = SalesforceConnection.objects.filter(site=site).first() or SalesforceConnection(
        site=site
    )
    connection.enabled = True
    connection.login_url = login_url
    connection.consumer_key = client_id
    connection.consumer_secret = client_secret
    connection.access_token = token["access_token"]
    connection.refresh_token = token.get("refresh_token") or ""
    connection.instance_url = token["instance_url"]
    connection.status = ConnectionStatus.CONNECTED
    connection.save()
    _print({"site": site.pk, "connection": connection.pk})


def submissions(first: int, count: int) -> None:
    from django.db import transaction
    from wagtail.models import Site

    from wagtail_salesforce.outbox.models import OutboxEntry
    from wagtail_salesforce.outbox.wakeups import enqueue_delivery

    site = Site.objects.get(is_default_site=True)
    for number in range(first, first + count):
        with transaction.atomic():  # the entry and its queued delivery, as a form page does
            entry = OutboxEntry.objects.create_for_submission(
                site_id=site.pk,
                page_id=None,
                submission=None,
                mapping_key="landing-lead",
                form_data={
                    "email": f"chaos{number:05d}@example.com",
                    "first_name": "Chaos",
                    "last_name": f"Visitor {number}",
                    "company": "Acme",
                    "message": "",
                },
            )
            enqueue_delivery(entry.pk)
    _print({"stored": count})


def _connection_id() -> int:
    from wagtail_salesforce.connection.models import SalesforceConnection

    return SalesforceConnection.objects.get(site__is_default_site=True).pk


def lease_hold() -> None:
    from wagtail_salesforce.sync import lease

    holder = lease.new_holder_id()
    if not lease.acquire(_connection_id(), holder):
        raise SystemExit("the lease was not free")
    _print({"holder": holder})
    while True:  # a worker stuck mid-cycle: only SIGKILL ends it
        time.sleep(1)


def lease_takeover(seconds: float) -> None:
    from wagtail_salesforce.sync import lease

    connection_id = _connection_id()
    holder = lease.new_holder_id()
    started = time.monotonic()
    at_once = lease.acquire(connection_id, holder)
    granted = at_once
    while not granted and time.monotonic() - started < seconds:
        time.sleep(0.1)
        granted = lease.acquire(connection_id, holder)
    if granted:
        lease.release(connection_id, holder)
    _print({"at_once": at_once, "granted": granted, "waited": time.monotonic() - started})


def sync() -> None:
    from wagtail.models import Site

    from wagtail_salesforce.sync.tasks import run_sync_cycle

    _print(run_sync_cycle(Site.objects.get(is_default_site=True).pk))


def local_leads(count: int) -> None:
    from wagtail.models import Site

    from wagtail_salesforce.sync.models import Lead, LeadOrigin

    site = Site.objects.get(is_default_site=True)
    for number in range(count):
        Lead.objects.create(
            site=site,
            email=f"local{number:04d}@example.com",
            values={"first_name": "Local", "last_name": f"Lead {number}", "company": "Acme"},
            source=LeadOrigin.ADMIN,
            needs_push=True,
        )
    _print({"local_leads": count})


def pump(interval: float) -> None:
    from django.db import close_old_connections
    from django_q.tasks import async_task
    from wagtail.models import Site

    from wagtail_salesforce.sync.tasks import RUN_SYNC_CYCLE_TASK
    from wagtail_salesforce.tasks import SWEEP_TASK

    site_id = Site.objects.get(is_default_site=True).pk
    while True:  # stopped by the test (SIGTERM); errors while Redis restarts are expected
        close_old_connections()
        for task, arguments in ((SWEEP_TASK, ()), (RUN_SYNC_CYCLE_TASK, (site_id,))):
            try:
                async_task(task, *arguments)
            except Exception as error:  # noqa: BLE001 - keep pumping through outages
                print(f"could not queue {task}: {error}", file=sys.stderr, flush=True)
        time.sleep(interval)


def state() -> None:
    from wagtail_salesforce.outbox.models import OutboxEntry
    from wagtail_salesforce.sync.models import SyncLease, SyncRun, SyncState

    outbox = collections.Counter(OutboxEntry.objects.values_list("state", flat=True))
    in_flight = OutboxEntry.objects.exclude(claim_token="").filter(
        state__in=["pending", "retrying"]
    )
    _print(
        {
            "outbox": dict(outbox),
            "in_flight": in_flight.count(),
            "runs": list(SyncRun.objects.values("pk", "status", "created", "pulled", "errors")),
            "watermarks": {s.sobject: s.watermark for s in SyncState.objects.all()},
            "leases": list(SyncLease.objects.values("holder", "expires_at")),
        }
    )


COMMANDS = {
    "schedules": (schedules, [str]),
    "seed": (seed, [str, str, str, str]),
    "submissions": (submissions, [int, int]),
    "lease-hold": (lease_hold, []),
    "lease-takeover": (lease_takeover, [float]),
    "sync": (sync, []),
    "local-leads": (local_leads, [int]),
    "pump": (pump, [float]),
    "state": (state, []),
}


def main() -> int:
    import django

    django.setup()
    name, *arguments = sys.argv[1:]
    function, types = COMMANDS[name]
    if len(arguments) != len(types):
        raise SystemExit(f"{name} takes {len(types)} arguments, got {len(arguments)}")
    function(*(kind(value) for kind, value in zip(types, arguments, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
