"""Wagtail admin views of the outbox: a report with state filters, and Retry (one or many)."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlsplit

import django_filters
from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.views.reports import ReportView
from wagtail.log_actions import log
from wagtail.log_actions import registry as log_registry

from wagtail_salesforce.admin.views import forbidden_response
from wagtail_salesforce.connection.models import SalesforceConnection

from .delivery import schedule_retry
from .models import OutboxEntry, OutboxState

RETRY_ACTION = "wagtail_salesforce.retry"
PERMISSIONS = ("wagtail_salesforce.view_outbox", "wagtail_salesforce.manage_connection")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def register_log_actions(actions: Any) -> None:
    """For the ``register_log_actions`` hook: the audit-log action of Retry."""
    actions.register_action(
        RETRY_ACTION, _("Retry Salesforce delivery"), _("Salesforce delivery queued again")
    )


def _ensure_log_action() -> None:
    # Until the hook is wired into wagtail_hooks.py, register the action on first use.
    if not log_registry.action_exists(RETRY_ACTION):
        register_log_actions(log_registry)


def outbox_forbidden(request: HttpRequest) -> HttpResponse:
    return forbidden_response(
        request,
        _(
            "You do not have permission to view the Salesforce outbox. Ask an administrator for "
            "the “Can view and retry the Salesforce outbox” permission."
        ),
    )


def user_can_view_outbox(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_active and any(user.has_perm(perm) for perm in PERMISSIONS))


def record_url(entry: OutboxEntry, connection: SalesforceConnection | None) -> str:
    """A link to the record in the org. The local sandbox serves records on its login host
    (``/browse/{Object}/{Id}``); a real org opens ``{instance_url}/{Id}``."""
    if connection is None or not entry.salesforce_id:
        return ""
    if urlsplit(connection.login_url).hostname in LOOPBACK_HOSTS:
        login = connection.login_url.rstrip("/")
        return f"{login}/browse/{entry.salesforce_object}/{entry.salesforce_id}"
    return entry.record_url(connection.instance_url)


class OutboxFilterSet(WagtailFilterSet):
    state = django_filters.ChoiceFilter(
        label=_("State"), choices=OutboxState.choices, empty_label=_("All")
    )
    mapping_key = django_filters.CharFilter(label=_("Mapping"), lookup_expr="exact")

    class Meta:
        model = OutboxEntry
        fields = ["state", "mapping_key"]


class OutboxReportView(ReportView):
    page_title = _("Salesforce outbox")
    header_icon = "resubmit"
    template_name = "wagtail_salesforce/outbox/report.html"
    results_template_name = "wagtail_salesforce/outbox/report_results.html"
    index_url_name = "wagtail_salesforce_outbox:index"
    index_results_url_name = "wagtail_salesforce_outbox:index_results"
    filterset_class = OutboxFilterSet
    paginate_by = 50
    model = OutboxEntry
    list_export = [
        "pk",
        "created_at",
        "mapping_key",
        "state",
        "attempts",
        "last_error_code",
        "last_error_message",
        "salesforce_object",
        "salesforce_id",
        "delivered_at",
    ]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not user_can_view_outbox(request.user):
            return outbox_forbidden(request)
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return OutboxEntry.objects.select_related("page", "site").order_by("-created_at", "-pk")

    def get_filename(self) -> str:
        return f"salesforce-outbox-{datetime.date.today():%Y-%m-%d}"

    def decorate_paginated_queryset(self, object_list: Any) -> list[OutboxEntry]:
        entries = list(object_list)
        connections = {
            connection.site_id: connection
            for connection in SalesforceConnection.objects.filter(
                site_id__in={entry.site_id for entry in entries}
            )
        }
        for entry in entries:
            entry.salesforce_url = record_url(entry, connections.get(entry.site_id))  # type: ignore[attr-defined]
        return entries

    def get_context_data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(*args, **kwargs)
        context["retry_url"] = reverse("wagtail_salesforce_outbox:retry")
        context["retryable_states"] = [
            OutboxState.PENDING,
            OutboxState.RETRYING,
            OutboxState.DEAD,
            OutboxState.PAUSED,
        ]
        return context


@require_POST
def retry_view(request: HttpRequest) -> HttpResponse:
    """Put the selected entries (``POST entry=<id>`` repeated) back in line and deliver them."""
    if not user_can_view_outbox(request.user):
        return outbox_forbidden(request)
    try:
        ids = [int(value) for value in request.POST.getlist("entry")]
    except ValueError:
        ids = []
    if not ids:
        messages.error(request, _("Select at least one outbox entry to retry."))
    else:
        from wagtail_salesforce.outbox.wakeups import enqueue_delivery

        queued = schedule_retry(ids)
        _ensure_log_action()
        for entry in OutboxEntry.objects.filter(pk__in=ids, state=OutboxState.PENDING):
            log(instance=entry, action=RETRY_ACTION, user=request.user)
            enqueue_delivery(entry.pk)
        messages.success(
            request,
            ngettext(
                "%(count)d entry queued for delivery.",
                "%(count)d entries queued for delivery.",
                queued,
            )
            % {"count": queued},
        )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("wagtail_salesforce_outbox:index")
    return HttpResponseRedirect(next_url)
