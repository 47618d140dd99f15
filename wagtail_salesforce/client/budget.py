"""The API budget: how far the org's daily API usage may go before the plugin stops spending.

Salesforce's daily API limit is shared by every integration an org runs, and
``Sforce-Limit-Info: api-usage=USED/MAX`` on every answer reports the org-wide count (a rolling
24 hours). The budget is a ceiling on that count, per connection: ``API_BUDGET_CALLS`` when set,
else ``API_BUDGET_PERCENT`` of the org's limit (50 by default). The plugin sends no call that
would take the org's usage past its budget, so the rest of the limit stays with the org's other
integrations and people.

Work has a priority, and delivery comes first. Within the budget, measured against it:

``normal``
    below ``API_BUDGET_SYNC_SLOW_PERCENT`` (80) of the budget: nothing is held back;
``slow``
    from there on the sync's interval is multiplied by ``API_BUDGET_SYNC_STRETCH`` and its
    pushes prefer Bulk API 2.0 (:func:`bulk_threshold`);
``yield``
    from ``API_BUDGET_SYNC_YIELD_PERCENT`` (95) of the budget the sync spends nothing (cycles
    are skipped) and the rest of the budget is left to form delivery;
``exhausted``
    at the budget, delivery pauses too (entries wait, nothing is dropped) until the usage
    falls (the limit's window frees calls) or the budget is raised.

The priority of a call is the context it runs in: ``with api_priority(SYNC): ...`` (the sync
cycle sets it); calls outside any such block count as delivery. :data:`PROBE` is the usage
re-read itself (``GET /limits``), always allowed: it is how a held-back plugin learns that calls
are free again, and its callers make it at most every ``API_USAGE_CHECK_MINUTES``.

Every connection's :class:`~.transport.Transport` holds an :class:`ApiBudget`, seeded with the
last usage stored for the connection and updated from each answer's header; before each call
it asks :meth:`ApiBudget.spend`, which raises :class:`BudgetExhausted` (a subclass of
``ApiLimitExceeded``, so callers pause as they do on the org's own limit) instead of sending.
Calls in flight count as spent, so a process's concurrent calls cannot together overshoot;
across processes each checks before each call, so the usage can pass the budget by at most one
call per process sending at that moment.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from wagtail_salesforce import conf
from wagtail_salesforce.exceptions import BudgetExhausted

DELIVERY = "delivery"
SYNC = "sync"
PROBE = "probe"
PRIORITIES = (DELIVERY, SYNC, PROBE)

# Above about this many records a Bulk API 2.0 job (create, upload, close, a poll or two,
# three result files: some seven calls whatever its size) costs fewer calls than sObject
# Collections (a /composite call per 1,000 records, plus look-ups per batch).
BULK_BREAK_EVEN_RECORDS = 5000

_priority: ContextVar[str] = ContextVar("wagtail_salesforce_api_priority", default=DELIVERY)


@contextmanager
def api_priority(priority: str) -> Iterator[None]:
    """Run the block's API calls at ``priority`` (``DELIVERY``, ``SYNC`` or ``PROBE``)."""
    if priority not in PRIORITIES:
        raise ValueError(f"Unknown API priority {priority!r}")
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> str:
    return _priority.get()


@contextmanager
def finishing() -> Iterator[None]:
    """Calls that finish work already started (a Bulk job's upload, close, polls and results)
    spend up to the budget, whatever the priority: held back half-way, the job would be left
    open or its outcome lost, and the work (and the calls spent on it) done again."""
    if current_priority() == PROBE:
        yield
        return
    with api_priority(DELIVERY):
        yield


class Stage(enum.StrEnum):
    """How much the budget holds back (see the module docstring)."""

    UNKNOWN = "unknown"  # no usage reading yet: nothing is held back
    NORMAL = "normal"
    SLOW = "slow"
    YIELD = "yield"
    EXHAUSTED = "exhausted"


def budget_calls(org_max: int) -> int:
    """The budget for an org whose daily limit is ``org_max``: ``API_BUDGET_CALLS`` when set,
    else ``API_BUDGET_PERCENT`` of the limit; never more than the limit itself."""
    absolute = conf.get("API_BUDGET_CALLS")
    if absolute is not None:
        budget = int(absolute)
    else:
        percent = min(max(conf.get_number("API_BUDGET_PERCENT"), 0.0), 100.0)
        budget = int(org_max * percent / 100)
    return max(0, min(budget, org_max))


def _share(budget: int, name: str) -> int:
    percent = min(max(conf.get_number(name), 0.0), 100.0)
    return int(budget * percent / 100)


