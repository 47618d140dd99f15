"""The outbox's Wagtail hook functions, registered from the app's ``wagtail_hooks.py``::

from wagtail_salesforce.outbox import admin_hooks as outbox_hooks

hooks.register("register_admin_urls", outbox_hooks.admin_urls)
hooks.register("register_reports_menu_item", outbox_hooks.reports_menu_item)
hooks.register("register_permissions", outbox_hooks.permissions)
hooks.register("register_log_actions", outbox_hooks.register_log_actions)
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.menu import MenuItem

from . import admin_urls as outbox_urls
from .views import register_log_actions, user_can_view_outbox

__all__ = [
    "OutboxMenuItem",
    "admin_urls",
    "permissions",
    "register_log_actions",
    "reports_menu_item",
]


def admin_urls() -> list[Any]:
    """``register_admin_urls``: the report and Retry under ``/admin/salesforce/outbox/``."""
    return [path("salesforce/outbox/", include(outbox_urls, namespace=outbox_urls.app_name))]


class OutboxMenuItem(MenuItem):
    def is_shown(self, request: HttpRequest) -> bool:
        return user_can_view_outbox(request.user)


def reports_menu_item() -> MenuItem:
    """``register_reports_menu_item``: Reports → Salesforce outbox."""
    return OutboxMenuItem(
        _("Salesforce outbox"),
        reverse("wagtail_salesforce_outbox:index"),
        name="salesforce-outbox",
        icon_name="resubmit",
        order=900,
    )


def permissions() -> QuerySet[Permission]:
    """``register_permissions``: "Can view and retry the Salesforce outbox" on the group page."""
    return Permission.objects.filter(
        content_type__app_label="wagtail_salesforce", codename="view_outbox"
    )
