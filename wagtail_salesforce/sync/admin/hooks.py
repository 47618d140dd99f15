"""Wagtail hooks of the sync admin. Importing this module registers them (the package's
``wagtail_hooks.py`` imports it): admin URLs, a "Leads" menu item, the last run on the dashboard.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.components import Component

from wagtail_salesforce.admin.views import user_can_manage
from wagtail_salesforce.sync.models import Lead, SyncRun

from . import urls as sync_urls


@hooks.register("register_admin_urls")
def register_sync_admin_urls() -> list[Any]:
    return [path("salesforce/sync/", include(sync_urls, namespace="wagtail_salesforce_sync"))]


class LeadsMenuItem(MenuItem):
    def is_shown(self, request: HttpRequest) -> bool:
        return user_can_manage(request.user)


@hooks.register("register_admin_menu_item")
def register_leads_menu_item() -> MenuItem:
    return LeadsMenuItem(
        _("Leads"), reverse("wagtail_salesforce_sync:index"), icon_name="group", order=850
    )


class LastSyncRunPanel(Component):
    """Dashboard panel: each site's latest sync run and how many leads wait to be sent."""

    name = "wagtail_salesforce_last_sync_run"
    template_name = "wagtail_salesforce/sync/home_panel.html"
    order = 120

    def __init__(self, runs: list[tuple[SyncRun, int]]) -> None:
        self.runs = runs

    def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
        return {"runs": self.runs}


@hooks.register("construct_homepage_panels")
def add_last_sync_run_panel(request: HttpRequest, panels: list[Any]) -> None:
    if not user_can_manage(request.user):
        return
    latest: dict[int, SyncRun] = {}
    for run in SyncRun.objects.filter(dry_run=False).select_related("site")[:50]:
        latest.setdefault(run.site_id, run)
    if latest:
        panels.append(
            LastSyncRunPanel(
                [
                    (run, Lead.objects.filter(site_id=site_id, needs_push=True).count())
                    for site_id, run in latest.items()
                ]
            )
        )
