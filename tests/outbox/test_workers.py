"""A real django-q2 cluster delivers the outbox; it is killed with SIGKILL mid-delivery and
restarted, and every submission still lands in Salesforce exactly once."""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("outbox_worker.py")
SUBMISSIONS = 40


def _env(sandbox: Any, database: Path, config_file: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "example_site")]),
        "DJANGO_SETTINGS_MODULE": "tests.outbox.worker_settings",
        "OUTBOX_TEST_DATABASE": str(database),
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


def _states(database: Path) -> dict[str, Any]:
    with sqlite3.connect(database, timeout=30) as db:
        rows = db.execute(
            "SELECT state, claim_token != '' AS claimed, count(*) "
            "FROM wagtail_salesforce_outboxentry GROUP BY state, claimed"
        ).fetchall()
    states: dict[str, Any] = collections.Counter()
    for state, claimed, count in rows:
        states[state] += count
        if claimed and state in ("pending", "retrying"):
            states["in_flight"] += count
    return states


def test_a_cluster_killed_mid_delivery_and_restarted_delivers_each_submission_once(
    sandbox: Any, tmp_path: Path, config_file: Path
) -> None:
    database = tmp_path / "outbox.sqlite3"
    env = _env(sandbox, database, config_file)
    token = sandbox.password_token()
    _run(
        env,
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

    cluster = _start_cluster(env, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            assert cluster.poll() is None, log.read_text()[-3000:]
            states = _states(database)
            if states["delivered"] >= 5 and states["in_flight"]:
                break
            time.sleep(0.05)
        _stop(cluster, signal.SIGKILL)
        at_kill = _states(database)
    finally:
        _stop(cluster, signal.SIGKILL)
    assert at_kill["delivered"] < SUBMISSIONS and at_kill["in_flight"] >= 1

    sandbox.faults.clear()
    restarted = _start_cluster(env, log)
    try:
        final = json.loads(_run(env, "drain", "120"))
    finally:
        _stop(restarted, signal.SIGTERM)

    assert final == {"delivered": SUBMISSIONS}
    per_email = collections.Counter(str(lead.get("Email")) for lead in sandbox.org.records("Lead"))
    expected = {f"worker{n:04d}@example.com" for n in range(SUBMISSIONS)}
    assert {email: per_email[email] for email in expected} == dict.fromkeys(expected, 1)
