"""django-q2 schedules registered by name: exactly one row each, however many nodes start."""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django_q.models import Schedule

logger = logging.getLogger(__name__)

# Any constant works; it only has to be the same on every node (pg_advisory_xact_lock's key).
_SCHEDULES_LOCK_KEY = 0x5753465343484544


def register_schedule(
    name: str, func: str, *, minutes: int = 1, using: str = DEFAULT_DB_ALIAS
) -> bool:
    """Create or update the schedule ``name`` running ``func`` every ``minutes``; one row.

    django-q2's ``schedule()`` raises on a duplicate name and ``Schedule.name`` is not unique,
    so ``update_or_create`` alone lets nodes that start together each insert one. On PostgreSQL
    an advisory lock serialises them; everywhere, rows that still share the name (left by an
    older release) are deleted. Returns False when django_q is not migrated on ``using``
    (post_migrate also fires for such runs).
    """
    connection = connections[using]
    if Schedule._meta.db_table not in connection.introspection.table_names():
        logger.info("django_q is not migrated on %r; %s is not scheduled", using, name)
        return False
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULES_LOCK_KEY])
        same_name = Schedule.objects.using(using).filter(name=name)
        keep = same_name.order_by("pk").values_list("pk", flat=True).first()
        if keep is not None:
            same_name.exclude(pk=keep).delete()
        Schedule.objects.using(using).update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )
    return True
