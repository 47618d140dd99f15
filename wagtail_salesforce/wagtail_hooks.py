"""Every Wagtail hook of the plugin: admin URLs, menu items, permissions, the dashboard panel
and audit-log actions. The screens themselves live in ``admin/``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem

from wagtail_salesforce.admin import urls as admin_urls
from wagtail_salesforce.admin.health_panel import add_health_panel
from wagtail_salesforce.admin.outbox import register_log_actions as register_outbox_log_actions
from wagtail_salesforce.admin.permissions import (
    connection_policy,
    leads_policy,
    outbox_policy,
)
from wagtail_salesforce.admin.sync.bulk_actions import SendInNextSyncBulkAction


class PolicyMenuItem(MenuItem):
    """A menu item shown to users the screen's permission policy lets in."""

    def __init__(self, *args: Any, policy: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy

    def is_shown(self, request: HttpRequest) -> bool:
        return bool(self.policy.user_has_permission(request.user, "view"))


@hooks.register("register_admin_urls")
def register_admin_urls() -> list[Any]:
    return [path("salesforce/", include(admin_urls, namespace="wagtail_salesforce"))]


@hooks.register("register_settings_menu_item")
def register_settings_menu_item() -> MenuItem:
    return PolicyMenuItem(
        _("Salesforce"),
        reverse("wagtail_salesforce:index"),
        icon_name="link",
        order=900,
        policy=connection_policy,
    )


@hooks.register("register_admin_menu_item")
def register_leads_menu_item() -> MenuItem:
    return PolicyMenuItem(
        _("Leads"),
        reverse("wagtail_salesforce:leads"),
        icon_name="group",
        order=850,
        policy=leads_policy,
    )


@hooks.register("register_reports_menu_item")
def register_outbox_menu_item() -> MenuItem:
    return PolicyMenuItem(
        _("Salesforce outbox"),
        reverse("wagtail_salesforce:outbox"),
        name="salesforce-outbox",
        icon_name="resubmit",
        order=900,
        policy=outbox_policy,
    )


@hooks.register("register_permissions")
def register_permissions() -> QuerySet[Permission]:
    # Shown on the group edit page (Settings → Groups) under "Salesforce connection" and
    # "Salesforce outbox entry".
    codenames = {*connection_policy.codenames(), *outbox_policy.codenames()}
    return Permission.objects.filter(
        Q(content_type__app_label="wagtail_salesforce", codename__in=codenames)
    )


# A bulk action registers its class itself (Wagtail's own bulk actions are registered this way).
hooks.register("register_bulk_action", SendInNextSyncBulkAction)


@hooks.register("construct_homepage_panels")
def construct_homepage_panels(request: HttpRequest, panels: list[Any]) -> None:
    add_health_panel(request, panels)


@hooks.register("register_log_actions")
def register_log_actions(actions: Any) -> None:
    actions.register_action(
        "wagtail_salesforce.connect", _("Connect to Salesforce"), _("Connected to Salesforce")
    )
    actions.register_action(
        "wagtail_salesforce.settings_saved",
        _("Save Salesforce settings"),
        _("Salesforce settings saved"),
    )
    actions.register_action(
        "wagtail_salesforce.connect_started",
        _("Start connecting to Salesforce"),
        _("Connecting to Salesforce started"),
    )
    actions.register_action(
        "wagtail_salesforce.connect_denied",
        _("Salesforce connection denied"),
        _("Connecting to Salesforce was denied at Salesforce"),
    )
    actions.register_action(
        "wagtail_salesforce.connect_failed",
        _("Salesforce connection failed"),
        _("Connecting to Salesforce failed"),
    )
    actions.register_action(
        "wagtail_salesforce.test_connection",
        _("Test the Salesforce connection"),
        _("Salesforce connection tested"),
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
    register_outbox_log_actions(actions)
