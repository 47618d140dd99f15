"""Waking a worker for a committed outbox entry, at most once per window per process.

The web process queues the django-q2 tasks by dotted path (``wagtail_salesforce.tasks``), so
this module never imports the task module it wakes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.tasks import async_task

from wagtail_salesforce import conf
from wagtail_salesforce.observability import get_logger

logger = get_logger(__name__)

DELIVER_TASK = "wagtail_salesforce.tasks.deliver_outbox_entry"
DRAIN_TASK = "wagtail_salesforce.tasks.drain_outbox"

# A woken drain keeps watching this long past the coalescing window: room for a transaction that
# commits a little after its entry relied on the open window, and for clock differences between
# the web and worker nodes. (Later than that, the sweeper delivers the entry.)
WAKEUP_GRACE_SECONDS = 1.0

_broker_cache: dict[str, Broker] = {}


def _broker() -> Broker:
    """django-q2's broker, built once per process (building it costs more than enqueueing)."""
    key = f"{Conf.PREFIX}:{Conf.ORM or Conf.REDIS or ''}"
    if key not in _broker_cache:
        _broker_cache.clear()
        _broker_cache[key] = get_broker()
    return _broker_cache[key]


class _WakeupWindow:
    """When this process last queued a drain (monotonic seconds); shared by its threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None

    def open(self, length: float) -> float | None:
        """Open a window of ``length`` seconds unless one is still open; returns when it opened."""
        with self._lock:
            now = self._clock()
            if self._opened_at is not None and now - self._opened_at < length:
                return None
            self._opened_at = now
            return now

    def close(self, opened_at: float) -> None:
        """Close the window opened at ``opened_at`` (its drain could not be queued)."""
        with self._lock:
            if self._opened_at == opened_at:
                self._opened_at = None

    def forget(self) -> None:
        with self._lock:
            self._opened_at = None


_wakeup_window = _WakeupWindow()


def forget_last_wakeup() -> None:
    """Make the next committed entry queue a drain of its own (tests and benchmarks)."""
    _wakeup_window.forget()


def _queue_task(func: str, argument: Any, *, in_transaction_of: str | None = None) -> bool:
    """Queue ``func(argument)`` on django-q2; False (and logged) if the broker refused it.

    ``in_transaction_of``: the caller's transaction on that database holds the task row (the
    ORM broker), in a savepoint, so a failing write does not poison the caller's transaction.
    """
    try:
        if in_transaction_of is None:
            async_task(func, argument, broker=_broker())
        else:
            with transaction.atomic(using=in_transaction_of):
                async_task(func, argument, broker=_broker())
    except Exception:
        logger.exception("Could not queue %s(%r); the outbox sweeper will deliver", func, argument)
        return False
    return True


def _wake_outbox(entry_id: int, *, in_transaction_of: str | None = None) -> None:
    """Queue a drain, unless this process queued one less than the window ago."""
    window = float(conf.get("OUTBOX_WAKEUP_WINDOW_SECONDS"))
    if window <= 0:
        _queue_task(DELIVER_TASK, entry_id, in_transaction_of=in_transaction_of)
        return
    opened_at = _wakeup_window.open(window)
    if opened_at is None:
        return  # the drain queued for the open window will see this entry
    watch_until = time.time() + window + WAKEUP_GRACE_SECONDS
    if not _queue_task(DRAIN_TASK, watch_until, in_transaction_of=in_transaction_of):
        _wakeup_window.close(opened_at)


def enqueue_delivery(entry_id: int, using: str = DEFAULT_DB_ALIAS) -> None:
    """Have a worker deliver a just-created (or re-queued) outbox entry soon after the commit.

    Wake-ups are coalesced: a process queues at most one drain task per
    ``OUTBOX_WAKEUP_WINDOW_SECONDS``, and that drain keeps watching the outbox until the window
    (plus a grace) has passed, so it delivers every entry committed meanwhile. The visitor's
    request thus usually writes only the submission and its entry.

    With django-q2's ORM broker on the entry's own database, the task row is written in the
    caller's transaction: it commits with the entry, and the visitor pays no second commit. (If
    that transaction rolls back, the process's current window has no drain: entries in it wait
    for the sweeper.) Any other broker (Redis) is written after the commit, so a worker never
    looks for an entry it cannot see yet. A broker failure is logged, not raised: the entry is
    safe in the outbox and the sweeper delivers it within a minute. With django-q2 in sync mode
    the entry is delivered in-process after the commit.
    """
    if Conf.SYNC:
        transaction.on_commit(lambda: _queue_task(DELIVER_TASK, entry_id), using=using)
    elif using == Conf.ORM and transaction.get_connection(using).in_atomic_block:
        _wake_outbox(entry_id, in_transaction_of=using)
    else:
        transaction.on_commit(lambda: _wake_outbox(entry_id), using=using)
