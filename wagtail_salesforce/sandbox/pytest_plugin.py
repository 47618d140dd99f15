"""pytest plugin (entry point ``wagtail_salesforce_sandbox``): fixtures for the local sandbox.

``salesforce_sandbox``
    ONE sandbox per test session, started in-process on free ports (server threads), and
    ``reset()`` before each test: data re-seeded, faults, call log, tokens and extra connected
    apps cleared, API usage back to zero. Gives a :class:`~.server.SandboxHandle`::

        def test_lead_arrives(salesforce_sandbox):
            sf = salesforce_sandbox.simple_salesforce()          # password-grant token
            lead_id = sf.Lead.create({"LastName": "Ng", "Company": "Acme"})["id"]
            assert salesforce_sandbox.org.get("Lead", lead_id, None, "62.0")["LastName"] == "Ng"
            salesforce_sandbox.faults.add("http_503", count=1, path=r"/sobjects/Lead")
            assert salesforce_sandbox.api_calls_used() == 1

    Handle members: ``login_url, instance_url, ca_file, client_id, client_secret,
    callback_urls, username, password, org, faults, calls, api_calls_used(), password_token(),
    add_connected_app(...), revoke_all_tokens(), expire_access_tokens(), set_daily_limit(n),
    advance_clock(seconds), requests_session(), simple_salesforce(), reset()``.

``salesforce_sandbox_process``
    The CLI (``python -m wagtail_salesforce.sandbox``) in a subprocess, one per test session, for
    tests where several processes talk to the sandbox. Gives a :class:`SandboxProcess` with the
    parsed first JSON line (``info``, and the same URL/credential attributes) and ``control(...)``
    to call the ``/__sandbox__/`` API; it is reset before each test and terminated at teardown.

Outside pytest use :func:`~.server.start_sandbox` (a context manager).
The server modules are imported lazily so merely installing the plugin costs nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .server import RunningSandbox, SandboxHandle


class SandboxProcess:
    """A sandbox running as a separate process (see the module docstring)."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info
        self.login_url: str = info["login_url"]
        self.instance_url: str = info["instance_url"]
        self.ca_file: str = info["ca_file"]
        self.client_id: str = info["client_id"]
        self.client_secret: str = info["client_secret"]
        self.callback_urls: list[str] = info["callback_urls"]
        self.username: str = info["username"]
        self.password: str = info["password"]
        self.pid: int = process.pid

    def control(self, method: str, name: str, payload: Any = None) -> Any:
        """Call ``/__sandbox__/{name}`` on the login host; returns the decoded JSON or None."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback login URL of our child
            f"{self.login_url}/__sandbox__/{name}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if body else None

    def reset(self) -> None:
        self.control("POST", "reset")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGINT the process and wait for its (clean) exit; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def launch_sandbox_process(*args: str, env: dict[str, str] | None = None,
                           timeout: float = 30.0) -> SandboxProcess:
    """Start the CLI with ``args`` and wait for its first JSON line (bounded by ``timeout``)."""
    import selectors

    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "wagtail_salesforce.sandbox", *args],
        stdout=subprocess.PIPE, stderr=None, text=True, env=env or dict(os.environ),
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout)
    selector.close()
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.wait()
        raise RuntimeError(f"the sandbox process did not start (exit status {process.returncode})")
    return SandboxProcess(process, json.loads(line))


@pytest.fixture(scope="session")
def _salesforce_sandbox_session() -> Iterator[RunningSandbox]:
    from .server import start_sandbox

    running = start_sandbox()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def salesforce_sandbox(_salesforce_sandbox_session: RunningSandbox) -> SandboxHandle:
    """The session's in-process sandbox, reset for this test (see the module docstring)."""
    _salesforce_sandbox_session.reset()
    return _salesforce_sandbox_session


@pytest.fixture(scope="session")
def _salesforce_sandbox_process_session() -> Iterator[SandboxProcess]:
    running = launch_sandbox_process()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def salesforce_sandbox_process(
    _salesforce_sandbox_process_session: SandboxProcess,
) -> SandboxProcess:
    """The session's sandbox subprocess, reset for this test (see the module docstring)."""
    _salesforce_sandbox_process_session.reset()
    return _salesforce_sandbox_process_session
