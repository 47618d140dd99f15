"""django-q2 entry points of the sync (dotted paths, JSON-safe arguments and results)."""

from __future__ import annotations

import logging
from typing import Any

from wagtail.models import Site

from wagtail_salesforce.exceptions import SalesforceError

logger = logging.getLogger(__name__)

SYNC_SCHEDULE_NAME = "wagtail_salesforce.sync"
RUN_DUE_SYNCS_TASK = "wagtail_salesforce.sync.tasks.run_due_syncs"
RUN_SYNC_CYCLE_TASK = "wagtail_salesforce.sync.tasks.run_sync_cycle"


def _summary(outcome: Any) -> dict[str, Any]:
    run = outcome.run
    if run is None:
        return {"skipped": outcome.skipped_reason}
    return {
        "run": run.pk,
        "status": run.status,
        "pulled": run.pulled,
        "pushed": run.pushed,
        "created": run.created,
        "updated": run.updated,
        "conflicts": run.conflicts,
        "duplicates": run.duplicates,
        "errors": len(run.errors),
        "api_calls": run.api_calls,
    }


def run_sync_cycle(site_id: int, full: bool = False) -> dict[str, Any]:
    """One sync cycle of the site ``site_id`` now (skipped if another worker is running it)."""
    from .service import run_cycle

    site = Site.objects.get(pk=int(site_id))
    return _summary(run_cycle(site, full=bool(full)))


def run_due_syncs() -> dict[str, Any]:
    """Run the cycle of every connected site whose ``interval_minutes`` have passed."""
    from .service import SyncNotConfigured, connected_sites, is_due, run_cycle, sync_config

    try:
        config = sync_config()
    except SyncNotConfigured:
        return {"skipped": "not configured"}
    results: dict[str, Any] = {}
    for site in connected_sites():
        if not is_due(site, config.interval_minutes):
            continue
        try:
            results[str(site.pk)] = _summary(run_cycle(site))
        except SalesforceError as error:
            logger.warning("Sync of %s could not start: %s", site, error)
            results[str(site.pk)] = {"error": str(error)}
    return results


def ensure_sync_schedule(**kwargs: Any) -> None:
    """Register the every-minute schedule that starts due cycles. Idempotent (update_or_create
    on the name); ``catch_up=False`` semantics come from the watermark, not the scheduler."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django_q.models import Schedule

    using = kwargs.get("using") or DEFAULT_DB_ALIAS
    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        # post_migrate also fires for runs that have not migrated django_q (yet).
        logger.info("django_q is not migrated on %r; the sync is not scheduled", using)
        return
    Schedule.objects.using(using).update_or_create(
        name=SYNC_SCHEDULE_NAME,
        defaults={
            "func": RUN_DUE_SYNCS_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
