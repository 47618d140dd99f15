"""Helper process of the multi-worker sync test (run with tests.sync.worker_settings).

sync_worker.py seed LOGIN_URL CLIENT_ID CLIENT_SECRET TOKEN_JSON LEADS  (a connected site)
sync_worker.py enqueue COUNT        (COUNT cycle tasks on the Redis queue)
sync_worker.py wait COUNT TIMEOUT   (the task results and the leads' state, as JSON)
"""

from __future__ import annotations

import json
import sys
import time

import django


def seed(login_url: str, client_id: str, client_secret: str, token_json: str, leads: str) -> None:
    from tests.connection.oauth_helpers import default_site
    from wagtail_salesforce.connection.models import SalesforceConnection
    from wagtail_salesforce.sync.models import Lead, LeadOrigin

    site = default_site()
    token = json.loads(token_json)
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=login_url, consumer_key=client_id
    )
    connection.consumer_secret = client_secret
    connection.access_token = token["access_token"]
    connection.refresh_token = token.get("refresh_token") or ""
    connection.instance_url = token["instance_url"]
    connection.settle_status()
    connection.save()
    for number in range(int(leads)):
        lead = Lead(site=site, email=f"worker{number:04d}@example.com", source=LeadOrigin.FORM)
        lead.set_local_value("last_name", f"Worker {number}")
        lead.save()
    print(json.dumps({"site": site.pk}))


def enqueue(count: str) -> None:
    from django_q.tasks import async_task
    from wagtail.models import Site

    site = Site.objects.get(is_default_site=True)
    ids = [
        async_task("wagtail_salesforce.sync.tasks.run_sync_cycle", site.pk, group="sync-test")
        for _ in range(int(count))
    ]
    print(json.dumps({"tasks": ids}))


def wait(count: str, timeout: str) -> None:
    from django_q.models import Task

    from wagtail_salesforce.sync.models import Lead

    deadline = time.monotonic() + float(timeout)
    while Task.objects.filter(group="sync-test").count() < int(count):
        if time.monotonic() > deadline:
            print(json.dumps({"timeout": True}))
            return
        time.sleep(0.1)
    tasks = Task.objects.filter(group="sync-test")
    print(
        json.dumps(
            {
                "results": [task.result for task in tasks],
                "failed": [str(task.result) for task in tasks if not task.success],
                "unlinked": Lead.objects.filter(sf_id="").count(),
                "waiting": Lead.objects.filter(needs_push=True).count(),
            }
        )
    )


if __name__ == "__main__":
    django.setup()
    command, *arguments = sys.argv[1:]
    {"seed": seed, "enqueue": enqueue, "wait": wait}[command](*arguments)
