"""The service fixtures themselves: skip or fail on a missing service, fresh PostgreSQL databases
dropped afterwards, Redis databases never shared, process groups cleaned up."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.services import (
    REDIS_HOST,
    REDIS_PORT,
    SiteProcesses,
    free_port,
    postgres_database,
    postgres_execute,
    redis_database,
    require_service,
    wait_until,
)

pytestmark = pytest.mark.services


def test_a_missing_service_skips_unless_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.delenv("REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"127.0.0.1:{port}"):
        require_service("Redis", "127.0.0.1", port)

    monkeypatch.setenv("REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_SERVICES=1 but Redis"):
        require_service("Redis", "127.0.0.1", port)


def test_a_fresh_database_is_dropped_even_with_sessions_still_open() -> None:
    import psycopg

    with postgres_database(prefix="wsf_fixture") as name:
        assert postgres_execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database=name
        ) == [(0,)]
        lingering = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}")
    with contextlib.closing(lingering):
        assert postgres_execute(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == [
            (0,)
        ]


def test_concurrent_claims_get_different_redis_databases_flushed_afterwards() -> None:
    import redis

    with redis_database() as first, redis_database() as second:
        assert first != second
        number = int(first.rsplit("/", 1)[1])
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        client.set("left-over", "1")
    assert client.dbsize() == 0
    client.close()


def test_stop_all_ends_every_process_of_each_group(tmp_path: Path) -> None:
    processes = SiteProcesses(dict(os.environ), tmp_path)
    parent = processes.start(
        "parent",
        "-c",
        "import subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        "print(child.pid, flush=True); time.sleep(600)",
    )
    child_pid = int(wait_until(lambda: processes.log("parent").strip(), 30, "no child started"))
    processes.stop_all()

    assert parent.returncode == -signal.SIGTERM
    wait_until(lambda: not _running(child_pid), 10, "the child outlived its group")


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit status waits for whoever adopted it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
