"""django-q2 entry points (dotted paths, JSON-safe arguments) and the schedule registration."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from wagtail_salesforce import conf

logger = logging.getLogger(__name__)

SWEEP_SCHEDULE_NAME = "wagtail_salesforce.sweep_outbox"
DELIVER_TASK = "wagtail_salesforce.tasks.deliver_outbox_entry"
DRAIN_TASK = "wagtail_salesforce.tasks.drain_outbox"
SWEEP_TASK = "wagtail_salesforce.tasks.sweep_outbox"

# A woken drain keeps watching this long past the coalescing window: room for a transaction that
# commits a little after its entry relied on the open window, and for clock differences between
# the web and worker nodes. (Later than that, the sweeper delivers the entry.)
WAKEUP_GRACE_SECONDS = 1.0


def deliver_outbox_entry(entry_id: int) -> str | None:
    """Deliver one outbox entry now if it is due and no other worker holds it."""
    from wagtail_salesforce.outbox.delivery import deliver_entry

    return deliver_entry(int(entry_id))


def drain_outbox(watch_until: float) -> dict[str, Any]:
    """Deliver whatever is due, watching for new entries until ``watch_until`` (epoch seconds)."""
    from wagtail_salesforce.outbox.delivery import drain

    result = drain(float(watch_until))
    return {"attempted": result.attempted, "states": result.states}


def sweep_outbox() -> dict[str, Any]:
    """Resume paused entries whose connection works again and deliver whatever is due."""
    from wagtail_salesforce.outbox.delivery import sweep

    result = sweep()
    return {"resumed": result.resumed, "attempted": result.attempted, "states": result.states}


_broker_cache: dict[str, Any] = {}


def _broker() -> Any:
    """django-q2's broker, built once per process (building it costs more than enqueueing)."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

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
    from django_q.tasks import async_task

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
    from django_q.conf import Conf

    if Conf.SYNC:
        transaction.on_commit(lambda: _queue_task(DELIVER_TASK, entry_id), using=using)
    elif using == Conf.ORM and transaction.get_connection(using).in_atomic_block:
        _wake_outbox(entry_id, in_transaction_of=using)
    else:
        transaction.on_commit(lambda: _wake_outbox(entry_id), using=using)


# Any constant works; it only has to be the same on every node (pg_advisory_xact_lock's key).
_SCHEDULES_LOCK_KEY = 0x5753465343484544


def register_schedule(name: str, func: str, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Create or update the every-minute schedule ``name`` running ``func``; exactly one row.

    django-q2's ``Schedule.name`` is not unique, so ``update_or_create`` alone lets nodes that
    start together each insert one. On PostgreSQL an advisory lock serialises them; everywhere,
    rows that still share the name (left by an older release) are deleted. Returns False when
    django_q is not migrated on ``using`` (post_migrate also fires for such runs).
    """
    from django_q.models import Schedule

    connection = connections[using]
    if Schedule._meta.db_table not in connection.introspection.table_names():
        logger.info("django_q is not migrated on %r; %s is not scheduled", using, name)
        return False
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULES_LOCK_KEY])
        same_name = Schedule.objects.using(using).filter(name=name).order_by("pk")
        schedule = same_name.first() or Schedule(name=name)
        schedule.func = func
        schedule.schedule_type = Schedule.MINUTES
        schedule.minutes = 1
        schedule.repeats = -1
        schedule.save(using=using)
        same_name.exclude(pk=schedule.pk).delete()
    return True


def ensure_schedules(**kwargs: Any) -> None:
    """Register the outbox sweeper's and the sync's every-minute schedules (a post_migrate
    handler: every node runs it at deploy; idempotent and safe when nodes start together)."""
    from wagtail_salesforce.sync.tasks import ensure_sync_schedule

    using = kwargs.get("using") or DEFAULT_DB_ALIAS
    register_schedule(SWEEP_SCHEDULE_NAME, SWEEP_TASK, using=using)
    ensure_sync_schedule(using=using)
