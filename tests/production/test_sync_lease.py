"""The sync lease on PostgreSQL: a worker killed (SIGKILL) while holding a connection's lease
blocks others only until the lease expires; then another worker takes it over and the cycle
runs."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.services import SiteProcesses, wait_until

pytestmark = pytest.mark.services

WORKER = str(Path(__file__).with_name("worker.py"))
LEASE_SECONDS = 4.0


def _last_json(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])


def test_a_killed_workers_sync_lease_is_taken_over_after_it_expires(
    salesforce_sandbox: Any,
    site_processes_factory: Callable[..., SiteProcesses],
    postgres_url: str,
    redis_url: str,
) -> None:
    site = site_processes_factory(
        postgres_url,
        redis_url,
        salesforce_sandbox.ca_file,
        settings_module="tests.production.settings",
        extra_env={
            "PRODUCTION_TEST_WAGTAIL_SALESFORCE": json.dumps({"SYNC_LEASE_SECONDS": LEASE_SECONDS})
        },
    )
    token = salesforce_sandbox.password_token()
    site.python(
        WORKER,
        "seed",
        salesforce_sandbox.login_url,
        salesforce_sandbox.client_id,
        salesforce_sandbox.client_secret,
        json.dumps(token),
    )
    salesforce_sandbox.org.create(
        "Lead", {"LastName": "Before", "Company": "Acme", "Email": "before@example.com"}
    )

    holder = site.start("lease-holder", WORKER, "lease-hold")
    wait_until(lambda: '"holder"' in site.log("lease-holder"), 60, "the holder took no lease")
    site.stop(holder, signal.SIGKILL)
    assert holder.returncode == -signal.SIGKILL

    takeover = _last_json(site.python(WORKER, "lease-takeover", "60"))
    assert takeover["at_once"] is False, "the dead worker's lease was ignored before it expired"
    assert takeover["granted"] is True, "the dead worker's lease was never taken over"

    summary = _last_json(site.python(WORKER, "sync"))
    assert summary["status"] == "succeeded", summary
    assert summary["pulled"] >= 1
