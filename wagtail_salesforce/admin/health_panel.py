"""Dashboard panel: each connected site's Salesforce health (``wagtail_salesforce.health``).

Registered from the app's ``wagtail_hooks.py``::

    from wagtail_salesforce.admin.health_panel import add_health_panel

    hooks.register("construct_homepage_panels", add_health_panel)
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from wagtail.admin.ui.components import Component

from wagtail_salesforce.admin.views import user_can_manage
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.health import Health, site_health


class HealthPanel(Component):
    """Connection, last sync, outbox backlog and oldest age, dead letters and API usage per
    site, warnings first."""

    name = "wagtail_salesforce_health"
    template_name = "wagtail_salesforce/health_panel.html"
    order = 20

    def __init__(self, rows: list[tuple[SalesforceConnection, Health]]) -> None:
        self.rows = rows

    def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
        return {
            "rows": [
                {
                    "site": connection.site,
                    "health": health,
                    "settings_url": reverse("wagtail_salesforce:edit", args=[connection.site_id]),
                }
                for connection, health in self.rows
            ]
        }


def add_health_panel(request: HttpRequest, panels: list[Any]) -> None:
    """``construct_homepage_panels``: the panel, for users who may manage the connection."""
    if not user_can_manage(request.user):
        return
    connections = SalesforceConnection.objects.filter(enabled=True).select_related("site")
    rows = [(connection, site_health(connection.site_id)) for connection in connections]
    if rows:
        panels.append(HealthPanel(rows))
