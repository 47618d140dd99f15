"""django-q2 entry points of the sync (dotted paths, JSON-safe arguments and results)."""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS
from wagtail.models import Site

from wagtail_salesforce.core.schedules import register_schedule
from wagtail_salesforce.exceptions import SalesforceError
from wagtail_salesforce.observability import get_logger

from .service import (
    CycleOutcome,
    SyncNotConfigured,
    connected_sites,
    is_due,
    run_cycle,
    sync_config,
)

logger = get_logger(__name__)

SYNC_SCHEDULE_NAME = "wagtail_salesforce.sync"
RUN_DUE_SYNCS_TASK = "wagtail_salesforce.sync.tasks.run_due_syncs"
RUN_SYNC_CYCLE_TASK = "wagtail_salesforce.sync.tasks.run_sync_cycle"


def _summary(outcome: CycleOutcome) -> dict[str, Any]:
    if outcome.run is None:
        return {"skipped": outcome.skipped_reason}
    return outcome.run.summary()


def run_sync_cycle(site_id: int, full: bool = False) -> dict[str, Any]:
    """One sync cycle of the site ``site_id`` now (skipped if another worker is running it)."""
    site = Site.objects.get(pk=int(site_id))
    return _summary(run_cycle(site, full=bool(full)))


def run_due_syncs() -> dict[str, Any]:
    """Run the cycle of every connected site whose ``interval_minutes`` have passed."""
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
    """Register the every-minute schedule that starts due cycles (idempotent, one row however
    many nodes start at once); ``catch_up=False`` semantics come from the watermark."""
    register_schedule(
        SYNC_SCHEDULE_NAME, RUN_DUE_SYNCS_TASK, using=kwargs.get("using") or DEFAULT_DB_ALIAS
    )
