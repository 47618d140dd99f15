"""Every Wagtail hook of the plugin: admin URLs, menu items, permissions, the dashboard panel
and audit-log actions. The screens themselves live in ``admin/``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.log_actions import LogFormatter

from wagtail_salesforce.admin import urls as admin_urls
from wagtail_salesforce.admin.corrections import CORRECT_ACTION
from wagtail_salesforce.admin.exports import EXPORT_ACTION
from wagtail_salesforce.admin.health_panel import add_health_panel
from wagtail_salesforce.admin.outbox import DELIVER_HELD_ACTION, RETRY_ACTION
from wagtail_salesforce.admin.permissions import (
    PluginPermissionPolicy,
    connection_policy,
    leads_policy,
    outbox_policy,
    people_policy,
    plugin_permissions,
)
from wagtail_salesforce.admin.sync.bulk_actions import (
    SEND_IN_NEXT_SYNC_ACTION,
    SendInNextSyncBulkAction,
)
from wagtail_salesforce.admin.sync.runs import SYNC_NOW_ACTION
from wagtail_salesforce.people.erasure import ERASE_ACTION


class PolicyMenuItem(MenuItem):
    """A menu item shown to users the screen's permission policy lets do ``action`` (or any of
    ``actions``)."""

    def __init__(
        self,
        *args: Any,
        policy: PluginPermissionPolicy,
        action: str = "view",
        actions: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.actions = actions or (action,)

    def is_shown(self, request: HttpRequest) -> bool:
        return any(self.policy.user_has_permission(request.user, a) for a in self.actions)


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
        action="manage",
    )


@hooks.register("register_settings_menu_item")
def register_people_menu_item() -> MenuItem:
    return PolicyMenuItem(
        _("Personal data requests"),
        reverse("wagtail_salesforce:people"),
        name="salesforce-people",
        icon_name="user",
        order=901,
        policy=people_policy,
        actions=("access", "erase"),
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
    # Shown on the group edit page (Settings → Groups) in the rows Lead, Segment, Outbox entry
    # and Salesforce connection.
    return plugin_permissions()


# A bulk action registers its class itself (Wagtail's own bulk actions are registered this way).
hooks.register("register_bulk_action", SendInNextSyncBulkAction)


@hooks.register("construct_homepage_panels")
def construct_homepage_panels(request: HttpRequest, panels: list[Any]) -> None:
    add_health_panel(request, panels)


class CorrectionFormatter(LogFormatter):
    """ "Corrected first_name, email and queued for delivery": the fields, never their values
    (those stay in the entry's data, which the site history neither shows nor exports)."""

    label = _("Correct and resend a failed delivery")

    def format_message(self, log_entry: Any) -> str:
        fields = (log_entry.data or {}).get("fields") or []
        return _("Corrected %(fields)s and queued for delivery") % {
            "fields": ", ".join(str(name) for name in fields) or "—"
        }


class ExportFormatter(LogFormatter):
    """ "Exported 12 rows from Leads (CSV)": the entry's data says which listing."""

    label = _("Export leads or outbox entries")
    listings = {
        "leads": _("Leads"),
        "segment": _("a segment"),
        "outbox": _("the Salesforce outbox"),
        "person": _("a person's data (access request)"),
    }

    def format_message(self, log_entry: Any) -> str:
        data = log_entry.data or {}
        listing = data.get("listing", "")
        return _("Exported %(rows)s rows from %(listing)s (%(format)s)") % {
            "rows": data.get("rows", "?"),
            "listing": self.listings.get(listing, listing),
            "format": str(data.get("format", "")).upper(),
        }


class ErasureFormatter(LogFormatter):
    """ "Erased a person's data (3f2a…): Salesforce records deleted": by hash only."""

    label = _("Erase a person's data")
    salesforce = {
        "keep": _("Salesforce records kept"),
        "anonymise": _("Salesforce records anonymised"),
        "delete": _("Salesforce records deleted"),
    }

    def format_message(self, log_entry: Any) -> str:
        data = log_entry.data or {}
        choice = str(data.get("salesforce", ""))
        return _("Erased a person's data (%(person)s…): %(salesforce)s") % {
            "person": str(data.get("person", ""))[:16],
            "salesforce": self.salesforce.get(choice, choice),
        }


@hooks.register("register_log_actions")
def register_log_actions(actions: Any) -> None:
    """Every audit-log action of the plugin. Leads and segments use Wagtail's own
    ``wagtail.create``, ``wagtail.edit`` and ``wagtail.delete``."""
    register = actions.register_action
    # Settings → Salesforce (admin/connection/).
    register(
        "wagtail_salesforce.settings_saved",
        _("Save Salesforce settings"),
        _("Salesforce settings saved"),
    )
    register(
        "wagtail_salesforce.connect_started",
        _("Start connecting to Salesforce"),
        _("Sent to Salesforce to authorise the connection"),
    )
    register(
        "wagtail_salesforce.connect_denied",
        _("Salesforce authorisation denied"),
        _("Salesforce authorisation was denied"),
    )
    register(
        "wagtail_salesforce.connect_failed",
        _("Connecting to Salesforce failed"),
        _("Connecting to Salesforce failed"),
    )
    # The success of Connect keeps its first name.
    register("wagtail_salesforce.connect", _("Connect to Salesforce"), _("Connected to Salesforce"))
    register(
        "wagtail_salesforce.test_connection",
        _("Test the Salesforce connection"),
        _("Salesforce connection tested"),
    )
    register(
        "wagtail_salesforce.disconnect",
        _("Disconnect from Salesforce"),
        _("Disconnected from Salesforce"),
    )
    register(
        "wagtail_salesforce.reauth_required",
        _("Salesforce re-authorisation required"),
        _("Salesforce refused the refresh token: re-authorisation required"),
    )
    # Sync, leads, exports, outbox.
    register(SYNC_NOW_ACTION, _("Sync with Salesforce now"), _("Salesforce sync queued"))
    register(
        SEND_IN_NEXT_SYNC_ACTION,
        _("Send in the next sync"),
        _("Marked to be sent to Salesforce in the next sync"),
    )
    register(EXPORT_ACTION)(ExportFormatter)
    register(ERASE_ACTION)(ErasureFormatter)
    register(RETRY_ACTION, _("Retry Salesforce delivery"), _("Salesforce delivery queued again"))
    register(
        DELIVER_HELD_ACTION,
        _("Deliver held submission anyway"),
        _("Submission held as spam released for delivery"),
    )
    register(CORRECT_ACTION)(CorrectionFormatter)
