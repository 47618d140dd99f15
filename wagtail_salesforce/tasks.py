"""django-q2 entry points (dotted paths, JSON-safe arguments and results) and the schedules.

Thin on purpose: each task calls into its pipeline. The web process queues them by dotted path
(:mod:`wagtail_salesforce.outbox.wakeups`), so no pipeline imports this module.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

from wagtail_salesforce import conf
from wagtail_salesforce.core.schedules import register_schedule
from wagtail_salesforce.forms.describes import refresh_all_sites
from wagtail_salesforce.outbox import delivery, retention
from wagtail_salesforce.sync.tasks import ensure_sync_schedule

SWEEP_SCHEDULE_NAME = "wagtail_salesforce.sweep_outbox"
SWEEP_TASK = "wagtail_salesforce.tasks.sweep_outbox"
DESCRIBE_SCHEDULE_NAME = "wagtail_salesforce.refresh_describes"
DESCRIBE_TASK = "wagtail_salesforce.tasks.refresh_describes"
RETENTION_SCHEDULE_NAME = "wagtail_salesforce.clear_outbox_payloads"
RETENTION_TASK = "wagtail_salesforce.tasks.clear_outbox_payloads"
RETENTION_MINUTES = 24 * 60


def deliver_outbox_entry(entry_id: int) -> str | None:
    """Deliver one outbox entry now if it is due and no other worker holds it."""
    return delivery.deliver_entry(int(entry_id))


def drain_outbox(watch_until: float) -> dict[str, Any]:
    """Deliver whatever is due, watching for new entries until ``watch_until`` (epoch seconds)."""
    result = delivery.drain(float(watch_until))
    return {"attempted": result.attempted, "states": result.states}


def sweep_outbox() -> dict[str, Any]:
    """Resume paused entries whose connection works again and deliver whatever is due."""
    result = delivery.sweep()
    return {"resumed": result.resumed, "attempted": result.attempted, "states": result.states}


def refresh_describes() -> dict[str, list[str]]:
    """Re-read the mapped objects' describes the forms validate against, for every site."""
    return {str(site_id): objects for site_id, objects in refresh_all_sites().items()}


def clear_outbox_payloads() -> dict[str, Any]:
    """Clear the submitted data of entries delivered more than OUTBOX_RETENTION_DAYS ago."""
    return {"cleared": retention.clear_expired_payloads()}


def ensure_schedules(**kwargs: Any) -> None:
    """Register the outbox sweeper's, the describe refresh's, the outbox retention's (daily)
    and the sync's schedules (a post_migrate handler: every node runs it at deploy; idempotent
    and safe when nodes start together)."""
    using = kwargs.get("using") or DEFAULT_DB_ALIAS
    register_schedule(SWEEP_SCHEDULE_NAME, SWEEP_TASK, using=using)
    register_schedule(
        DESCRIBE_SCHEDULE_NAME,
        DESCRIBE_TASK,
        minutes=int(conf.get("DESCRIBE_REFRESH_MINUTES")),
        using=using,
    )
    register_schedule(
        RETENTION_SCHEDULE_NAME, RETENTION_TASK, minutes=RETENTION_MINUTES, using=using
    )
    ensure_sync_schedule(using=using)
