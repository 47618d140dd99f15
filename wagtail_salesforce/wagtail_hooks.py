"""Wagtail hooks: admin URLs, the Settings → Salesforce menu item, permissions, dashboard
banner and audit-log actions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.components import Component

from wagtail_salesforce.admin import urls as admin_urls
from wagtail_salesforce.admin.health_panel import add_health_panel
from wagtail_salesforce.admin.views import user_can_manage
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.outbox import admin_hooks as outbox_hooks
from wagtail_salesforce.sync.admin import hooks as sync_hooks  # noqa: F401 - registers on import


@hooks.register("register_admin_urls")
def register_admin_urls() -> list[Any]:
    return [path("salesforce/", include(admin_urls, namespace="wagtail_salesforce"))]


class SalesforceMenuItem(MenuItem):
    def is_shown(self, request: HttpRequest) -> bool:
        return user_can_manage(request.user)


@hooks.register("register_settings_menu_item")
def register_settings_menu_item() -> MenuItem:
    return SalesforceMenuItem(
        _("Salesforce"), reverse("wagtail_salesforce:index"), icon_name="link", order=900
    )


@hooks.register("register_permissions")
def register_permissions() -> QuerySet[Permission]:
    # Shown on the group edit page (Settings → Groups) under "Salesforce connection".
    return Permission.objects.filter(
        content_type__app_label="wagtail_salesforce", codename="manage_connection"
    )


class ConnectionProblemsPanel(Component):
    """Dashboard banner: connections that need re-authorisation or are in error."""

    name = "wagtail_salesforce_connection_problems"
    template_name = "wagtail_salesforce/home_panel.html"
    order = 10

    def __init__(self, connections: list[SalesforceConnection]) -> None:
        self.connections = connections

    def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
        return {
            "connections": [
                (
                    connection,
                    reverse("wagtail_salesforce:edit", args=[connection.site_id]),
                    connection.status == ConnectionStatus.NEEDS_REAUTH,
                )
                for connection in self.connections
            ]
        }


@hooks.register("construct_homepage_panels")
def add_connection_problems_panel(request: HttpRequest, panels: list[Any]) -> None:
    if not user_can_manage(request.user):
        return
    broken = list(
        SalesforceConnection.objects.filter(
            enabled=True, status__in=[ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ERROR]
        ).select_related("site")
    )
    if broken:
        panels.append(ConnectionProblemsPanel(broken))


@hooks.register("register_log_actions")
def register_log_actions(actions: Any) -> None:
    actions.register_action(
        "wagtail_salesforce.connect", _("Connect to Salesforce"), _("Connected to Salesforce")
    )
    actions.register_action(
        "wagtail_salesforce.disconnect",
        _("Disconnect from Salesforce"),
        _("Disconnected from Salesforce"),
    )
    actions.register_action(
        "wagtail_salesforce.reauth_required",
        _("Salesforce re-authorisation required"),
        _("Salesforce refused the refresh token: re-authorisation required"),
    )


# The outbox: Reports → Salesforce outbox, Retry, its permission and log actions.
hooks.register("register_admin_urls", outbox_hooks.admin_urls)
hooks.register("register_reports_menu_item", outbox_hooks.reports_menu_item)
hooks.register("register_permissions", outbox_hooks.permissions)
hooks.register("register_log_actions", outbox_hooks.register_log_actions)

# The dashboard's health panel: connection, last sync, outbox backlog, dead letters, API usage.
hooks.register("construct_homepage_panels", add_health_panel)
