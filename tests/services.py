"""PostgreSQL and Redis for the multi-process tests, and the example site's processes on them.

Registered from ``tests/conftest.py`` (``pytest_plugins``). Fixtures:

``postgres_url``
    A fresh database on the local PostgreSQL (127.0.0.1:5432, user ``postgres``, trust auth),
    one per test module, copied from the example site's schema migrated once per session,
    dropped afterwards (``WITH (FORCE)``: leftover connections of killed
    workers do not block the drop). ``postgres_database()`` gives one per call (a context manager).
``redis_url``
    A Redis database number of its own on the local Redis (127.0.0.1:6379), claimed atomically so
    parallel test sessions never share one, flushed before and after.
``private_redis``
    A redis-server of this test's own on a free port (:class:`RedisServer`), which the test may
    stop and restart without disturbing anyone else's Redis.
``site_processes``
    :class:`SiteProcesses`: runs the example site's ``manage.py`` commands and ``qcluster``
    processes against those services in subprocesses, each in its own process group, and kills
    every group it started at teardown.

Unreachable services skip the tests, unless ``REQUIRE_SERVICES=1`` (CI): then they fail with a
message that says which service is missing.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_SITE = REPO / "example_site"
MANAGE_PY = EXAMPLE_SITE / "manage.py"

POSTGRES_HOST = os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("TEST_POSTGRES_PORT", "5432"))
POSTGRES_USER = os.environ.get("TEST_POSTGRES_USER", "postgres")
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))
# Redis databases this suite may claim (0 is left to the other multi-process tests).
REDIS_DB_CHOICES = range(15, 0, -1)
REDIS_CLAIM_KEY = "wagtail-salesforce-tests:claimed-by"
REDIS_CLAIM_SECONDS = 3600


# --- reachability ----------------------------------------------------------------------------


def service_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip the test when the service is down, or fail when ``REQUIRE_SERVICES=1``."""
    if service_reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(
            f"REQUIRE_SERVICES=1 but {message}: start it (see .ci/run) or unset REQUIRE_SERVICES",
            pytrace=False,
        )
    pytest.skip(message)


# --- PostgreSQL ------------------------------------------------------------------------------


def postgres_admin_dsn(database: str = "postgres") -> str:
    return f"host={POSTGRES_HOST} port={POSTGRES_PORT} user={POSTGRES_USER} dbname={database}"


def postgres_url_for(database: str) -> str:
    return f"postgres://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


