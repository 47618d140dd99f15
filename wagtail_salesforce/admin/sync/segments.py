"""Segments: saved lead filters. Saved from the Leads listing, listed with their lead counts,
exported (``leads.SegmentExportView``) and deleted with Wagtail's confirmation page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from wagtail.admin.ui.tables import ButtonsColumnMixin, Column, TitleColumn
from wagtail.admin.views.generic import DeleteView, IndexView
from wagtail.log_actions import log
from wagtail.models import Site

from wagtail_salesforce.config import SyncConfig
from wagtail_salesforce.sync.models import Lead, Segment

from ..permissions import (
    SEGMENTS_FORBIDDEN,
    PolicyRequiredMixin,
    leads_policy,
    policy_required,
    segments_policy,
    sync_permissions,
)
from ..sites import default_site
from .filters import InvalidFilter, LeadFilter
from .forms import SegmentForm
from .leads import sync_config


def annotate_segments(
    segments: list[Segment], field_names: list[str], config: SyncConfig | None = None
) -> list[Segment]:
    """Give each segment ``lead_count`` (its members: opted-out people left out unless it
    includes them) and ``leads_query`` (None and "" when its filter names a field the YAML no
    longer syncs)."""
    for segment in segments:
        try:
            lead_filter = LeadFilter.from_dict(segment.filter, field_names, config)
        except InvalidFilter:
            segment.lead_count = None  # type: ignore[attr-defined]
            segment.leads_query = ""  # type: ignore[attr-defined]
            continue
        segment.lead_count = lead_filter.members(  # type: ignore[attr-defined]
            Lead.objects.filter(site_id=segment.site_id)
        ).count()
        segment.leads_query = urlencode(  # type: ignore[attr-defined]
            {"site": str(segment.site_id), **lead_filter.to_query()}
        )
    return segments


class ButtonsTitleColumn(ButtonsColumnMixin, TitleColumn):
    """The name, linked to its leads, with the row's buttons (Delete) beside it."""

    def __init__(self, *args: Any, get_buttons: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._get_buttons = get_buttons

    def get_buttons(self, instance: Segment, parent_context: Any) -> Any:
        return self._get_buttons(instance)


class LeadCountColumn(Column):
    def get_value(self, instance: Segment) -> Any:
        count = getattr(instance, "lead_count", None)
        if count is None:
            return _("The filter names a field the YAML no longer syncs.")
        return count


class SegmentExportColumn(Column):
    def get_value(self, instance: Segment) -> Any:
        url = reverse("wagtail_salesforce:segment_export", args=[instance.pk])
        return format_html(
            '<a class="button button-small button-secondary" href="{}">{}</a> '
            '<a class="button button-small button-secondary" href="{}?export=xlsx">{}</a>',
            url,
            _("Download CSV"),
            url,
            _("Download XLSX"),
        )


class SegmentIndexView(PolicyRequiredMixin, IndexView):
    model = Segment
    permission_policy = segments_policy
    policy_action = "manage"
    forbidden_message = SEGMENTS_FORBIDDEN
    any_permission_required = None
    page_title = gettext_lazy("Segments")
    header_icon = "list-ul"
    template_name = "wagtail_salesforce/sync/segments.html"
    index_url_name = "wagtail_salesforce:segments"
    index_results_url_name = "wagtail_salesforce:segments_results"
    delete_url_name = "wagtail_salesforce:segment_delete"
    list_filter = ["site"]
    search_fields = ["name"]
    default_ordering = "name"
    paginate_by = 50

    @cached_property
    def columns(self) -> list[Column]:
        return [
            ButtonsTitleColumn(
                "name",
                get_buttons=self.get_list_buttons,
                label=gettext_lazy("Name"),
                sort_key="name",
                get_url=lambda segment: (
                    reverse("wagtail_salesforce:leads") + f"?{segment.leads_query}"
                ),
            ),
            LeadCountColumn("lead_count", label=gettext_lazy("Leads")),
            *([Column("site", label=gettext_lazy("Site"))] if Site.objects.count() > 1 else []),
            *(
                [SegmentExportColumn("export", label=gettext_lazy("Export"))]
                if leads_policy.user_has_permission(self.request.user, "export")
                else []
            ),
        ]

    def get_context_data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(*args, **kwargs)
        context.update(sync_permissions(self.request.user))
        return context

    def get_base_queryset(self) -> QuerySet[Segment]:
        return Segment.objects.select_related("site")

    def paginate_queryset(self, queryset: QuerySet[Segment], page_size: int) -> Any:
        paginator, page, object_list, is_paginated = super().paginate_queryset(queryset, page_size)
        # Count only the page shown: each count is a query of its own.
        config = sync_config(self.request)
        page.object_list = annotate_segments(
            list(object_list), list(config.fields) if config else [], config
        )
        return paginator, page, page.object_list, is_paginated


class SegmentDeleteView(PolicyRequiredMixin, DeleteView):
    model = Segment
    permission_policy = segments_policy
    permission_required = None
    policy_action = "manage"
    forbidden_message = SEGMENTS_FORBIDDEN
    index_url_name = "wagtail_salesforce:segments"
    delete_url_name = "wagtail_salesforce:segment_delete"
    header_icon = "list-ul"

    def get_success_message(self) -> str:
        return _("Segment “%(name)s” deleted.") % {"name": self.object.name}


@require_POST
@policy_required(segments_policy, "manage", SEGMENTS_FORBIDDEN)
def segment_save(request: HttpRequest) -> HttpResponse:
    """Save the Leads listing's filter (its query string) under the posted name, replacing a
    namesake of the same site."""
    config = sync_config(request)
    try:
        lead_filter = LeadFilter.from_query(
            request.GET, list(config.fields) if config else [], config
        )
    except InvalidFilter as error:
        messages.error(request, str(error))
        return redirect("wagtail_salesforce:leads")
    site_id = request.GET.get("site", "")
    site = get_object_or_404(Site, pk=int(site_id)) if site_id.isdigit() else default_site()
    form = SegmentForm(request.POST)
    if site is None or not form.is_valid():
        messages.error(request, _("Give the segment a name."))
        return redirect("wagtail_salesforce:segments")
    try:
        with transaction.atomic():
            segment, created = Segment.objects.update_or_create(
                site=site,
                name=form.cleaned_data["name"],
                defaults={
                    "filter": {
                        **lead_filter.to_dict(),
                        "include_opted_out": form.cleaned_data["include_opted_out"],
                    }
                },
            )
            # Saving under a taken name replaces that segment's filter: an edit.
            log(
                instance=segment,
                action="wagtail.create" if created else "wagtail.edit",
                user=request.user,
                data={"filter": segment.filter},
            )
    except IntegrityError:
        messages.error(request, _("That segment name is taken."))
    else:
        messages.success(
            request, _("Segment “%(name)s” saved.") % {"name": form.cleaned_data["name"]}
        )
    return redirect("wagtail_salesforce:segments")
