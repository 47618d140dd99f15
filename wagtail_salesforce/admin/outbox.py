"""Reports → Salesforce outbox: a report with state filters, record links, Retry, "Deliver anyway"
for held submissions and, on a dead letter, a link to its correction (``corrections.py``)."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views.decorators.http import require_POST
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.views.reports import ReportView
from wagtail.log_actions import log

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.corrections import is_correctable
from wagtail_salesforce.outbox.delivery import schedule_retry
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.outbox.wakeups import enqueue_delivery

from .exports import NeutralisedExportMixin, log_export
from .permissions import (
    OUTBOX_FORBIDDEN,
    RETRY_FORBIDDEN,
    PolicyRequiredMixin,
    outbox_policy,
    policy_required,
)
from .sites import request_site

RETRY_ACTION = "wagtail_salesforce.retry"
DELIVER_HELD_ACTION = "wagtail_salesforce.deliver_held"
RETRYABLE_STATES = (
    OutboxState.HELD,
    OutboxState.PENDING,
    OutboxState.RETRYING,
    OutboxState.DEAD,
    OutboxState.PAUSED,
)


class OutboxFilterSet(WagtailFilterSet):
    state = django_filters.ChoiceFilter(
        label=_("State"), choices=OutboxState.choices, empty_label=pgettext_lazy("states", "All")
    )
    mapping_key = django_filters.CharFilter(label=_("Mapping"), lookup_expr="exact")

    class Meta:
        model = OutboxEntry
        fields = ["state", "mapping_key"]


class OutboxReportView(PolicyRequiredMixin, NeutralisedExportMixin, ReportView):
    page_title = _("Salesforce outbox")
    header_icon = "resubmit"
    template_name = "wagtail_salesforce/outbox/report.html"
    results_template_name = "wagtail_salesforce/outbox/report_results.html"
    index_url_name = "wagtail_salesforce:outbox"
    index_results_url_name = "wagtail_salesforce:outbox_results"
    permission_policy = outbox_policy
    forbidden_message = OUTBOX_FORBIDDEN
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

    def get_queryset(self) -> Any:
        return OutboxEntry.objects.select_related("page", "site").order_by("-created_at", "-pk")

    def get_filename(self) -> str:
        return f"salesforce-outbox-{datetime.date.today():%Y-%m-%d}"

    def as_spreadsheet(self, queryset: Any, spreadsheet_format: str | None) -> Any:
        entries = list(queryset)
        # The report spans every site: the entry goes on the site whose admin this is.
        site = request_site(self.request)
        if site is not None:
            filters = {key: value for key, value in self.request.GET.items() if key != "export"}
            log_export(
                self.request,
                site,
                listing="outbox",
                export_format=str(spreadsheet_format),
                rows=len(entries),
                filters=filters,
            )
        return super().as_spreadsheet(entries, spreadsheet_format)

    def decorate_paginated_queryset(self, object_list: Any) -> list[OutboxEntry]:
        entries = list(object_list)
        connections = {
            connection.site_id: connection
            for connection in SalesforceConnection.objects.filter(
                site_id__in={entry.site_id for entry in entries}
            )
        }
        for entry in entries:
            entry.correctable = is_correctable(entry)
            # Every org (the local sandbox too) opens a record at {instance_url}/{Id}.
            connection = connections.get(entry.site_id)
            entry.salesforce_url = entry.record_url(connection.instance_url if connection else "")
        return entries

    def get_context_data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(*args, **kwargs)
        context["retry_url"] = reverse("wagtail_salesforce:outbox_retry")
        context["can_retry"] = outbox_policy.user_has_permission(self.request.user, "retry")
        context["retryable_states"] = RETRYABLE_STATES
        context["deliver_held_url"] = reverse("wagtail_salesforce:outbox_deliver_held")
        context["can_correct"] = outbox_policy.user_has_permission(self.request.user, "correct")
        return context


@require_POST
@policy_required(outbox_policy, "retry", RETRY_FORBIDDEN)
def retry_view(request: HttpRequest) -> HttpResponse:
    """Put the selected entries (``POST entry=<id>`` repeated) back in line and deliver them."""
    try:
        ids = [int(value) for value in request.POST.getlist("entry")]
    except ValueError:
        ids = []
    if not ids:
        messages.error(request, _("Select at least one outbox entry to retry."))
    else:
        previous_states = dict(OutboxEntry.objects.filter(pk__in=ids).values_list("pk", "state"))
        queued = schedule_retry(ids)
        for entry in OutboxEntry.objects.filter(pk__in=ids, state=OutboxState.PENDING):
            log(
                instance=entry,
                action=RETRY_ACTION,
                user=request.user,
                data={"previous_state": previous_states.get(entry.pk)},
            )
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
        next_url = reverse("wagtail_salesforce:outbox")
    return HttpResponseRedirect(next_url)


@require_POST
@policy_required(outbox_policy, "retry", RETRY_FORBIDDEN)
def deliver_held_view(request: HttpRequest) -> HttpResponse:
    """ "Deliver anyway": release the selected entries held as spam to normal delivery."""
    try:
        ids = [int(value) for value in request.POST.getlist("entry")]
    except ValueError:
        ids = []
    released = OutboxEntry.objects.release_held(ids)
    for entry in OutboxEntry.objects.filter(pk__in=released):
        log(instance=entry, action=DELIVER_HELD_ACTION, user=request.user)
        enqueue_delivery(entry.pk)
    if released:
        messages.success(
            request,
            ngettext(
                "%(count)d held submission released for delivery.",
                "%(count)d held submissions released for delivery.",
                len(released),
            )
            % {"count": len(released)},
        )
    else:
        messages.error(request, _("Select at least one submission held as spam."))
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("wagtail_salesforce:outbox")
    return HttpResponseRedirect(next_url)
