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


def enqueue_delivery(entry_id: int) -> None:
    """Queue the delivery task once the current transaction commits.

    A broker failure is logged, not raised: the visitor's submission is already safe in the
    outbox and the sweeper delivers it within a minute.
    """

    def send() -> None:
        from django_q.tasks import async_task

        try:
            async_task(DELIVER_TASK, entry_id, broker=_broker())
        except Exception:
            logger.exception(
                "Could not queue delivery of outbox entry %s; the sweeper will", entry_id
            )

    transaction.on_commit(send)


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
