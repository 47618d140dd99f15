"""Several OS processes refresh the same expired token at once (SQLite file, WAL): Salesforce is
asked once, every process ends with the winner's token and the rotated refresh token is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.services import read_line

WORKER = Path(__file__).with_name("refresh_worker.py")
PROCESSES = 4


def _run(env: dict[str, str], *arguments: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(WORKER), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_processes_refreshing_at_once_share_one_refresh(
    salesforce_sandbox: Any, tmp_path: Path
) -> None:
    salesforce_sandbox.add_connected_app(
        client_id="multi-process",
        client_secret="multi-secret",
        callback_urls=["http://localhost/admin/salesforce/oauth/callback/"],
        rotate_refresh_tokens=True,
    )
    env = {
        **os.environ,
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "SALESFORCE_CA_FILE": salesforce_sandbox.ca_file,
        "SALESFORCE_ALLOWED_LOGIN_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "example_site.settings",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    _run(
        env,
        "seed",
        salesforce_sandbox.login_url,
        salesforce_sandbox.username,
        salesforce_sandbox.password,
        "multi-process",
        "multi-secret",
    )
    before = _run(env, "inspect")
    salesforce_sandbox.expire_access_tokens()

    go_file = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "refresh", str(go_file)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 120
        assert [read_line(worker, deadline) for worker in workers] == ["ready"] * PROCESSES
        go_file.touch()
        results = [json.loads(read_line(worker, deadline)) for worker in workers]
        for worker in workers:
            assert worker.wait(timeout=30) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            for stream in (worker.stdout, worker.stderr):
                if stream is not None:
                    stream.close()

    after = _run(env, "inspect", "check-refresh")
    assert after["token_version"] == before["token_version"] + 1
    assert after["status"] == "connected"
    assert {result["access_token_sha"] for result in results} == {after["access_token_sha"]}
    assert after["refresh_token_works"]
