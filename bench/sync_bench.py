"""Benchmark of the customer-data sync; prints ONE JSON object.

For each ``--leads N`` (default 1,000, 10,000 and 100,000), in a fresh child process (so its
peak RSS is its own) against a sandbox running in a SEPARATE process:

* ``api_calls`` / ``wall_s``: N new local leads reach Salesforce (cycle 1: look-up by email in
  Contact and Lead, then create) and the next cycle pulls the N changed records back (cycle 2),
  counted by the sandbox (the org's API usage), as Salesforce counts them.
* ``peak_rss_mb``: the child's peak RSS (``VmHWM``) over both cycles (Django, the SQLite
  database file and the sync; the sandbox process is not included).
* ``naive_api_calls`` / ``naive_wall_s``: the same leads created the way most plugins do it, one
  REST call per record, on a fresh org. For N above ``--naive-sample`` (default 10,000) it runs
  on the first ``--naive-sample`` leads and is scaled linearly (``naive_measured_on`` says so).
* ``idle_cycle_api_calls``: a cycle with nothing changed on either side, once the pull's overlap
  window has passed (the bench sets ``SYNC_OVERLAP_SECONDS`` to 3 so it can wait that long).
* ``merge_cycle_api_calls``: the cycle after ``merges`` pairs of the leads (1%, at least one)
  were merged in Salesforce (each lead's local lead follows the survivor: two become one).
* ``api_calls_per_1000_changed``: the worst run's ``api_calls`` per 1,000 leads.

Goals: idle cycle <= 1 call; <= 5 calls per 1,000 changed leads; 100,000 leads under 300 MB.

Usage: ``python bench/sync_bench.py [--leads N ...] [--naive-sample N]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "example_site")]

OVERLAP_SECONDS = 3.0
SYNC_YAML = """
version: 1
sync:
  enabled: true
  interval_minutes: 5
  match: [Contact, Lead]
  create_as: Lead
  defaults: {Company: "(not provided)"}
  fields:
    first_name: {Lead: FirstName, Contact: FirstName, conflict: newest_wins}
    last_name: {Lead: LastName, Contact: LastName}
    company: {Lead: Company, conflict: salesforce_unless_blank}
    title: {Lead: Title, Contact: Title}
    lead_status: {Lead: Status, direction: from_salesforce}
