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
    tests where several processes talk to the sandbox. Gives a :class:`~.server.SandboxProcess`
    with the parsed first JSON line (``info``, and the same URL/credential attributes) and
    ``control(...)`` to call the ``/__sandbox__/`` API; it is reset before each test and
    terminated at teardown.

Outside pytest use :func:`~.server.start_sandbox` (a context manager).
The server modules are imported lazily so merely installing the plugin costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import RunningSandbox, SandboxHandle, SandboxProcess


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
    from .server import launch_sandbox_process

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
