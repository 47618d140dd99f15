"""Sync runs: the history of sync cycles per site (Wagtail's listing), and Sync now."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST
from django_q.tasks import async_task
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column, DateColumn, NumberColumn, StatusTagColumn
from wagtail.admin.views.generic import IndexView
from wagtail.log_actions import log
from wagtail.models import Site

from wagtail_salesforce.sync.models import Lead, SyncRun, SyncRunStatus
from wagtail_salesforce.sync.service import sync_blocker
from wagtail_salesforce.sync.tasks import RUN_SYNC_CYCLE_TASK

from ..permissions import (
    VIEW_LEADS_FORBIDDEN,
    PolicyRequiredMixin,
    manage_permission_required,
    sync_permissions,
    sync_runs_policy,
)
from ..sites import SiteFilterMixin

SYNC_NOW_ACTION = "wagtail_salesforce.sync_now"


class SyncRunFilterSet(WagtailFilterSet):
    site = django_filters.ModelChoiceFilter(
        label=gettext_lazy("Site"), queryset=Site.objects.order_by("hostname", "port")
    )
    status = django_filters.ChoiceFilter(
        label=pgettext_lazy("a sync run's outcome", "Status"),
        choices=SyncRunStatus.choices,
        empty_label=pgettext_lazy("any value", "Any"),
    )

    class Meta:
        model = SyncRun
        fields = ["site", "status"]


class ErrorsColumn(Column):
    cell_template_name = "wagtail_salesforce/sync/run_errors_cell.html"


class SyncRunIndexView(PolicyRequiredMixin, SiteFilterMixin, IndexView):
    model = SyncRun
    permission_policy = sync_runs_policy
    forbidden_message = VIEW_LEADS_FORBIDDEN
    any_permission_required = None
    page_title = gettext_lazy("Sync runs")
    header_icon = "resubmit"
    template_name = "wagtail_salesforce/sync/runs.html"
    index_url_name = "wagtail_salesforce:sync_runs"
    index_results_url_name = "wagtail_salesforce:sync_runs_results"
    filterset_class = SyncRunFilterSet
    default_ordering = "-started_at"
    paginate_by = 25

    @cached_property
    def columns(self) -> list[Column]:
        return [
            DateColumn("started_at", label=gettext_lazy("Started"), sort_key="started_at"),
            DateColumn("finished_at", label=gettext_lazy("Finished"), sort_key="finished_at"),
            *([Column("site", label=gettext_lazy("Site"))] if Site.objects.count() > 1 else []),
            StatusTagColumn(
                "status",
                label=pgettext_lazy("a sync run's outcome", "Status"),
                accessor=lambda run: (
                    run.get_status_display() + (f" ({_('full')})" if run.full else "")
                ),
                primary=lambda run: run.status == SyncRunStatus.SUCCEEDED,
            ),
            NumberColumn("pulled", label=gettext_lazy("Pulled"), sort_key="pulled"),
            NumberColumn("pushed", label=gettext_lazy("Pushed"), sort_key="pushed"),
            NumberColumn(
                "created",
                label=pgettext_lazy("records, in a sync run", "Created"),
                sort_key="created",
            ),
            NumberColumn(
                "updated",
                label=pgettext_lazy("records, in a sync run", "Updated"),
                sort_key="updated",
            ),
            NumberColumn("conflicts", label=gettext_lazy("Conflicts")),
            NumberColumn("duplicates", label=gettext_lazy("Duplicates")),
            NumberColumn("api_calls", label=gettext_lazy("API calls"), sort_key="api_calls"),
            ErrorsColumn("errors", label=gettext_lazy("Errors")),
        ]

    def get_base_queryset(self) -> QuerySet[SyncRun]:
        return SyncRun.objects.select_related("site")

    def get_context_data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(*args, **kwargs)
        site = self.current_site
        context.update(sync_permissions(self.request.user))
        context["site"] = site
        context["pending"] = Lead.objects.filter(site=site, needs_push=True).count() if site else 0
        return context


@require_POST
@manage_permission_required
def sync_now(request: HttpRequest, site_id: int) -> HttpResponse:
    """Queue a cycle for this site (it runs inline when django-q2 is in sync mode).

    It spends the org's API calls and acts for the connection, hence the connection's
    permission."""
    site = get_object_or_404(Site, pk=site_id)
    runs_url = reverse("wagtail_salesforce:sync_runs") + "?" + urlencode({"site": site.pk})
    problem = sync_blocker(site)
    if problem is not None:
        # Said now, in the panel's words; a queued cycle would only fail the same way.
        messages.error(request, problem)
        return redirect(runs_url)
    log(instance=site, action=SYNC_NOW_ACTION, user=request.user)
    try:
        async_task(RUN_SYNC_CYCLE_TASK, site.pk, group="wagtail_salesforce.sync")
    except Exception as error:  # the broker is down: say so instead of a 500
        messages.error(request, _("Could not queue the sync: %(error)s") % {"error": error})
    else:
        messages.success(request, _("Sync queued for %(site)s.") % {"site": site})
    return redirect(runs_url)
