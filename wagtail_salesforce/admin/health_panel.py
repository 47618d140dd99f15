"""The dashboard's one Salesforce panel: per site, the connection (and what to do when it needs
re-authorisation or has an error), the last sync run, leads waiting to be pushed, the outbox
backlog, dead letters and API usage, warnings first. Figures come from ``health.site_health``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode
from wagtail.admin.ui.components import Component
from wagtail.models import Site

from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.health import Health, WarningCode, site_health
from wagtail_salesforce.sync.models import Lead, SyncRun

from .connection.views import STATUS_TONES
from .permissions import user_can_manage

# Connection states the panel raises as a problem, with the settings link to fix it.
PROBLEM_STATUSES = (ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ERROR)


@dataclass(frozen=True)
class SiteHealthRow:
    site: Site
    health: Health
    last_run: SyncRun | None
    pending_pushes: int
    settings_url: str
    runs_url: str

    @property
    def problem(self) -> str:
        """``needs_reauth`` or ``error`` when the connection needs someone, else ""."""
        status = self.health.connection_status
        return status if status in PROBLEM_STATUSES else ""

    @property
    def explanation(self) -> str:
        """Why the connection cannot be used and the fix, when the health knows it (an org
        without API access), else ""."""
        return next(
            (str(w.message) for w in self.health.warnings if w.code == WarningCode.API_DISABLED),
            "",
        )

    @property
    def status_tone(self) -> str:
        try:
            return STATUS_TONES[ConnectionStatus(self.health.connection_status)]
        except ValueError:
            return "default"


class HealthPanel(Component):
    name = "wagtail_salesforce_health"
    template_name = "wagtail_salesforce/health_panel.html"
    order = 10

    class Media:
        css = {"all": ["wagtail_salesforce/css/admin.css"]}

    def __init__(self, rows: list[SiteHealthRow]) -> None:
        self.rows = rows

    def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "problems": [row for row in self.rows if row.problem],
        }


def health_rows() -> list[SiteHealthRow]:
    """Sites with Salesforce turned on, or with a sync history."""
    site_ids = set(
        SalesforceConnection.objects.filter(enabled=True).values_list("site_id", flat=True)
    )
    latest: dict[int, SyncRun] = {}
    for run in SyncRun.objects.filter(dry_run=False).order_by("-started_at", "-pk")[:200]:
        latest.setdefault(run.site_id, run)
    site_ids |= set(latest)
    sites = Site.objects.filter(pk__in=site_ids).order_by("hostname", "port")
    return [
        SiteHealthRow(
            site=site,
            health=site_health(site),
            last_run=latest.get(site.pk),
            pending_pushes=Lead.objects.filter(site=site, needs_push=True).count(),
            settings_url=reverse("wagtail_salesforce:edit", args=[site.pk]),
            runs_url=reverse("wagtail_salesforce:sync_runs") + "?" + urlencode({"site": site.pk}),
        )
        for site in sites
    ]


def add_health_panel(request: HttpRequest, panels: list[Any]) -> None:
    """``construct_homepage_panels``: the panel, for users who may manage the connection."""
    if not user_can_manage(request.user):
        return
    rows = health_rows()
    if rows:
        panels.append(HealthPanel(rows))
