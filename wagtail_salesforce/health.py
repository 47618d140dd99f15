"""A site's Salesforce health at a glance, with warnings raised *before* limits bite.

``site_health(site)`` reads (never writes) the connection, the latest sync run, the outbox and
the API usage the client stored, and returns a frozen :class:`Health`. The dashboard panel
(``admin/health_panel.py``) shows it; monitoring can call it too (e.g. from a management command
or a status view) and alert on ``warnings``.

Thresholds come from ``WAGTAIL_SALESFORCE`` (read through :mod:`wagtail_salesforce.conf`):

``HEALTH_API_USAGE_WARNING_RATIO`` (0.8)
    warn when the org has used this share of its daily API requests;
``HEALTH_OUTBOX_MAX_AGE_MINUTES`` (15)
    warn when a submission has waited longer than this for delivery;
``HEALTH_SYNC_LATE_INTERVALS`` (3)
    warn when the last sync run started more than this many intervals ago.

The API budget (``wagtail_salesforce.client.budget``) is reported beside the usage: the
budget, its stage, and what it holds back (the sync slowed or yielding, submissions paused).
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Min
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from wagtail.models import Site

from wagtail_salesforce import conf
from wagtail_salesforce.client import BudgetState, Stage
from wagtail_salesforce.config import get_config
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.connection.usage import connection_budget
from wagtail_salesforce.exceptions import BudgetExhausted, SalesforceError
from wagtail_salesforce.heartbeat import last_heartbeat
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import SyncRun, SyncRunStatus

# The org's usage header is a rolling 24-hour count; older than this it says nothing of today.
API_USAGE_STALE_AFTER = datetime.timedelta(hours=24)


class Level(enum.StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class WarningCode(enum.StrEnum):
    """Stable identifiers (for alerts and docs/en/operations.md); the message is for people."""

    CONNECTION = "connection"
    API_USAGE = "api_usage"
    API_LIMIT_REACHED = "api_limit_reached"
    OUTBOX_BACKLOG_OLD = "outbox_backlog_old"
    DEAD_LETTERS = "dead_letters"
    SYNC_LATE = "sync_late"
    SYNC_NEVER_RAN = "sync_never_ran"
    SYNC_FAILED = "sync_failed"
    SYNC_YIELDING = "sync_yielding"
    API_BUDGET_REACHED = "api_budget_reached"
    CONFIG_INVALID = "config_invalid"


@dataclass(frozen=True)
class HealthWarning:
    code: WarningCode
    level: Level
    message: str | Promise


@dataclass(frozen=True)
class Health:
    """What ``site_health`` found. Ages are ``None`` when there is nothing to age."""

    site_id: int
    checked_at: datetime.datetime
    connection_status: str  # a ConnectionStatus value ("not_configured" without a connection)
    connection_status_label: str | Promise
    connection_detail: str = ""
    # Sync (None when the YAML has no enabled sync section).
    sync_interval_minutes: int | None = None
    last_sync_started_at: datetime.datetime | None = None
    last_sync_finished_at: datetime.datetime | None = None
    last_sync_status: str = ""
    last_sync_status_label: str | Promise = ""
    last_sync_age: datetime.timedelta | None = None
    # Outbox: pending, retrying and paused entries.
    outbox_backlog: int = 0
    oldest_pending_at: datetime.datetime | None = None
    oldest_pending_age: datetime.timedelta | None = None
    dead_letters: int = 0
    # API: the org-wide count from Salesforce's Sforce-Limit-Info header (rolling 24 hours),
    # and the calls this site made today (the client's own counter).
    api_requests_used: int | None = None
    api_requests_max: int | None = None
    api_usage_at: datetime.datetime | None = None
    api_calls_today: int = 0
    # The API budget against that usage (None while no usage is known), its stage (a
    # client.budget.Stage value) and the submissions it holds paused.
    api_budget: int | None = None
    api_budget_stage: str = Stage.UNKNOWN.value
    api_budget_sync_slow_at: int | None = None
    api_budget_sync_yield_at: int | None = None
    budget_paused_entries: int = 0
    warnings: tuple[HealthWarning, ...] = field(default_factory=tuple)

    @property
    def api_usage_ratio(self) -> float | None:
        if self.api_requests_used is None or not self.api_requests_max:
            return None
        return self.api_requests_used / self.api_requests_max

    @property
    def api_usage_percent(self) -> int | None:
        ratio = self.api_usage_ratio
        return None if ratio is None else round(ratio * 100)

    @property
    def api_budget_percent(self) -> int | None:
        """The budget as a share of the org's limit, in percent."""
        if self.api_budget is None or not self.api_requests_max:
            return None
        return round(self.api_budget * 100 / self.api_requests_max)

    @property
    def sync_held_back(self) -> str:
        """``""``, ``"slowed"`` or ``"yielding"``: what the budget does to the sync now."""
        if self.api_budget_stage == Stage.SLOW:
            return "slowed"
        if self.api_budget_stage in (Stage.YIELD, Stage.EXHAUSTED):
            return "yielding"
        return ""

    @property
    def level(self) -> str:
        """``ok``, ``warning`` or ``critical``: the worst warning."""
        levels = {warning.level for warning in self.warnings}
        if Level.CRITICAL in levels:
            return Level.CRITICAL.value
        return Level.WARNING.value if levels else "ok"

    @property
    def ok(self) -> bool:
        return not self.warnings


