"""Real django-q2 clusters deliver the outbox; one is killed with SIGKILL mid-delivery and
restarted, and every submission still lands in Salesforce exactly once.

Two set-ups: the embedded default (one cluster, SQLite file, ORM broker), and the scale-out one
(two clusters at once on PostgreSQL and Redis, where the sweeper claims rows with
``select_for_update(skip_locked=True)``). The second needs PostgreSQL (localhost:5432, user
postgres, trust auth) and Redis (localhost:6379); without them it is skipped, unless
``REQUIRE_SERVICES=1``, when it fails instead.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services import POSTGRES_HOST, POSTGRES_PORT, REDIS_HOST, REDIS_PORT, require_service

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("outbox_worker.py")
SUBMISSIONS = 40
STATES_SQL = (
    "SELECT state, claim_token != '' AS claimed, count(*) "
    "FROM wagtail_salesforce_outboxentry GROUP BY state, claimed"
)


@dataclass
class Backend:
    env: dict[str, str]
    clusters: int
    rows: Callable[[], list[tuple[str, bool, int]]]


def _require_services() -> None:
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    require_service("Redis", REDIS_HOST, REDIS_PORT)


def _base_env(sandbox: Any, config_file: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "example_site")]),
        "DJANGO_SETTINGS_MODULE": "tests.outbox.worker_settings",
        "OUTBOX_TEST_WAGTAIL_SALESFORCE": json.dumps(
            {
                "CA_FILE": sandbox.ca_file,
                "CONFIG_FILES": [str(config_file)],
                "TIMEOUT": [2.0, 5.0],
                "MAX_RETRIES": 0,
                "OUTBOX_RETRY_BASE_SECONDS": 0.0,
                "OUTBOX_RETRY_MAX_SECONDS": 0.0,
                # A dead worker's entries are free for others after this long.
                "OUTBOX_LEASE_SECONDS": 3.0,
            }
        ),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


@pytest.fixture(params=["sqlite-orm", "postgres-redis"])
def backend(
    request: pytest.FixtureRequest, sandbox: Any, config_file: Path, tmp_path: Path
) -> Iterator[Backend]:
    env = _base_env(sandbox, config_file)
    if request.param == "sqlite-orm":
        database = tmp_path / "outbox.sqlite3"
        env["OUTBOX_TEST_DATABASE"] = str(database)

        def sqlite_rows() -> list[tuple[str, bool, int]]:
            with sqlite3.connect(database, timeout=30) as db:
                return db.execute(STATES_SQL).fetchall()

        yield Backend(env, clusters=1, rows=sqlite_rows)
        return

    _require_services()
    import psycopg
    import redis

    name = f"wsf_outbox_{uuid.uuid4().hex[:10]}"
    admin_dsn = "host=localhost user=postgres dbname=postgres"
    with psycopg.connect(admin_dsn, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    env["OUTBOX_TEST_PG_DATABASE"] = name
    env["OUTBOX_TEST_QUEUE"] = name

    def pg_rows() -> list[tuple[str, bool, int]]:
        with psycopg.connect(f"host=localhost user=postgres dbname={name}") as db:
            return list(db.execute(STATES_SQL).fetchall())

    try:
        yield Backend(env, clusters=2, rows=pg_rows)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        queue = redis.Redis(host="localhost", port=6379)
        for key in queue.scan_iter(f"*{name}*"):
            queue.delete(key)


def _run(env: dict[str, str], *arguments: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(WORKER), *arguments],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "django", "qcluster"],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we can kill the whole cluster
        )


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def _states(backend: Backend) -> dict[str, int]:
    states: dict[str, int] = collections.Counter()
    for state, claimed, count in backend.rows():
        states[state] += count
        if claimed and state in ("pending", "retrying"):
            states["in_flight"] += count
    return states


def test_a_cluster_killed_mid_delivery_and_restarted_delivers_each_submission_once(
    backend: Backend, sandbox: Any, tmp_path: Path
) -> None:
    token = sandbox.password_token()
    _run(
        backend.env,
        "seed",
        sandbox.login_url,
        sandbox.client_id,
        sandbox.client_secret,
        json.dumps(token),
        str(SUBMISSIONS),
    )
    # Slow creates keep workers inside a delivery most of the time.
    sandbox.faults.add("latency", latency_ms=400, method="POST", path=r"/sobjects/Lead/?$")
    log = tmp_path / "qcluster.log"

    clusters = [_start_cluster(backend.env, log) for _ in range(backend.clusters)]
    victim, survivors = clusters[0], clusters[1:]
    try:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            assert victim.poll() is None, log.read_text()[-3000:]
            states = _states(backend)
            if states["delivered"] >= 5 and states["in_flight"]:
                break
            time.sleep(0.05)
        _stop(victim, signal.SIGKILL)
        at_kill = _states(backend)
        assert at_kill["delivered"] < SUBMISSIONS and at_kill["in_flight"] >= 1

        sandbox.faults.clear()
        survivors.append(_start_cluster(backend.env, log))  # the restart
        final = json.loads(_run(backend.env, "drain", "120"))
    finally:
        _stop(victim, signal.SIGKILL)
        for cluster in survivors:
            _stop(cluster, signal.SIGTERM)

    assert final == {"delivered": SUBMISSIONS}
    per_email = collections.Counter(str(lead.get("Email")) for lead in sandbox.org.records("Lead"))
    expected = {f"worker{n:04d}@example.com" for n in range(SUBMISSIONS)}
    assert {email: per_email[email] for email in expected} == dict.fromkeys(expected, 1)
