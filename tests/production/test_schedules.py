"""Every node registers the schedules when it starts; however many start at once (on PostgreSQL),
each schedule exists exactly once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.services import SiteProcesses, close_streams, database_name, postgres_execute, read_line

pytestmark = pytest.mark.services

WORKER = Path(__file__).with_name("worker.py")
NODES = 6


def test_nodes_starting_at_once_register_each_schedule_once(
    site_processes_factory: Callable[..., SiteProcesses],
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    site = site_processes_factory(postgres_url, redis_url, ca_file="")
    site.manage("migrate", "--noinput", "-v", "0")
    go_file = tmp_path / "go"
    nodes = [
        subprocess.Popen(  # noqa: S603 - our interpreter and helper script
            [sys.executable, str(WORKER), "schedules", str(go_file)],
            env=site.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(NODES)
    ]
    try:
        deadline = time.monotonic() + 120
        assert [read_line(node, deadline) for node in nodes] == ["ready"] * NODES
        go_file.touch()
        for node in nodes:
            assert read_line(node, deadline) == '{"registered": true}'
            assert node.wait(timeout=30) == 0
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
            close_streams(node)

    rows = postgres_execute(
        "SELECT name, func, count(*) FROM django_q_schedule GROUP BY name, func ORDER BY name",
        database=database_name(postgres_url),
    )
    assert rows == [
        # Every schedule the plugin registers, once: the outbox retention, the forms' describe
        # refresh, the outbox sweeper and the sync.
        (
            "wagtail_salesforce.clear_outbox_payloads",
            "wagtail_salesforce.tasks.clear_outbox_payloads",
            1,
        ),
        ("wagtail_salesforce.refresh_describes", "wagtail_salesforce.tasks.refresh_describes", 1),
        ("wagtail_salesforce.sweep_outbox", "wagtail_salesforce.tasks.sweep_outbox", 1),
        ("wagtail_salesforce.sync", "wagtail_salesforce.sync.tasks.run_due_syncs", 1),
    ]
