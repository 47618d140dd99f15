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


def ensure_schedules(**_kwargs: Any) -> None:
    """Register (or update) the sweeper's every-minute schedule. Idempotent: django-q2's
    ``schedule()`` refuses a duplicate name, so update_or_create on the name instead."""
    from django_q.models import Schedule

    using = _kwargs.get("using") or DEFAULT_DB_ALIAS
    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        # post_migrate also fires for runs that have not migrated django_q (yet).
        logger.info("django_q is not migrated on %r; the outbox sweeper is not scheduled", using)
        return
    Schedule.objects.using(using).update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={
            "func": SWEEP_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )

    from wagtail_salesforce.sync.tasks import ensure_sync_schedule

    ensure_sync_schedule(using=using)
