"""Local Salesforce-compatible server: OAuth, REST, Bulk 2.0, faults and a record browser.

Run it with ``python -m wagtail_salesforce.sandbox`` (or ``manage.py salesforce_sandbox``), use
the ``salesforce_sandbox`` pytest fixture, or :func:`start_sandbox` from Python. It needs no
Django. The heavy modules load on first use, so importing the package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import RunningSandbox, Sandbox, SandboxHandle, start_sandbox

__all__ = ["RunningSandbox", "Sandbox", "SandboxHandle", "start_sandbox"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
