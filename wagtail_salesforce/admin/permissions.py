"""Who may open which screen, as Wagtail permission policies.

Each screen names a policy; today the connection, leads, segments and sync runs share "manage the
Salesforce connection" (leads are personal data), and the outbox also opens with "view and retry
the outbox". Giving a screen its own permission is a change of its policy here, nothing else.

Refusals are a real 403 page: raising ``PermissionDenied`` would not do, because Wagtail's admin
URL wrapper turns it into a redirect to the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Permission
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from wagtail.permission_policies.base import BasePermissionPolicy

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import OutboxEntry
from wagtail_salesforce.sync.models import Lead, Segment, SyncRun

User = AbstractBaseUser | AnonymousUser

MANAGE_CONNECTION = "wagtail_salesforce.manage_connection"
VIEW_OUTBOX = "wagtail_salesforce.view_outbox"


class AnyOfPermissionsPolicy(BasePermissionPolicy):
    """Every action on ``model`` is allowed to active users holding any of ``permissions``
    (``"app_label.codename"``); superusers hold them all."""

    def __init__(self, model: type[Model] | str, permissions: Iterable[str]) -> None:
        super().__init__(model)
        self.permissions = tuple(permissions)

    def user_has_permission(self, user: User, action: str) -> bool:
        # Django's auth backends answer has_perm for every user class (PermissionsMixin).
        return bool(
            user.is_active and any(user.has_perm(name) for name in self.permissions)  # type: ignore[attr-defined]
        )

    def user_has_any_permission(self, user: User, actions: Iterable[str]) -> bool:
        return self.user_has_permission(user, "")

    def users_with_any_permission(self, actions: Iterable[str]) -> QuerySet[Any]:
        users = get_user_model()._default_manager.filter(is_active=True)
        granted = Q(is_superuser=True)
        for name in self.permissions:
            app_label, codename = name.split(".", 1)
            permission = Q(content_type__app_label=app_label, codename=codename)
            matching = Permission.objects.filter(permission)
            granted |= Q(user_permissions__in=matching) | Q(groups__permissions__in=matching)
        return users.filter(granted).distinct()

    def users_with_permission(self, action: str) -> QuerySet[Any]:
        return self.users_with_any_permission([action])

    def codenames(self) -> list[str]:
        """The permissions' codenames, for ``register_permissions``."""
        return [name.split(".", 1)[1] for name in self.permissions]


# The connection panel, and the sync's screens for as long as they share its permission.
connection_policy = AnyOfPermissionsPolicy(SalesforceConnection, [MANAGE_CONNECTION])
leads_policy = AnyOfPermissionsPolicy(Lead, [MANAGE_CONNECTION])
segments_policy = AnyOfPermissionsPolicy(Segment, [MANAGE_CONNECTION])
sync_runs_policy = AnyOfPermissionsPolicy(SyncRun, [MANAGE_CONNECTION])
outbox_policy = AnyOfPermissionsPolicy(OutboxEntry, [VIEW_OUTBOX, MANAGE_CONNECTION])

MANAGE_FORBIDDEN = _(
    "You do not have permission to manage the Salesforce connection. Ask an administrator for "
    "the “Can manage the Salesforce connection” permission."
)
OUTBOX_FORBIDDEN = _(
    "You do not have permission to view the Salesforce outbox. Ask an administrator for the "
    "“Can view and retry the Salesforce outbox” permission."
)


def user_can_manage(user: User) -> bool:
    return connection_policy.user_has_permission(user, "change")


def user_can_view_outbox(user: User) -> bool:
    return outbox_policy.user_has_permission(user, "view")


def forbidden_response(request: HttpRequest, message: Any = MANAGE_FORBIDDEN) -> HttpResponse:
    """A 403 page inside the admin, saying which permission to ask for."""
    return TemplateResponse(
        request, "wagtail_salesforce/forbidden.html", {"message": message}, status=403
    )


class PolicyRequiredMixin:
    """For class-based views: answer 403 (``forbidden_message``) unless the view's
    ``permission_policy`` lets the user do ``policy_action``."""

    permission_policy: AnyOfPermissionsPolicy
    policy_action = "view"
    forbidden_message: Any = MANAGE_FORBIDDEN

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.permission_policy.user_has_permission(request.user, self.policy_action):
            return forbidden_response(request, self.forbidden_message)
        response: HttpResponse = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        return response


def policy_required(
    policy: AnyOfPermissionsPolicy, message: Any = MANAGE_FORBIDDEN
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """For function views: the same check as :class:`PolicyRequiredMixin`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not policy.user_has_permission(request.user, "change"):
                return forbidden_response(request, message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


manage_permission_required = policy_required(connection_policy)
