"""pytest plugin (entry point ``wagtail_salesforce_sandbox``): fixtures for the local sandbox.

``salesforce_sandbox``
    A sandbox serving ``salesforce_org``, started in-process on free ports (server threads) the
    first time a test asks for it and shared by the session, then ``reset()`` before each test:
    data re-seeded, faults, call log, tokens and extra connected apps cleared, API usage back to
    zero. Gives a :class:`~.server.SandboxHandle`::

        def test_lead_arrives(salesforce_sandbox):
            sf = salesforce_sandbox.simple_salesforce()          # password-grant token
            lead_id = sf.Lead.create({"LastName": "Ng", "Company": "Acme"})["id"]
            assert salesforce_sandbox.org.get("Lead", lead_id, None, "62.0")["LastName"] == "Ng"
            salesforce_sandbox.faults.add("http_503", count=1, path=r"/sobjects/Lead")
            assert salesforce_sandbox.api_calls_used() == 1

    Handle members: ``login_url, instance_url, ca_file, client_id, client_secret,
    callback_urls, username, password, org, faults, calls, api_calls_used(), password_token(),
    add_connected_app(...), revoke_all_tokens(), expire_access_tokens(), set_daily_limit(n),
    add_api_usage(n)`` (calls the org's other integrations spend), ``set_api_usage(n)`` (the
    usage now, e.g. lower as the limit's window frees calls), ``advance_clock(seconds),
    requests_session(), simple_salesforce(), reset()``.

``salesforce_org``
    The org ``salesforce_sandbox`` and ``salesforce_sandbox_process`` serve: ``None`` (the
    built-in org) unless a ``conftest.py`` overrides this fixture, or a test parametrizes it.
    An org is a mapping or YAML text in the org-file format (see ``orgfile.py``), or the path
    of an org file.

``salesforce_sandbox_process``
    The CLI (``python -m wagtail_salesforce.sandbox``) in a subprocess serving ``salesforce_org``,
    shared by the session, for tests where several processes talk to the sandbox. Gives a
    :class:`~.server.SandboxProcess` with the parsed first JSON line (``info``, and the same
    URL/credential attributes) and ``control(...)`` to call the ``/__sandbox__/`` API; it is reset
    before each test and terminated at the end of the session.

``salesforce_org_file``
    A factory: ``salesforce_org_file(org)`` writes an org definition (a mapping or YAML text) to
    a new file under the session's temporary directory, checks it as the sandbox would (an invalid
    definition raises ``OrgFileError`` naming the key) and returns its path.

``salesforce_sandbox_factory`` / ``salesforce_sandbox_process_factory``
    Factories behind the two sandbox fixtures, for a test or fixture that needs another org than
    ``salesforce_org`` (or several orgs at once): ``salesforce_sandbox_factory(org=..., clock=...)``
    and ``salesforce_sandbox_process_factory(org=...)``. One sandbox is started per distinct org
    (and clock), shared by the session and reset each time it is handed out again. Session-scoped,
    so module- and session-scoped fixtures may use them too.

Outside pytest use :func:`~.server.start_sandbox` (a context manager).
The server modules are imported lazily so merely installing the plugin costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import pytest
import yaml

from .orgfile import load_org_definition

if TYPE_CHECKING:
    from .server import RunningSandbox, SandboxHandle, SandboxProcess

OrgSource: TypeAlias = Mapping[str, Any] | str | os.PathLike[str]
"""An org definition: a mapping or YAML text in the org-file format, or an org file's path."""

Clock: TypeAlias = Callable[[], datetime]


class SandboxFactory(Protocol):
    """``salesforce_sandbox_factory``: an in-process sandbox serving ``org``, reset."""

    def __call__(
        self, org: OrgSource | None = None, *, clock: Clock | None = None
    ) -> SandboxHandle: ...


class SandboxProcessFactory(Protocol):
    """``salesforce_sandbox_process_factory``: a sandbox subprocess serving ``org``, reset."""

    def __call__(self, org: OrgSource | None = None) -> SandboxProcess: ...


