"""django-q2 entry points (dotted paths, JSON-safe arguments) and the schedule registration."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger(__name__)

SWEEP_SCHEDULE_NAME = "wagtail_salesforce.sweep_outbox"
DELIVER_TASK = "wagtail_salesforce.tasks.deliver_outbox_entry"
SWEEP_TASK = "wagtail_salesforce.tasks.sweep_outbox"


def deliver_outbox_entry(entry_id: int) -> str | None:
    """Deliver one outbox entry now if it is due and no other worker holds it."""
    from wagtail_salesforce.outbox.delivery import deliver_entry

    return deliver_entry(int(entry_id))


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


def _queue_delivery_task(entry_id: int) -> None:
    from django_q.tasks import async_task

    try:
        async_task(DELIVER_TASK, entry_id, broker=_broker())
    except Exception:
        logger.exception("Could not queue delivery of outbox entry %s; the sweeper will", entry_id)


def enqueue_delivery(entry_id: int, using: str = DEFAULT_DB_ALIAS) -> None:
    """Queue the delivery task of a just-created outbox entry.

    With django-q2's ORM broker on the entry's own database, the task row is written in the
    caller's transaction: it commits with the entry or not at all, and the visitor's request
    pays no second commit. Any other broker (Redis) is written after the commit, so a worker
    never picks up an entry it cannot see yet. A broker failure is logged, not raised: the
    submission is already safe in the outbox and the sweeper delivers it within a minute.
    """
    from django_q.conf import Conf

    if not Conf.SYNC and using == Conf.ORM and transaction.get_connection(using).in_atomic_block:
        from django_q.tasks import async_task

        try:
            # A savepoint that sees any error (so it rolls back to it): a failing broker write
            # must not poison the visitor's transaction.
            with transaction.atomic(using=using):
                async_task(DELIVER_TASK, entry_id, broker=_broker())
        except Exception:
            logger.exception("Could not queue delivery of outbox entry %s; the sweeper will",
                             entry_id)
        return
    transaction.on_commit(lambda: _queue_delivery_task(entry_id), using=using)


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