def postgres_execute(sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
    """Run one statement as the admin user (autocommit); returns the rows, if any."""
    import psycopg

    with psycopg.connect(postgres_admin_dsn(database), autocommit=True) as db:
        cursor = db.execute(sql)  # noqa: S608 - names built by this module, not user input
        return list(cursor.fetchall()) if cursor.description else []


# The example site's schema, migrated once per test session and copied by ``postgres_url``
# (a migration of an empty database takes seconds a copy does not); dropped at exit.
_migrated_template: str | None = None


def _template() -> str:
    global _migrated_template
    if _migrated_template is None:
        name = f"wsf_template_{uuid.uuid4().hex[:12]}"
        postgres_execute(f'CREATE DATABASE "{name}"')
        atexit.register(postgres_execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        env = {
            **os.environ,
            "DATABASE_URL": postgres_url_for(name),
            "DJANGO_SETTINGS_MODULE": "example_site.settings",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(EXAMPLE_SITE)]),
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        subprocess.run(  # noqa: S603 - our interpreter and manage.py
            [sys.executable, str(MANAGE_PY), "migrate", "--noinput", "-v", "0"],
            env=env,
            cwd=REPO,
            check=True,
            timeout=300,
        )
        _migrated_template = name
    return _migrated_template


@contextlib.contextmanager
def postgres_database(prefix: str = "wsf_test", *, migrated: bool = False) -> Iterator[str]:
    """A new database (its name), empty or, with ``migrated``, holding the example site's
    migrated schema; dropped on exit even if workers still hold sessions."""
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{_template()}"' if migrated else ""
    postgres_execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield name
    finally:
        postgres_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """``postgres://`` URL of a fresh database for this test module, already migrated (the
    tests' own ``migrate`` then finds nothing to do)."""
    with postgres_database(migrated=True) as name:
        yield postgres_url_for(name)


# --- Redis -----------------------------------------------------------------------------------


def _claim_redis_db(host: str, port: int) -> int:
    import redis

    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    for number in REDIS_DB_CHOICES:
        client = redis.Redis(host=host, port=port, db=number)
        try:
            if client.set(REDIS_CLAIM_KEY, owner, nx=True, ex=REDIS_CLAIM_SECONDS):
                # Ours now: drop whatever a crashed earlier run left, but keep the claim.
                for key in client.scan_iter():
                    if key != REDIS_CLAIM_KEY.encode():
                        client.delete(key)
                return number
        finally:
            client.close()
    raise RuntimeError(f"every Redis database {list(REDIS_DB_CHOICES)} is claimed by a test run")


@contextlib.contextmanager
def redis_database(host: str = REDIS_HOST, port: int = REDIS_PORT) -> Iterator[str]:
    """``redis://`` URL of a Redis database number claimed for the caller; flushed on exit."""
    require_service("Redis", host, port)
    import redis

    number = _claim_redis_db(host, port)
    try:
        yield f"redis://{host}:{port}/{number}"
    finally:
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis(host=host, port=port, db=number)
            client.flushdb()
            client.close()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """``redis://`` URL of a Redis database number of this module's own (flushed)."""
    with redis_database() as url:
        yield url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` (no persistence, like the machine's) that can be restarted on
    the same port: its data is gone afterwards, as after a real Redis restart."""

    def __init__(self, port: int, log_file: Path) -> None:
        self.port = port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the machine's redis-server
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: service_reachable("127.0.0.1", self.port, timeout=0.2),
            timeout,
            f"redis-server did not listen on port {self.port}",
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, signal.SIGTERM)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (see :class:`RedisServer`); stopped at teardown."""
    import shutil

    if shutil.which("redis-server") is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("REQUIRE_SERVICES=1 but redis-server is not installed", pytrace=False)
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path / "redis-server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- processes -------------------------------------------------------------------------------


def read_line(process: subprocess.Popen[str], deadline: float) -> str:
    """The next line ``process`` prints, waiting until ``deadline`` (monotonic) at most."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        ready = selector.select(max(0.0, deadline - time.monotonic()))
    finally:
        selector.close()
    assert ready, "a worker process did not answer in time"
    line = process.stdout.readline().strip()
    if not line and process.stderr is not None:  # it died: show why
        raise AssertionError(process.stderr.read()[-3000:])
    return line


def close_streams(process: subprocess.Popen[Any]) -> None:
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def stop_process_group(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 20.0
) -> int:
    """Signal a process started with ``start_new_session=True`` and all its children; SIGKILL
    the group if it outlives ``timeout``. Returns the exit status."""
    with contextlib.suppress(ProcessLookupError):
        if process.poll() is None:
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    # The leader may be gone while a child (a django-q2 worker) lingers: sweep the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def wait_until(
    condition: Callable[[], Any], timeout: float, message: str, interval: float = 0.1
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned) or fail after
    ``timeout`` seconds with ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s: {message}")
        time.sleep(interval)


class SiteProcesses:
    """The example site's commands and django-q2 clusters as subprocesses on given services."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self._groups: list[subprocess.Popen[bytes]] = []

    @classmethod
    def for_services(
        cls,
        database_url: str,
        redis_url: str,
        ca_file: str,
        log_dir: Path,
        settings_module: str = "example_site.settings",
        extra_env: Mapping[str, str] | None = None,
    ) -> SiteProcesses:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SALESFORCE_CA_FILE": ca_file,
            # Every sandbox of the tests serves its login pages on loopback.
            "SALESFORCE_ALLOWED_LOGIN_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": settings_module,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(EXAMPLE_SITE)]),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by pytest-django; never in production
        return cls(env, log_dir)

    def manage(self, *arguments: str, timeout: float = 180.0) -> str:
        """Run ``manage.py ARGUMENTS`` to completion; returns stdout, fails with stderr."""
        return self.python(str(MANAGE_PY), *arguments, timeout=timeout)

    def python(self, *arguments: str, timeout: float = 180.0) -> str:
        """Run ``python ARGUMENTS`` with the site's environment to completion (its own group, so
        a timeout kills every child too)."""
        process = subprocess.Popen(  # noqa: S603 - our interpreter, arguments from the tests
            [sys.executable, *arguments],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process_group(process, signal.SIGKILL)
            raise AssertionError(f"{arguments} did not finish within {timeout:.0f} s") from None
        if process.returncode != 0:
            raise AssertionError(f"{arguments} exited with {process.returncode}:\n{stderr[-4000:]}")
        return stdout

    def start(self, name: str, *arguments: str, nice: int = 0) -> subprocess.Popen[bytes]:
        """Start ``python ARGUMENTS`` in the background (own process group, output in
        ``log_dir/NAME.log``, at CPU priority ``nice``); stopped at teardown at the latest."""
        command = [sys.executable, *arguments]
        if nice:
            command = ["nice", "-n", str(nice), *command]  # execs: the pid stays the leader's
        log = (self.log_dir / f"{name}.log").open("ab")
        try:
            process = subprocess.Popen(  # noqa: S603 - our interpreter, arguments from the tests
                command,
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._groups.append(process)
        return process

    def start_qcluster(self, name: str = "qcluster", nice: int = 0) -> subprocess.Popen[bytes]:
        """A django-q2 cluster (``manage.py qcluster``) in its own process group."""
        return self.start(name, str(MANAGE_PY), "qcluster", nice=nice)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs_tail(self, characters: int = 4000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-characters:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        return stop_process_group(process, sig)

    def stop_all(self) -> None:
        # Teardown: the test has seen what it needed, so a cluster still finishing its graceful
        # shutdown after a few seconds is killed rather than waited for.
        for process in reversed(self._groups):
            stop_process_group(process, signal.SIGTERM, timeout=3.0)
        self._groups.clear()


@pytest.fixture
def site_processes_factory(tmp_path: Path) -> Iterator[Callable[..., SiteProcesses]]:
    """Build :class:`SiteProcesses` for given services; every process is stopped at teardown."""
    created: list[SiteProcesses] = []

    def build(database_url: str, redis_url: str, ca_file: str, **options: Any) -> SiteProcesses:
        processes = SiteProcesses.for_services(
            database_url, redis_url, ca_file, tmp_path, **options
        )
        created.append(processes)
        return processes

    yield build
    for processes in created:
        processes.stop_all()


@pytest.fixture
def site_processes(
    site_processes_factory: Callable[..., SiteProcesses],
    postgres_url: str,
    redis_url: str,
    salesforce_sandbox_process: Any,
) -> SiteProcesses:
    """The example site on this module's PostgreSQL database and Redis, trusting the sandbox
    subprocess's CA."""
    return site_processes_factory(postgres_url, redis_url, salesforce_sandbox_process.ca_file)
