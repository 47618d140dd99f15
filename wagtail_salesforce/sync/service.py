"""Running sync cycles: under the lease, with a SyncRun recording what happened."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import Site

from wagtail_salesforce.client import SYNC, BudgetState, SalesforceClient, api_priority
from wagtail_salesforce.config import SyncConfig, get_config
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.connection.problems import connection_problem
from wagtail_salesforce.connection.usage import refresh_if_held_back, site_budget
from wagtail_salesforce.exceptions import (
    BudgetExhausted,
    NotConnected,
    ReauthorizationRequired,
    SalesforceError,
)
from wagtail_salesforce.observability import bind_correlation_id, get_logger, untrusted

from . import lease
from .engine import Cycle
from .models import SyncRun, SyncRunStatus

logger = get_logger(__name__)


class SyncNotConfigured(SalesforceError):
    """The YAML has no enabled ``sync`` section."""


@dataclass(frozen=True)
class CycleOutcome:
    """``run`` is None when another worker holds the lease (nothing was done)."""

    run: SyncRun | None
    skipped_reason: str = ""


NO_SYNC_SECTION = _("The Salesforce config has no enabled 'sync' section: nothing to sync.")


def sync_config() -> SyncConfig:
    config = get_config().sync
    if config is None or not config.enabled:
        raise SyncNotConfigured(str(NO_SYNC_SECTION))
    return config


def sync_blocker(site: Site) -> str | None:
    """Why a cycle of ``site`` cannot run now (the panel's words, with the fix); None if it can.

    "Sync now" asks this first so it can say why at once instead of queueing a cycle that
    would fail; a cycle that meets the same problem records it on a failed run.
    """
    config = get_config().sync
    if config is None or not config.enabled:
        return str(NO_SYNC_SECTION)
    connection = SalesforceConnection.objects.filter(site=site).first()
    problem = connection_problem(connection)
    if problem is None:
        # Re-read at most every API_USAGE_CHECK_MINUTES, so a freed window is noticed.
        budget = refresh_if_held_back(site.pk, SYNC)
        if budget.sync_yields:
            return budget_yield_message(budget)
    return problem


def budget_yield_message(state: BudgetState) -> str:
    return str(
        _(
            "Sync is yielding to form delivery: the org has used %(used)s of its %(max)s daily "
            "API requests and the API budget lets the sync spend up to %(ceiling)s. It carries "
            "on once the usage falls or the budget (API_BUDGET_PERCENT) is raised."
        )
        % {"used": state.used, "max": state.org_max, "ceiling": state.yield_at}
    )


def run_cycle(
    site: Site,
    *,
    full: bool = False,
    dry_run: bool = False,
    client: SalesforceClient | None = None,
) -> CycleOutcome:
    """Run one sync cycle for ``site`` unless another worker is running one.

    Raises SyncNotConfigured without a ``sync`` section. A site whose connection cannot be
    used (not configured, paused, not connected, needs re-authorisation) gets a failed run
    saying why; errors during the cycle end up on the run too.
    Every log line of the cycle carries one correlation id (``sync-...``).
    """
    with bind_correlation_id(prefix="sync", site=site.pk):
        return _run_cycle(site, full=full, dry_run=dry_run, client=client)


def _run_cycle(
    site: Site,
    *,
    full: bool,
    dry_run: bool,
    client: SalesforceClient | None,
) -> CycleOutcome:
    config = sync_config()
    connection = SalesforceConnection.objects.filter(site=site).first()
    problem = connection_problem(connection)
    if problem is None:
        # Near the budget the sync yields to form delivery: the cycle is skipped (no run, no
        # call; the usage is re-read now and then, so the sync notices when calls are free
        # again). Read before the client is made, so the client starts from that reading.
        budget = refresh_if_held_back(site.pk, SYNC)
        if budget.sync_yields:
            logger.info(
                "Sync of %s skipped: yielding to delivery (API usage %s, sync ceiling %s)",
                site,
                budget.used,
                budget.yield_at,
            )
            return CycleOutcome(run=None, skipped_reason="budget")
    if problem is None and client is None:
        try:
            client = client_for(site)
        except (NotConnected, ReauthorizationRequired) as error:
            problem = str(error)
    if problem is not None or connection is None or client is None:
        return CycleOutcome(run=_record_blocked(site, problem or "", full=full, dry_run=dry_run))
    holder = lease.new_holder_id()
    if not lease.acquire(connection.pk, holder):
        logger.info("Sync of %s skipped: another worker holds the lease", site)
        return CycleOutcome(run=None, skipped_reason="locked")
    try:
        _close_abandoned_runs(site)
        run = SyncRun(site=site, full=full, dry_run=dry_run)
        if not dry_run:
            run.save()
        cycle = Cycle(
            site,
            client,
            config,
            run,
            connection_id=connection.pk,
            full=full,
            dry_run=dry_run,
            keep_alive=lambda: lease.renew(connection.pk, holder),
        )
        try:
            # Every call of the cycle spends at the sync's priority: it is the first to yield.
            with api_priority(SYNC):
                cycle.execute()
        except BudgetExhausted as error:
            # The budget stopped the cycle part-way; what was stored stays (the watermark
            # moved only past what was), and a later cycle carries on.
            logger.info("Sync cycle of %s stopped by the API budget: %s", site, error)
            run.errors.append({"message": str(error), "level": "warning"})
            run.status = SyncRunStatus.PARTIAL
        except Exception as error:
            # Recorded on the run; the watermark did not move past what was stored.
            logger.exception("Sync cycle of %s failed", site)
            run.errors.append({"message": f"{type(error).__name__}: {error}", "level": "error"})
            run.status = SyncRunStatus.FAILED
        else:
            failures = [e for e in run.errors if e.get("level") not in ("info", "warning")]
            run.status = SyncRunStatus.PARTIAL if failures else SyncRunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        if not dry_run:
            run.save()
        return CycleOutcome(run=run)
    finally:
        lease.release(connection.pk, holder)


def _record_blocked(site: Site, problem: str, *, full: bool, dry_run: bool) -> SyncRun:
    """A failed run that says why the cycle could not start, so the runs list and the
    dashboard show the problem instead of the last success."""
    now = timezone.now()
    run = SyncRun(
        site=site,
        full=full,
        dry_run=dry_run,
        started_at=now,
        finished_at=now,
        status=SyncRunStatus.FAILED,
        errors=[{"message": problem, "level": "error"}],
    )
    if not dry_run:
        run.save()
    logger.warning("Sync of %s could not start: %s", site, untrusted(problem, "reason"))
    return run


ABANDONED_RUN_MESSAGE = (
    "The worker running this cycle stopped before it finished (its lease ran out); the next "
    "cycle carried on from the last stored watermark."
)


def _close_abandoned_runs(site: Site) -> None:
    """Mark the site's runs still "running" as failed: a run is running only while its worker
    holds the lease, and we hold it now, so their workers died (killed, out of memory)."""
    for run in SyncRun.objects.filter(site=site, status=SyncRunStatus.RUNNING):
        run.status = SyncRunStatus.FAILED
        run.errors = [*run.errors, {"message": ABANDONED_RUN_MESSAGE, "level": "error"}]
        run.save(update_fields=["status", "errors"])
        logger.warning("Sync run %s of %s was abandoned by its worker", run.pk, site)


def connected_sites() -> list[Site]:
    return [
        connection.site
        for connection in SalesforceConnection.objects.filter(
            enabled=True, status=ConnectionStatus.CONNECTED
        ).select_related("site")
    ]


def is_due(site: Site, interval_minutes: int, now: datetime.datetime | None = None) -> bool:
    """Whether ``site``'s last (non-dry) run started at least ``interval_minutes`` ago (times
    ``API_BUDGET_SYNC_STRETCH`` while the API budget slows the sync)."""
    last = (
        SyncRun.objects.filter(site=site, dry_run=False)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    now = now or timezone.now()
    # Near the API budget the interval stretches (API_BUDGET_SYNC_STRETCH), leaving calls to
    # form delivery.
    minutes = interval_minutes * site_budget(site.pk).sync_stretch
    # A little slack so a schedule firing every N minutes is not skipped by clock jitter.
    return last is None or now - last >= datetime.timedelta(minutes=minutes, seconds=-20)
