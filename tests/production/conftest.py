"""Fixtures of the production tests: the example site's processes on PostgreSQL and Redis."""

from __future__ import annotations

import selectors
import subprocess
import time
from typing import Any

import pytest

pytestmark = pytest.mark.services


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
