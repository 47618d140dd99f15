"""Injected faults: make the sandbox misbehave the way a real org or network sometimes does.

A fault applies to API-host requests (REST, Bulk, OAuth on the instance URL) matching its optional
``method`` and ``path`` regex, either for its ``count`` next matching calls or at a ``rate``
(0..1, drawn from a seeded RNG so a test run is reproducible). With neither, it fires every time.
"""

from __future__ import annotations

import builtins
import itertools
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

LATENCY = "latency"
HTTP_500 = "http_500"
HTTP_503 = "http_503"
DROP_CONNECTION = "drop_connection"
LOSE_RESPONSE = "lose_response"
EXPIRE_SESSION = "expire_session"
REQUEST_LIMIT_EXCEEDED = "request_limit_exceeded"
UNABLE_TO_LOCK_ROW = "unable_to_lock_row"
BULK_JOB_FAILED = "bulk_job_failed"

FAULT_KINDS: tuple[str, ...] = (
    LATENCY,
    HTTP_500,
    HTTP_503,
    DROP_CONNECTION,
    LOSE_RESPONSE,
    EXPIRE_SESSION,
    REQUEST_LIMIT_EXCEEDED,
    UNABLE_TO_LOCK_ROW,
    BULK_JOB_FAILED,
)

DEFAULT_SEED = 20261129


class FaultSpecError(ValueError):
    """A fault description that cannot be honoured (unknown kind, bad rate, ...)."""


@dataclass
class Fault:
    """One configured fault. ``remaining`` counts down when ``count`` was given."""

    id: int
    kind: str
    rate: float | None
    count: int | None
    method: str | None
    path: str | None
    latency_ms: int | None
    remaining: int | None = None
    fired: int = 0
    _path_pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self._path_pattern is None or self._path_pattern.search(path) is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "rate": self.rate,
            "count": self.count,
            "remaining": self.remaining,
            "method": self.method,
            "path": self.path,
            "latency_ms": self.latency_ms,
            "fired": self.fired,
        }


class FaultSet:
    """The thread-safe list of active faults."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._seed = seed
        self._random = random.Random(seed)  # noqa: S311 - reproducible test faults, not crypto

    def add(
        self,
        kind: str,
        *,
        rate: float | None = None,
        count: int | None = None,
        method: str | None = None,
        path: str | None = None,
        latency_ms: int | None = None,
    ) -> Fault:
        """Add a fault; raises :class:`FaultSpecError` on a description that makes no sense."""
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"Unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if rate is not None and count is not None:
            raise FaultSpecError("Give either rate or count, not both")
        if rate is not None and not 0.0 <= float(rate) <= 1.0:
            raise FaultSpecError(f"rate must be between 0 and 1, got {rate!r}")
        if count is not None and int(count) < 1:
            raise FaultSpecError(f"count must be a positive integer, got {count!r}")
        if kind == LATENCY and (latency_ms is None or int(latency_ms) < 0):
            raise FaultSpecError("A latency fault needs latency_ms >= 0")
        pattern = None
        if path is not None:
            try:
                pattern = re.compile(path)
            except re.error as error:
                raise FaultSpecError(f"path is not a valid regular expression: {error}") from error
        with self._lock:
            fault = Fault(
                id=next(self._ids),
                kind=kind,
                rate=None if rate is None else float(rate),
                count=None if count is None else int(count),
                method=method.upper() if method else None,
                path=path,
                latency_ms=None if latency_ms is None else int(latency_ms),
                remaining=None if count is None else int(count),
                _path_pattern=pattern,
            )
            self._faults.append(fault)
        return fault

    def add_from_json(self, spec: Any) -> Fault:
        """Add a fault described by a JSON object (the control API's POST body)."""
        if not isinstance(spec, dict):
            raise FaultSpecError("A fault must be a JSON object")
        allowed = {"kind", "rate", "count", "method", "path", "latency_ms"}
        unknown = set(spec) - allowed
        if unknown:
            raise FaultSpecError(f"Unknown fault keys: {sorted(unknown)}")
        if "kind" not in spec:
            raise FaultSpecError("A fault needs a 'kind'")
        try:
            return self.add(
                str(spec["kind"]),
                rate=None if spec.get("rate") is None else float(spec["rate"]),
                count=None if spec.get("count") is None else int(spec["count"]),
                method=spec.get("method"),
                path=spec.get("path"),
                latency_ms=None if spec.get("latency_ms") is None else int(spec["latency_ms"]),
            )
        except (TypeError, ValueError) as error:
            if isinstance(error, FaultSpecError):
                raise
            raise FaultSpecError(f"Bad fault value: {error}") from error

    def clear(self) -> None:
        """Remove every fault and reseed the RNG, so a fresh run draws the same sequence."""
        with self._lock:
            self._faults.clear()
            self._random = random.Random(self._seed)  # noqa: S311

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    # ``builtins.list``: inside this class, ``list`` is the method above.
    def draw(self, method: str, path: str) -> builtins.list[Fault]:
        """The faults that fire for this request (consuming counts). Exhausted ones are dropped."""
        fired: builtins.list[Fault] = []
        with self._lock:
            if not self._faults:
                return fired
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.remaining is not None:
                    if fault.remaining <= 0:
                        continue
                    fault.remaining -= 1
                elif fault.rate is not None and self._random.random() >= fault.rate:
                    continue
                fault.fired += 1
                fired.append(fault)
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return fired
