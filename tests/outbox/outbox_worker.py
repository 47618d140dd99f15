"""Helper process of the multi-process outbox test (see test_workers.py).

outbox_worker.py seed LOGIN_URL CLIENT_ID CLIENT_SECRET TOKEN_JSON COUNT
    migrate the shared database, connect the default site with the given token, and store COUNT
    outbox entries as form pages do (each committed with its wake-up request) from WEB_PROCESSES
    stand-in web processes, each queueing its own coalesced drain task
outbox_worker.py drain SECONDS
    run the sweeper until nothing is left to deliver (or the time is up); print the states
"""

from __future__ import annotations

import collections
import json
import sys
import time

# Enough drains for every worker of both clusters to have one in flight when one is killed.
WEB_PROCESSES = 8


def seed(login_url: str, client_id: str, client_secret: str, token_json: str, count: int) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.db import transaction
    from wagtail.models import Page, Site

    from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
    from wagtail_salesforce.outbox.models import OutboxEntry
    from wagtail_salesforce.outbox.wakeups import enqueue_delivery, forget_last_wakeup

    token = json.loads(token_json)
    site, _created = Site.objects.update_or_create(
        is_default_site=True,
        defaults={"hostname": "localhost", "port": 80, "root_page": Page.get_first_root_node()},
    )
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=login_url, consumer_key=client_id
    )
    connection.consumer_secret = client_secret
    connection.access_token = token["access_token"]
    if token.get("refresh_token"):
        connection.refresh_token = token["refresh_token"]
    connection.instance_url = token["instance_url"]
    connection.status = ConnectionStatus.CONNECTED
    connection.save()
    per_process = max(1, count // WEB_PROCESSES)
    for n in range(count):
        if n % per_process == 0:
            forget_last_wakeup()  # the next web process: its first submission queues a drain
        with transaction.atomic():
            entry = OutboxEntry.objects.create_for_submission(
                site_id=site.pk,
                page_id=None,
                submission=None,
                mapping_key="lead-plain",
                form_data={"email": f"worker{n:04d}@example.com", "last_name": f"Worker {n}"},
            )
            enqueue_delivery(entry.pk)
    print(json.dumps({"seeded": count}), flush=True)


def drain(seconds: float) -> None:
    from wagtail_salesforce.outbox.delivery import sweep
    from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

    deadline = time.monotonic() + seconds
    open_states = (OutboxState.PENDING, OutboxState.RETRYING, OutboxState.PAUSED)
    while OutboxEntry.objects.filter(state__in=open_states).exists():
        if time.monotonic() > deadline:
            break
        result = sweep(limit=100)
        if not result.attempted:
            time.sleep(0.2)  # leased by a (dead or busy) worker: wait for the lease to lapse
    states = collections.Counter(OutboxEntry.objects.values_list("state", flat=True))
    print(json.dumps(dict(states)), flush=True)


def main() -> int:
    import django

    django.setup()
    command, *arguments = sys.argv[1:]
    if command == "seed":
        login_url, client_id, client_secret, token_json, count = arguments
        seed(login_url, client_id, client_secret, token_json, int(count))
    elif command == "drain":
        drain(float(arguments[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
