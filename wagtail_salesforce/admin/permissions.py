"""Who may open which screen and do which action, as Wagtail permission policies.

One Django permission per job (the models' ``Meta.permissions``), so that a group can be given
exactly the screens its people need:

==========================================  ================================================
permission (``wagtail_salesforce.…``)       opens
==========================================  ================================================
``view_lead``                               Leads (read), a lead's page (read), Sync runs
``edit_lead``                               a lead's edit form, "Add lead", the bulk action
                                            "Send in the next sync"
``export_lead``                             the Leads CSV/XLSX export and segment exports
``manage_segment``                          Segments: list, save from Leads, delete
``view_outboxentry``                        Reports → Salesforce outbox and its export
``retry_outboxentry``                       the outbox's Retry
``correct_outboxentry``                     correcting a dead letter before resending it
``manage_connection``                       Settings → Salesforce (panel, Connect, Test,
                                            Disconnect), Sync now, the dashboard panel
``access_person``                           Settings → Personal data requests: look a person
                                            up, download their data (JSON)
``erase_person``                            the same screen: look up, erase a person's data
==========================================  ================================================

Sync now spends the org's API calls and acts on the connection, so it belongs with the
connection; the history of runs is about leads, so viewing leads opens it. Superusers hold every
permission.

Refusals are a real 403 page: raising ``PermissionDenied`` would not do, because Wagtail's admin
URL wrapper turns it into a redirect to the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Permission
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from wagtail.permission_policies.base import ModelPermissionPolicy

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import OutboxEntry
from wagtail_salesforce.sync.models import ErasureTombstone, Lead, Segment, SyncRun

User = AbstractBaseUser | AnonymousUser

APP_LABEL = "wagtail_salesforce"


class PluginPermissionPolicy(ModelPermissionPolicy):
    """Wagtail's model permission policy, where an action may name its codename outright.

    An action checks ``<action>_<model>`` of ``auth_model`` (Django's convention, e.g.
    ``export_lead``) unless ``codenames`` maps it to another codename: that is how Wagtail's
    generic views' ``add``/``change``/``delete`` land on the screen's one permission.
    """

    def __init__(
        self,
        model: type[Model],
        auth_model: type[Model] | None = None,
        codenames: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(model, auth_model=auth_model)
        self.codenames = dict(codenames or {})

    def _get_permission_codename(self, action: str) -> str:
        if action in self.codenames:
            return self.codenames[action]
        codename: str = super()._get_permission_codename(action)
        return codename

    def user_has_permission(self, user: User, action: str) -> bool:
        # has_perm is False for inactive users and True for active superusers.
        return bool(user.has_perm(self._get_permission_name(action)))  # type: ignore[union-attr]

    def permission_codenames(self, actions: list[str]) -> list[str]:
        return sorted(self._get_permission_codenames(actions))


# Leads: read, edit (add, edit, send again), export.
leads_policy = PluginPermissionPolicy(Lead, codenames={"add": "edit_lead", "change": "edit_lead"})
LEAD_ACTIONS = ["view", "edit", "export"]
# Segments: one permission for the screen, whatever Wagtail's generic views ask.
segments_policy = PluginPermissionPolicy(
    Segment,
    codenames=dict.fromkeys(["view", "add", "change", "delete", "manage"], "manage_segment"),
)
SEGMENT_ACTIONS = ["manage"]
# Sync runs are read with the leads' permission.
sync_runs_policy = PluginPermissionPolicy(SyncRun, auth_model=Lead)
# The outbox: read (and export what is read), retry, correct.
outbox_policy = PluginPermissionPolicy(OutboxEntry)
OUTBOX_ACTIONS = ["view", "retry", "correct"]
# Settings → Salesforce, Sync now, the dashboard panel.
connection_policy = PluginPermissionPolicy(
    SalesforceConnection,
    codenames=dict.fromkeys(["view", "change", "manage"], "manage_connection"),
)
CONNECTION_ACTIONS = ["manage"]
# Personal data requests: export (access) and erase, separately.
people_policy = PluginPermissionPolicy(
    ErasureTombstone, codenames={"access": "access_person", "erase": "erase_person"}
)
PEOPLE_ACTIONS = ["access", "erase"]


def plugin_permissions() -> QuerySet[Permission]:
    """Every permission the plugin checks, for the group edit page (``register_permissions``)."""
    granted = Q()
    for policy, actions in (
        (leads_policy, LEAD_ACTIONS),
        (segments_policy, SEGMENT_ACTIONS),
        (outbox_policy, OUTBOX_ACTIONS),
        (connection_policy, CONNECTION_ACTIONS),
        (people_policy, PEOPLE_ACTIONS),
    ):
        granted |= Q(
            content_type__app_label=APP_LABEL, codename__in=policy.permission_codenames(actions)
        )
    return Permission.objects.filter(granted)


MANAGE_FORBIDDEN = _(
    "You do not have permission to manage the Salesforce connection. Ask an administrator for "
    "the “Can manage the connection to Salesforce” permission."
)
OUTBOX_FORBIDDEN = _(
    "You do not have permission to view the Salesforce outbox. Ask an administrator for the "
    "“Can view” permission on outbox entries."
)
RETRY_FORBIDDEN = _(
    "You do not have permission to retry Salesforce deliveries. Ask an administrator for the "
    "“Can retry Salesforce deliveries” permission."
)
VIEW_LEADS_FORBIDDEN = _(
    "You do not have permission to view leads. Ask an administrator for the “Can view” "
    "permission on leads."
)
EDIT_LEADS_FORBIDDEN = _(
    "You do not have permission to edit leads. Ask an administrator for the “Can add and edit "
    "leads” permission."
)
EXPORT_LEADS_FORBIDDEN = _(
    "You do not have permission to export leads. Ask an administrator for the “Can export "
    "leads” permission."
)
SEGMENTS_FORBIDDEN = _(
    "You do not have permission to manage segments. Ask an administrator for the “Can save and "
    "delete lead segments” permission."
)

PEOPLE_FORBIDDEN = _(
    "You do not have permission to handle personal data requests. Ask an administrator for the "
    "“Can export a person's data” or “Can erase a person's data” permission."
)
ACCESS_PERSON_FORBIDDEN = _(
    "You do not have permission to export a person's data. Ask an administrator for the “Can "
    "export a person's data” permission."
)
ERASE_PERSON_FORBIDDEN = _(
    "You do not have permission to erase a person's data. Ask an administrator for the “Can "
    "erase a person's data” permission."
)


def user_can_manage(user: User) -> bool:
    return connection_policy.user_has_permission(user, "manage")


def user_can_view_outbox(user: User) -> bool:
    return outbox_policy.user_has_permission(user, "view")


def sync_permissions(user: User) -> dict[str, bool]:
    """What the Leads, Segments and Sync runs templates may offer this user (links, forms)."""
    return {
        "can_view_leads": leads_policy.user_has_permission(user, "view"),
        "can_edit_leads": leads_policy.user_has_permission(user, "edit"),
        "can_export_leads": leads_policy.user_has_permission(user, "export"),
        "can_manage_segments": segments_policy.user_has_permission(user, "manage"),
        "can_sync": connection_policy.user_has_permission(user, "manage"),
    }


def forbidden_response(request: HttpRequest, message: Any = MANAGE_FORBIDDEN) -> HttpResponse:
    """A 403 page inside the admin, saying which permission to ask for."""
    return TemplateResponse(
        request, "wagtail_salesforce/forbidden.html", {"message": message}, status=403
    )


class PolicyRequiredMixin:
    """For class-based views: answer 403 (``forbidden_message``) unless the view's
    ``permission_policy`` lets the user do ``policy_action``."""

    permission_policy: PluginPermissionPolicy
    policy_action = "view"
    forbidden_message: Any = MANAGE_FORBIDDEN

    def check_policy(self, request: HttpRequest) -> HttpResponse | None:
        """None when the user may go on, else the 403 page."""
        if not self.permission_policy.user_has_permission(request.user, self.policy_action):
            return forbidden_response(request, self.forbidden_message)
        return None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refusal = self.check_policy(request)
        if refusal is not None:
            return refusal
        response: HttpResponse = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        return response


def policy_required(
    policy: PluginPermissionPolicy, action: str = "manage", message: Any = MANAGE_FORBIDDEN
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """For function views: the same check as :class:`PolicyRequiredMixin`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not policy.user_has_permission(request.user, action):
                return forbidden_response(request, message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


manage_permission_required = policy_required(connection_policy, "manage", MANAGE_FORBIDDEN)