"""


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("VmHWM not found")


def _email(number: int) -> str:
    return f"bench{number:06d}@example.com"


def child(leads: int, naive_sample: int, info: dict[str, Any]) -> dict[str, Any]:
    """One measured run (in its own process): see the module docstring."""
    workdir = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    config_file = workdir / "salesforce.yaml"
    config_file.write_text(SYNC_YAML, encoding="utf-8")
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

    import django
    from django.conf import settings

    settings.DATABASES["default"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(workdir / "bench.sqlite3"),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }
    settings.WAGTAIL_SALESFORCE = {
        "CA_FILE": info["ca_file"],
        "ALLOWED_LOGIN_HOSTS": ["127.0.0.1"],
        "CONFIG_FILES": [str(config_file)],
        "TIMEOUT": (10.0, 120.0),
        "SYNC_OVERLAP_SECONDS": OVERLAP_SECONDS,
    }
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from wagtail_salesforce.sandbox.server import SandboxProcess
    from wagtail_salesforce.sync.models import Lead, LeadOrigin
    from wagtail_salesforce.sync.service import run_cycle

    sandbox = _control_only(SandboxProcess, info)
    sandbox.control("POST", "reset")
    sandbox.control("POST", "daily_limit", {"max": 50_000_000})
    site = _connected_site(info)

    def used() -> int:
        return int(sandbox.control("GET", "info")["api_calls_used"])

    for start in range(0, leads, 2000):
        Lead.objects.bulk_create(
            Lead(
                site=site,
                email=_email(number),
                values={
                    "first_name": f"First{number}",
                    "last_name": f"Last{number}",
                    "company": f"Company {number % 997}",
                    "title": "Engineer",
                },
                local_modified={"first_name": "2026-01-01T00:00:00+00:00"},
                needs_push=True,
                source=LeadOrigin.IMPORT,
            )
            for number in range(start, min(leads, start + 2000))
        )

    before = used()
    began = time.perf_counter()
    push = run_cycle(site).run
    pushed_calls = used() - before
    pull = run_cycle(site).run
    wall = time.perf_counter() - began
    total_calls = used() - before
    assert push is not None and pull is not None
    if push.created != leads:
        raise RuntimeError(f"expected {leads} creates, got {push.created}: {push.errors[:5]}")
    # Let the overlap window pass twice: the first cycle after it re-reads the window once.
    time.sleep(OVERLAP_SECONDS + 0.5)
    run_cycle(site)
    time.sleep(OVERLAP_SECONDS + 0.5)
    before_idle = used()
    idle = run_cycle(site).run
    idle_calls = used() - before_idle
    assert idle is not None

    # Merges: record 2k+1 merged into record 2k, the way a sales rep cleans duplicates.
    merges = max(1, min(leads // 2, leads // 100))
    linked = dict(Lead.objects.filter(site=site).values_list("email", "sf_id"))
    for number in range(merges):
        survivor, loser = linked[_email(2 * number)], linked[_email(2 * number + 1)]
        sandbox.control("POST", "merge", {"masterRecordId": survivor, "recordToMergeIds": [loser]})
    time.sleep(OVERLAP_SECONDS + 0.5)
    before_merge = used()
    merge_run = run_cycle(site).run
    merge_calls = used() - before_merge
    assert merge_run is not None
    if Lead.objects.filter(site=site).count() != leads - merges:
        raise RuntimeError(f"{merges} merges were not followed: {merge_run.errors[:5]}")
    peak = _peak_rss_mb()

    naive_count = min(leads, naive_sample)
    naive_calls, naive_wall = _naive(info, sandbox, naive_count, used)
    scale = leads / naive_count
    return {
        "leads": leads,
        "api_calls": total_calls,
        "wall_s": round(wall, 2),
        "peak_rss_mb": peak,
        "naive_api_calls": round(naive_calls * scale),
        "naive_wall_s": round(naive_wall * scale, 2),
        "naive_measured_on": naive_count,
        "push_cycle_api_calls": pushed_calls,
        "pullback_cycle_api_calls": total_calls - pushed_calls,
        "idle_cycle_api_calls": idle_calls,
        "merges": merges,
        "merge_cycle_api_calls": merge_calls,
    }


def _control_only(cls: Any, info: dict[str, Any]) -> Any:
    """A SandboxProcess handle for the control API only (the parent owns the process)."""
    handle = cls.__new__(cls)
    handle.login_url = info["login_url"]
    return handle


def _connected_site(info: dict[str, Any]) -> Any:
    from wagtail.models import Locale, Page, Site

    from wagtail_salesforce.connection.models import SalesforceConnection

    Locale.objects.get_or_create(language_code="en")
    root = Page.get_first_root_node()
    site, _created = Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "port": 80, "root_page": root}
    )
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=info["login_url"], consumer_key=info["client_id"]
    )
    _store_token(connection, info)
    return site


def _store_token(connection: Any, info: dict[str, Any]) -> None:
    """A password-grant token on the connection (again after a sandbox reset drops tokens)."""
    import requests

    token = requests.post(
        f"{info['login_url']}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "username": info["username"],
            "password": info["password"],
        },
        timeout=30,
    ).json()
    connection.consumer_secret = info["client_secret"]
    connection.access_token = token["access_token"]
    connection.refresh_token = token.get("refresh_token") or ""
    connection.instance_url = token["instance_url"]
    connection.settle_status()
    connection.save()


def _naive(info: dict[str, Any], sandbox: Any, count: int, used: Any) -> tuple[int, float]:
    """Create ``count`` leads one REST call each, through the same client, on a fresh org."""
    from wagtail.models import Site

    from wagtail_salesforce.connection.credentials import client_for
    from wagtail_salesforce.connection.models import SalesforceConnection

    sandbox.control("POST", "reset")
    sandbox.control("POST", "daily_limit", {"max": 50_000_000})
    site = Site.objects.get(is_default_site=True)
    _store_token(SalesforceConnection.objects.get(site=site), info)
    client = client_for(site)
    before = used()
    began = time.perf_counter()
    for number in range(count):
        client.create(
            "Lead",
            {
                "Email": _email(number),
                "FirstName": f"First{number}",
                "LastName": f"Last{number}",
                "Company": f"Company {number % 997}",
                "Title": "Engineer",
            },
        )
    return used() - before, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--naive-sample", type=int, default=10000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if any(n < 1 for n in arguments.leads) or arguments.naive_sample < 1:
        parser.error("--leads and --naive-sample must be positive")

    if arguments.child is not None:
        info = json.loads(os.environ["SYNC_BENCH_SANDBOX"])
        print(json.dumps(child(arguments.child, arguments.naive_sample, info)))
        return

    from wagtail_salesforce.sandbox.server import launch_sandbox_process

    sandbox = launch_sandbox_process()
    runs: list[dict[str, Any]] = []
    try:
        env = {**os.environ, "SYNC_BENCH_SANDBOX": json.dumps(sandbox.info)}
        for leads in arguments.leads:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(leads),
                    "--naive-sample",
                    str(arguments.naive_sample),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                sys.stderr.write(done.stderr[-5000:])
                raise SystemExit(f"the run with {leads} leads failed")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        sandbox.stop()
    print(
        json.dumps(
            {
                "runs": runs,
                "idle_cycle_api_calls": max(run["idle_cycle_api_calls"] for run in runs),
                "merge_cycle_api_calls": max(run["merge_cycle_api_calls"] for run in runs),
                "api_calls_per_1000_changed": round(
                    max(run["api_calls"] / run["leads"] * 1000 for run in runs), 2
                ),
                "goals": {
                    "idle_cycle_api_calls": "<= 1",
                    "api_calls_per_1000_changed": "<= 5",
                    "peak_rss_mb_100k": "< 300",
                },
                "cpu_count": os.cpu_count(),
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