class OrgFileWriter:
    """What ``salesforce_org_file`` gives: writes org definitions to checked temporary files."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory

    def __call__(self, org: Mapping[str, Any] | str, name: str = "org.yaml") -> Path:
        text = org if isinstance(org, str) else yaml.safe_dump(dict(org), sort_keys=False)
        path = self._tmp_path_factory.mktemp("salesforce-org") / name
        path.write_text(text, encoding="utf-8")
        load_org_definition(path)  # fail here, naming the key, rather than when a sandbox starts
        return path


class SandboxPool:
    """The session's sandboxes, one per distinct org (and clock), started on first request."""

    def __init__(self, org_files: OrgFileWriter) -> None:
        self._org_files = org_files
        self._org_paths: dict[str | None, Path] = {}
        self._in_process: dict[tuple[str | None, Clock | None], RunningSandbox] = {}
        self._processes: dict[str | None, SandboxProcess] = {}

    def sandbox(self, org: OrgSource | None = None, *, clock: Clock | None = None) -> SandboxHandle:
        """A sandbox in this process serving ``org``, reset if it served an earlier request."""
        key = (_org_key(org), clock)
        running = self._in_process.get(key)
        if running is None:
            from .server import start_sandbox

            running = start_sandbox(org_file=self._org_file(org), clock=clock)
            self._in_process[key] = running
        else:
            running.reset()
        return running

    def process(self, org: OrgSource | None = None) -> SandboxProcess:
        """A sandbox subprocess serving ``org``, reset if it served an earlier request."""
        key = _org_key(org)
        running = self._processes.get(key)
        if running is None:
            from .server import launch_sandbox_process

            org_file = self._org_file(org)
            running = launch_sandbox_process(*([] if org_file is None else ["--org", org_file]))
            self._processes[key] = running
        else:
            running.reset()
        return running

    def stop(self) -> None:
        for running in self._in_process.values():
            running.stop()
        for process in self._processes.values():
            process.stop()
        self._in_process.clear()
        self._processes.clear()

    def _org_file(self, org: OrgSource | None) -> str | None:
        """The org file to start a sandbox with (each definition is written once)."""
        if org is None or isinstance(org, os.PathLike):
            return None if org is None else os.fspath(org)
        key = _org_key(org)
        if key not in self._org_paths:
            self._org_paths[key] = self._org_files(org)
        return str(self._org_paths[key])


def _org_key(org: OrgSource | None) -> str | None:
    """Equal for definitions a sandbox can be shared between."""
    if org is None:
        return None
    if isinstance(org, os.PathLike):
        return f"file:{Path(org).resolve()}"
    if isinstance(org, str):
        return org
    return yaml.safe_dump(dict(org), sort_keys=True)


@pytest.fixture(scope="session")
def salesforce_org_file(tmp_path_factory: pytest.TempPathFactory) -> OrgFileWriter:
    """A factory writing an org definition (mapping or YAML text) to a checked temporary file."""
    return OrgFileWriter(tmp_path_factory)


@pytest.fixture(scope="session")
def _salesforce_sandbox_pool(salesforce_org_file: OrgFileWriter) -> Iterator[SandboxPool]:
    pool = SandboxPool(salesforce_org_file)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="session")
def salesforce_sandbox_factory(_salesforce_sandbox_pool: SandboxPool) -> SandboxFactory:
    """``factory(org=None, *, clock=None)``: an in-process sandbox serving ``org``, reset."""
    return _salesforce_sandbox_pool.sandbox


@pytest.fixture(scope="session")
def salesforce_sandbox_process_factory(
    _salesforce_sandbox_pool: SandboxPool,
) -> SandboxProcessFactory:
    """``factory(org=None)``: a sandbox subprocess serving ``org``, reset."""
    return _salesforce_sandbox_pool.process


@pytest.fixture
def salesforce_org() -> OrgSource | None:
    """The org the sandbox fixtures serve: the built-in one; override to extend it."""
    return None


@pytest.fixture
def salesforce_sandbox(
    salesforce_sandbox_factory: SandboxFactory, salesforce_org: OrgSource | None
) -> SandboxHandle:
    """The session's in-process sandbox for ``salesforce_org``, reset for this test."""
    return salesforce_sandbox_factory(salesforce_org)


@pytest.fixture
def salesforce_sandbox_process(
    salesforce_sandbox_process_factory: SandboxProcessFactory,
    salesforce_org: OrgSource | None,
) -> SandboxProcess:
    """The session's sandbox subprocess for ``salesforce_org``, reset for this test."""
    return salesforce_sandbox_process_factory(salesforce_org)
