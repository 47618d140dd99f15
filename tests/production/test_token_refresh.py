"""Token refresh across processes on PostgreSQL: the ``select_for_update`` path.

Several OS processes hold the same expired access token and refresh at the same instant. The
row lock lets exactly one ask Salesforce; the others wait on the row, then adopt its token. The
connected app rotates refresh tokens, so a second refresh with the old one would have failed:
the stored refresh token must be the live one afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.services import SiteProcesses, close_streams, database_name, postgres_execute, read_line

pytestmark = pytest.mark.services

REFRESH_WORKER = Path(__file__).resolve().parents[1] / "connection" / "refresh_worker.py"
PROCESSES = 4
CLIENT_ID = "production-refresh"
CLIENT_SECRET = "production-refresh-secret"  # noqa: S105 - the sandbox app's test secret


def _token_requests(sandbox: Any) -> int:
    return sum(
        1
        for call in sandbox.calls
        if call["method"] == "POST" and call["path"] == "/services/oauth2/token"
    )


def test_processes_refreshing_at_once_on_postgresql_share_one_refresh(
    salesforce_sandbox: Any,
    site_processes_factory: Callable[..., SiteProcesses],
    postgres_url: str,
    redis_url: str,
) -> None:
    salesforce_sandbox.add_connected_app(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        callback_urls=["http://localhost/admin/salesforce/oauth/callback/"],
        rotate_refresh_tokens=True,
    )
    site = site_processes_factory(postgres_url, redis_url, salesforce_sandbox.ca_file)

    def run(*arguments: str) -> dict[str, Any]:
        return json.loads(site.python(str(REFRESH_WORKER), *arguments).strip().splitlines()[-1])

    run(
        "seed",
        salesforce_sandbox.login_url,
        salesforce_sandbox.username,
        salesforce_sandbox.password,
        CLIENT_ID,
        CLIENT_SECRET,
    )
    before = run("inspect")
    salesforce_sandbox.expire_access_tokens()

    go_file = Path(site.log_dir) / "go"
    workers = [
        subprocess.Popen(  # noqa: S603 - our interpreter and the connection tests' helper
            [sys.executable, str(REFRESH_WORKER), "refresh", str(go_file)],
            env=site.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 120
        assert [read_line(worker, deadline) for worker in workers] == ["ready"] * PROCESSES
        token_requests_before = _token_requests(salesforce_sandbox)
        go_file.touch()
        results = [json.loads(read_line(worker, deadline)) for worker in workers]
        for worker in workers:
            assert worker.wait(timeout=30) == 0
        token_requests = _token_requests(salesforce_sandbox) - token_requests_before
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            close_streams(worker)

    after = run("inspect", "check-refresh")
    assert token_requests == 1, "more than one process asked Salesforce for a new token"
    assert after["token_version"] == before["token_version"] + 1
    assert after["status"] == "connected"
    assert {result["access_token_sha"] for result in results} == {after["access_token_sha"]}
    assert after["refresh_token_works"]
    # It all happened on PostgreSQL (the row-lock strategy), not on some SQLite file.
    stored = postgres_execute(
        "SELECT token_version, status FROM wagtail_salesforce_salesforceconnection",
        database=database_name(postgres_url),
    )
    assert stored == [(after["token_version"], "connected")]
