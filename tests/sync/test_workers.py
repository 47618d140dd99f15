"""Two django-q2 clusters (separate OS processes) on PostgreSQL and Redis run sync cycles of the
same site at the same moment: the lease lets one run at a time and no email is created twice.

Needs PostgreSQL (localhost:5432, user postgres, trust auth) and Redis (localhost:6379). Without
them the test is skipped, unless ``REQUIRE_SERVICES=1``, when it fails instead.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import POSTGRES_HOST, POSTGRES_PORT, REDIS_HOST, REDIS_PORT, require_service

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("sync_worker.py")
LEADS = 120
ALREADY_IN_SALESFORCE = 30
TASKS = 8


def _require_services() -> None:
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    require_service("Redis", REDIS_HOST, REDIS_PORT)


@pytest.fixture
def pg_database() -> Iterator[str]:
    _require_services()
    import psycopg

    name = f"wsf_sync_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("host=localhost user=postgres dbname=postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect("host=localhost user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def queue_name() -> Iterator[str]:
    import redis

    name = f"wsf_sync_test_{uuid.uuid4().hex[:10]}"
    yield name
    connection = redis.Redis(host="localhost", port=6379)
    for key in connection.scan_iter(f"*{name}*"):
        connection.delete(key)


def _env(sandbox: Any, database: str, queue: str, config_file: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "example_site")]),
        "DJANGO_SETTINGS_MODULE": "tests.sync.worker_settings",
        "SYNC_TEST_PG_DATABASE": database,
        "SYNC_TEST_QUEUE": queue,
        "SYNC_TEST_WAGTAIL_SALESFORCE": json.dumps(
            {
                "CA_FILE": sandbox.ca_file,
                "CONFIG_FILES": [str(config_file)],
                "TIMEOUT": [5.0, 30.0],
                # Small batches: the cycle renews its lease many times while the other waits.
                "SYNC_BATCH_SIZE": 25,
            }
        ),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def _run(env: dict[str, str], *command: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, *command],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def _start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "django", "qcluster"],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_two_clusters_syncing_at_once_create_no_duplicates(
    sandbox: Any, config_file: Path, pg_database: str, queue_name: str, tmp_path: Path
) -> None:
    env = _env(sandbox, pg_database, queue_name, config_file)
    _run(env, "-m", "django", "migrate", "--noinput", "-v", "0")
    _run(
        env,
        str(WORKER),
        "seed",
        sandbox.login_url,
        sandbox.client_id,
        sandbox.client_secret,
        json.dumps(sandbox.password_token()),
        str(LEADS),
    )
    for number in range(ALREADY_IN_SALESFORCE):  # some emails exist already: look-ups must link
        sandbox.org.create(
            "Contact" if number % 2 else "Lead",
            {"LastName": "Known", "Company": "Acme", "Email": f"Worker{number:04d}@Example.com"}
            if number % 2 == 0
            else {"LastName": "Known", "Email": f"worker{number:04d}@example.com"},
        )
    # Slow writes keep a cycle running while the other cluster's tasks try to start one.
    sandbox.faults.add("latency", latency_ms=150, method="POST", path=r"/composite$")
    _run(env, str(WORKER), "enqueue", str(TASKS))

    log = tmp_path / "qcluster.log"
    clusters = [_start_cluster(env, log), _start_cluster(env, log)]
    try:
        report = json.loads(_run(env, str(WORKER), "wait", str(TASKS), "180"))
    finally:
        for cluster in clusters:
            _stop(cluster)

    assert "timeout" not in report, log.read_text()[-3000:]
    assert report["failed"] == [], report
    results = report["results"]
    ran = [r for r in results if "status" in r]
    skipped = [r for r in results if r.get("skipped") == "locked"]
    assert skipped, f"no two cycles overlapped: {results}"
    assert all(r["status"] == "succeeded" for r in ran), ran
    assert sum(r["created"] for r in ran) == LEADS - ALREADY_IN_SALESFORCE
    assert (report["unlinked"], report["waiting"]) == (0, 0)
    per_email = collections.Counter(
        str(record.get("Email")).lower()
        for sobject in ("Lead", "Contact")
        for record in sandbox.org.records(sobject)
    )
    expected = {f"worker{n:04d}@example.com" for n in range(LEADS)}
    assert {email: per_email[email] for email in expected} == dict.fromkeys(expected, 1)