@dataclass(frozen=True)
class BudgetState:
    """The org's usage against the budget. Everything is None while no usage is known."""

    used: int | None
    org_max: int | None
    budget: int | None = None
    slow_at: int | None = None
    yield_at: int | None = None

    @property
    def stage(self) -> Stage:
        if self.used is None or self.budget is None:
            return Stage.UNKNOWN
        if self.used >= self.budget:
            return Stage.EXHAUSTED
        if self.yield_at is not None and self.used >= self.yield_at:
            return Stage.YIELD
        if self.slow_at is not None and self.used >= self.slow_at:
            return Stage.SLOW
        return Stage.NORMAL

    def ceiling(self, priority: str) -> int | None:
        """The usage up to which ``priority`` may spend (None: no ceiling known)."""
        if priority == PROBE or self.budget is None:
            return None
        return self.yield_at if priority == SYNC else self.budget

    def allows(self, priority: str) -> bool:
        """Whether a call at ``priority`` may be sent now."""
        ceiling = self.ceiling(priority)
        return ceiling is None or self.used is None or self.used < ceiling

    @property
    def holds_back(self) -> bool:
        """Whether the budget holds any work back (the sync slowed or stopped, or delivery)."""
        return self.stage in (Stage.SLOW, Stage.YIELD, Stage.EXHAUSTED)

    @property
    def sync_stretch(self) -> float:
        """What the sync's interval is multiplied by now."""
        if self.stage is Stage.SLOW:
            return max(1.0, conf.get_number("API_BUDGET_SYNC_STRETCH"))
        return 1.0

    @property
    def sync_yields(self) -> bool:
        return not self.allows(SYNC)

    @property
    def delivery_paused(self) -> bool:
        return not self.allows(DELIVERY)


def budget_state(used: int | None, org_max: int | None) -> BudgetState:
    """The state of an org that has used ``used`` of its daily ``org_max`` (settings now)."""
    if used is None or not org_max:
        return BudgetState(used, org_max)
    budget = budget_calls(org_max)
    return BudgetState(
        used=used,
        org_max=org_max,
        budget=budget,
        slow_at=_share(budget, "API_BUDGET_SYNC_SLOW_PERCENT"),
        yield_at=_share(budget, "API_BUDGET_SYNC_YIELD_PERCENT"),
    )


def bulk_threshold(configured: int, state: BudgetState) -> int:
    """``SYNC_BULK_THRESHOLD``, lowered to where a Bulk job starts saving calls while the
    budget holds the sync back."""
    if state.holds_back:
        return min(configured, BULK_BREAK_EVEN_RECORDS)
    return configured


# Whether the call in progress (in this thread) got an answer carrying the org's usage.
_answer_read: ContextVar[bool] = ContextVar("wagtail_salesforce_answer_read", default=False)


class ApiBudget:
    """One transport's view of the org's usage, and the check before each call (thread-safe)."""

    def __init__(
        self,
        usage: tuple[int, int] | None = None,
        on_guess: Callable[[int, int], None] | None = None,
    ) -> None:
        # ``on_guess(used, org_max)``: told the usage the budget assumed after a call whose
        # answer never came, so that the next client of the connection starts from it.
        self._on_guess = on_guess
        self._lock = threading.Lock()
        self._used: int | None = usage[0] if usage is not None else None
        self._max: int | None = usage[1] if usage is not None else None
        self._in_flight = 0

    def observe(self, used: int, org_max: int) -> None:
        """The usage an answer's ``Sforce-Limit-Info`` reported (org-wide, this call included)."""
        _answer_read.set(True)
        with self._lock:
            self._used, self._max = used, org_max

    def state(self) -> BudgetState:
        with self._lock:
            return self._state()

    def _state(self) -> BudgetState:
        used = None if self._used is None else self._used + self._in_flight
        return budget_state(used, self._max)

    @contextmanager
    def spend(self, operation: str) -> Iterator[None]:
        """Hold one call's place in the budget while it is sent; BudgetExhausted when the
        current priority may not spend."""
        priority = current_priority()
        with self._lock:
            state = self._state()
            if not state.allows(priority):
                ceiling = state.ceiling(priority) or 0
                raise BudgetExhausted(
                    f"{operation} held back by the API budget: the org has used {state.used} "
                    f"of its {state.org_max} daily API requests and {priority} may spend up to "
                    f"{ceiling}.",
                    priority=priority,
                    used=state.used or 0,
                    budget=ceiling,
                )
            self._in_flight += 1
        reading = _answer_read.set(False)
        try:
            yield
        finally:
            answered = _answer_read.get()
            _answer_read.reset(reading)
            guess: tuple[int, int] | None = None
            with self._lock:
                self._in_flight -= 1
                if not answered and self._used is not None:
                    # No usage came back (a lost answer, a dropped connection): Salesforce may
                    # well have counted the call, so count it too rather than spend past the
                    # budget on the old reading. The next answer's reading replaces the guess.
                    self._used += 1
                    if self._max is not None:
                        guess = (self._used, self._max)
            if guess is not None and self._on_guess is not None:
                self._on_guess(*guess)