def _sync_interval() -> tuple[int | None, HealthWarning | None]:
    """The sync interval in minutes (None without an enabled sync section), or a config
    warning when the YAML cannot be read."""
    try:
        sync = get_config().sync
    except SalesforceError as error:
        message = _("The Salesforce YAML config is invalid: %(error)s") % {"error": error}
        return None, HealthWarning(WarningCode.CONFIG_INVALID, Level.CRITICAL, message)
    if sync is None or not sync.enabled:
        return None, None
    return int(sync.interval_minutes), None


def _age(now: datetime.datetime, moment: datetime.datetime | None) -> datetime.timedelta | None:
    return None if moment is None else max(now - moment, datetime.timedelta(0))


def _minutes(delta: datetime.timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _budget_reached(budget: BudgetState, paused: int) -> HealthWarning:
    return HealthWarning(
        WarningCode.API_BUDGET_REACHED,
        Level.WARNING,
        ngettext_lazy(
            "The org's API usage (%(used)s) has reached the plugin's budget (%(budget)s): "
            "%(count)s submission waits and is delivered when the usage falls or the budget "
            "is raised.",
            "The org's API usage (%(used)s) has reached the plugin's budget (%(budget)s): "
            "%(count)s submissions wait and are delivered when the usage falls or the budget "
            "is raised.",
            "count",
        )
        % {"used": budget.used, "budget": budget.budget, "count": paused},
    )


def site_health(site: Site | int, *, now: datetime.datetime | None = None) -> Health:
    """The health of ``site``'s Salesforce integration (see the module docstring)."""
    site_id = site if isinstance(site, int) else site.pk
    now = now or timezone.now()
    warnings: list[HealthWarning] = []
    values: dict[str, Any] = {}

    connection = SalesforceConnection.objects.filter(site_id=site_id).first()
    if connection is None or not connection.enabled:
        status = ConnectionStatus.NOT_CONFIGURED
        values["connection_detail"] = ""
    else:
        status = ConnectionStatus(connection.status)
        values["connection_detail"] = connection.status_detail
        values["api_calls_today"] = connection.calls_today()
        fresh = connection.org_api_usage_at is not None and (
            now - connection.org_api_usage_at <= API_USAGE_STALE_AFTER
        )
        if fresh:
            values["api_requests_used"] = connection.org_api_requests_used
            values["api_requests_max"] = connection.org_api_requests_max
            values["api_usage_at"] = connection.org_api_usage_at
        if status in (ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ERROR):
            warnings.append(
                HealthWarning(
                    WarningCode.CONNECTION,
                    Level.CRITICAL,
                    _(
                        "The Salesforce connection is not working (%(status)s): submissions "
                        "wait in the outbox and sync is stopped until it is fixed."
                    )
                    % {"status": status.label},
                )
            )
        elif status != ConnectionStatus.CONNECTED:
            warnings.append(
                HealthWarning(
                    WarningCode.CONNECTION,
                    Level.WARNING,
                    _("Salesforce is enabled for this site but not connected: click Connect."),
                )
            )

    budget = connection_budget(connection) if "api_requests_used" in values else None
    if budget is not None:
        values["api_budget"] = budget.budget
        values["api_budget_stage"] = budget.stage.value
        values["api_budget_sync_slow_at"] = budget.slow_at
        values["api_budget_sync_yield_at"] = budget.yield_at
    values["budget_paused_entries"] = OutboxEntry.objects.filter(
        site_id=site_id, state=OutboxState.PAUSED, last_error_code=BudgetExhausted.code
    ).count()
    limit_reached = (
        budget is not None and budget.used is not None and (budget.used >= (budget.org_max or 0))
    )
    if budget is not None and budget.delivery_paused and not limit_reached:
        # (At the org's own limit api_limit_reached below says it all.)
        warnings.append(_budget_reached(budget, values["budget_paused_entries"]))

    used, maximum = values.get("api_requests_used"), values.get("api_requests_max")
    if used is not None and maximum:
        ratio = used / maximum
        if ratio >= 1:
            warnings.append(
                HealthWarning(
                    WarningCode.API_LIMIT_REACHED,
                    Level.CRITICAL,
                    _(
                        "The org has used all %(max)s of its daily API requests: deliveries "
                        "and sync are paused until Salesforce frees some."
                    )
                    % {"max": maximum},
                )
            )
        elif ratio >= conf.get_number("HEALTH_API_USAGE_WARNING_RATIO", positive=True):
            warnings.append(
                HealthWarning(
                    WarningCode.API_USAGE,
                    Level.WARNING,
                    _(
                        "The org has used %(percent)s%% of its daily API requests (%(used)s of "
                        "%(max)s)."
                    )
                    % {"percent": round(ratio * 100), "used": used, "max": maximum},
                )
            )

    open_states = (OutboxState.PENDING, OutboxState.RETRYING, OutboxState.PAUSED)
    backlog = OutboxEntry.objects.filter(site_id=site_id, state__in=open_states).aggregate(
        oldest=Min("created_at")
    )
    values["outbox_backlog"] = OutboxEntry.objects.filter(
        site_id=site_id, state__in=open_states
    ).count()
    values["oldest_pending_at"] = backlog["oldest"]
    values["oldest_pending_age"] = _age(now, backlog["oldest"])
    max_age = datetime.timedelta(
        minutes=conf.get_number("HEALTH_OUTBOX_MAX_AGE_MINUTES", positive=True)
    )
    if values["oldest_pending_age"] is not None and values["oldest_pending_age"] > max_age:
        warnings.append(
            HealthWarning(
                WarningCode.OUTBOX_BACKLOG_OLD,
                Level.WARNING,
                ngettext_lazy(
                    "A submission has waited %(minutes)s minutes for delivery (%(count)s waiting).",
                    "A submission has waited %(minutes)s minutes for delivery (%(count)s waiting).",
                    "count",
                )
                % {
                    "minutes": _minutes(values["oldest_pending_age"]),
                    "count": values["outbox_backlog"],
                },
            )
        )
    values["dead_letters"] = OutboxEntry.objects.filter(
        site_id=site_id, state=OutboxState.DEAD
    ).count()
    if values["dead_letters"]:
        warnings.append(
            HealthWarning(
                WarningCode.DEAD_LETTERS,
                Level.WARNING,
                ngettext_lazy(
                    "%(count)s submission failed permanently: fix the cause, then Retry it in "
                    "Reports → Salesforce outbox.",
                    "%(count)s submissions failed permanently: fix the cause, then Retry them "
                    "in Reports → Salesforce outbox.",
                    "count",
                )
                % {"count": values["dead_letters"]},
            )
        )

    interval, config_warning = _sync_interval()
    if config_warning is not None:
        warnings.append(config_warning)
    values["sync_interval_minutes"] = interval
    last_run = (
        SyncRun.objects.filter(site_id=site_id, dry_run=False).order_by("-started_at").first()
    )
    if last_run is not None:
        values["last_sync_started_at"] = last_run.started_at
        values["last_sync_finished_at"] = last_run.finished_at
        values["last_sync_status"] = last_run.status
        values["last_sync_status_label"] = last_run.get_status_display()
        values["last_sync_age"] = _age(now, last_run.started_at)
    connected = interval is not None and status == ConnectionStatus.CONNECTED
    if connected and budget is not None and budget.sync_yields:
        # Cycles are skipped on purpose: say so instead of "is a cluster running?" (at the
        # org's own limit api_limit_reached has said it already).
        if not limit_reached:
            warnings.append(
                HealthWarning(
                    WarningCode.SYNC_YIELDING,
                    Level.WARNING,
                    _(
                        "Sync is yielding to form delivery: the org's API usage (%(used)s) is near "
                        "the budget (%(budget)s). It carries on when the usage falls or the budget "
                        "is raised."
                    )
                    % {"used": budget.used, "budget": budget.budget},
                )
            )
    elif connected and interval is not None:
        late_after = datetime.timedelta(
            minutes=interval * conf.get_number("HEALTH_SYNC_LATE_INTERVALS", positive=True)
        )
        if last_run is None:
            # A site connected a moment ago has no run yet while a cluster is busy: ask about
            # the cluster only when no cluster has finished any of our tasks lately.
            heartbeat = last_heartbeat()
            if heartbeat is None or now - heartbeat > late_after:
                warnings.append(
                    HealthWarning(
                        WarningCode.SYNC_NEVER_RAN,
                        Level.WARNING,
                        _("Sync is configured but has never run: is a django-q2 cluster running?"),
                    )
                )
        elif values["last_sync_age"] > late_after:
            warnings.append(
                HealthWarning(
                    WarningCode.SYNC_LATE,
                    Level.WARNING,
                    _(
                        "The last sync started %(minutes)s minutes ago (every %(interval)s "
                        "minutes expected): is a django-q2 cluster running?"
                    )
                    % {"minutes": _minutes(values["last_sync_age"]), "interval": interval},
                )
            )
        if last_run is not None and last_run.status == SyncRunStatus.FAILED:
            warnings.append(
                HealthWarning(
                    WarningCode.SYNC_FAILED,
                    Level.WARNING,
                    _("The last sync run failed: see its errors in the sync history."),
                )
            )

    return Health(
        site_id=site_id,
        checked_at=now,
        connection_status=status.value,
        connection_status_label=status.label,
        warnings=tuple(warnings),
        **values,
    )
