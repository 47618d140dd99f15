"""Admin views: leads (list, search, filter, edit), segments (save, export CSV), sync runs.

Every view needs the plugin's "manage Salesforce connection" permission (leads are personal
data). URLs carry the site id; the sync config comes from the YAML.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from wagtail.models import Site

from wagtail_salesforce.admin.views import manage_permission_required
from wagtail_salesforce.config import ConfigError, SyncConfig, get_config
from wagtail_salesforce.sync.models import Lead, LeadOrigin, Segment, SyncRun

from .filters import FIELD_PARAM_PREFIX, InvalidFilter, LeadFilter
from .forms import LeadForm, NewLeadForm, SegmentForm

LEADS_PER_PAGE = 50
# Spreadsheet apps run cells starting with these as formulas (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _sync_config(request: HttpRequest) -> SyncConfig | None:
    try:
        config = get_config().sync
    except ConfigError as error:
        messages.error(request, _("The Salesforce config is invalid: %(error)s") % {"error": error})
        return None
    return config


def _site(site_id: int) -> Site:
    return get_object_or_404(Site, pk=site_id)


@manage_permission_required
def index(request: HttpRequest) -> HttpResponse:
    site = Site.objects.filter(is_default_site=True).first() or Site.objects.first()
    if site is None:
        raise Http404(_("There is no Wagtail site."))
    return redirect("wagtail_salesforce_sync:leads", site_id=site.pk)


@manage_permission_required
def lead_list(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site(site_id)
    config = _sync_config(request)
    field_names = list(config.fields) if config else []
    try:
        lead_filter = LeadFilter.from_query(request.GET, field_names)
    except InvalidFilter as error:
        messages.error(request, str(error))
        lead_filter = LeadFilter()
    leads = lead_filter.apply(Lead.objects.filter(site=site)).order_by("email")
    page = Paginator(leads, LEADS_PER_PAGE).get_page(request.GET.get("p"))
    rows = [(lead, [lead.values.get(name) for name in field_names]) for lead in page]
    query = urlencode(lead_filter.to_query())
    return TemplateResponse(
        request,
        "wagtail_salesforce/sync/leads.html",
        {
            "site": site,
            "sites": Site.objects.order_by("hostname"),
            "config": config,
            "field_names": field_names,
            "field_filters": [
                (name, f"{FIELD_PARAM_PREFIX}{name}", lead_filter.fields.get(name, ""))
                for name in field_names
            ],
            "lead_filter": lead_filter,
            "source_choices": LeadOrigin.choices,
            "page": page,
            "rows": rows,
            "query": query,
            "segment_form": SegmentForm(),
            "new_lead_form": NewLeadForm(site=site),
            "export_url": reverse("wagtail_salesforce_sync:export", args=[site.pk])
            + (f"?{query}" if query else ""),
        },
    )


@manage_permission_required
def lead_edit(request: HttpRequest, site_id: int, lead_id: int) -> HttpResponse:
    site = _site(site_id)
    lead = get_object_or_404(Lead, pk=lead_id, site=site)
    config = _sync_config(request)
    if config is None:
        messages.error(request, _("The YAML config has no sync section: nothing to edit."))
        return redirect("wagtail_salesforce_sync:leads", site_id=site.pk)
    form = LeadForm(request.POST or None, lead=lead, config=config)
    if request.method == "POST" and form.is_valid():
        changed = form.save()
        if changed:
            messages.success(
                request,
                _("Saved. %(fields)s will be sent to Salesforce in the next sync.")
                % {"fields": ", ".join(changed)},
            )
        else:
            messages.info(request, _("Nothing changed."))
        return redirect("wagtail_salesforce_sync:edit", site_id=site.pk, lead_id=lead.pk)
    return TemplateResponse(
        request,
        "wagtail_salesforce/sync/lead_edit.html",
        {
            "site": site,
            "lead": lead,
            "form": form,
            "conflicts": lead.conflicts.all()[:20],
        },
    )


@manage_permission_required
@require_POST
def lead_create(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site(site_id)
    form = NewLeadForm(request.POST, site=site)
    if not form.is_valid():
        for error in form.errors.get("email", []):
            messages.error(request, error)
        return redirect("wagtail_salesforce_sync:leads", site_id=site.pk)
    lead = Lead.objects.create(
        site=site, email=form.cleaned_data["email"], source=LeadOrigin.ADMIN, needs_push=True
    )
    return redirect("wagtail_salesforce_sync:edit", site_id=site.pk, lead_id=lead.pk)


@manage_permission_required
@require_POST
def segment_save(request: HttpRequest, site_id: int) -> HttpResponse:
    """Save the filter in the query string under the posted name (replacing a namesake)."""
    site = _site(site_id)
    config = _sync_config(request)
    form = SegmentForm(request.POST)
    try:
        lead_filter = LeadFilter.from_query(request.GET, list(config.fields) if config else [])
    except InvalidFilter as error:
        messages.error(request, str(error))
        return redirect("wagtail_salesforce_sync:leads", site_id=site.pk)
    if not form.is_valid():
        messages.error(request, _("Give the segment a name."))
    else:
        try:
            with transaction.atomic():
                Segment.objects.update_or_create(
                    site=site,
                    name=form.cleaned_data["name"],
                    defaults={"filter": lead_filter.to_dict()},
                )
        except IntegrityError:
            messages.error(request, _("That segment name is taken."))
        else:
            messages.success(
                request, _("Segment “%(name)s” saved.") % {"name": form.cleaned_data["name"]}
            )
    return redirect("wagtail_salesforce_sync:segments", site_id=site.pk)


@manage_permission_required
def segment_list(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site(site_id)
    config = _sync_config(request)
    field_names = list(config.fields) if config else []
    segments = []
    for segment in Segment.objects.filter(site=site):
        try:
            lead_filter = LeadFilter.from_dict(segment.filter, field_names)
            count: int | None = lead_filter.apply(Lead.objects.filter(site=site)).count()
            query = urlencode(lead_filter.to_query())
        except InvalidFilter:
            count, query = None, ""  # the YAML dropped a field this segment filters on
        segments.append((segment, count, query))
    return TemplateResponse(
        request,
        "wagtail_salesforce/sync/segments.html",
        {"site": site, "segments": segments},
    )


@manage_permission_required
@require_POST
def segment_delete(request: HttpRequest, site_id: int, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=segment_id, site_id=site_id)
    segment.delete()
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
    return redirect("wagtail_salesforce_sync:segments", site_id=site_id)


class _Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _csv_rows(leads: Any, field_names: list[str]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(["email", *field_names, "salesforce_object", "salesforce_id", "source"])
    for lead in leads.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _safe_cell(lead.email),
                *(_safe_cell(lead.values.get(name)) for name in field_names),
                lead.sf_object,
                lead.sf_id,
                lead.source,
            ]
        )


def _export(site: Site, lead_filter: LeadFilter, field_names: list[str], name: str) -> Any:
    leads = lead_filter.apply(Lead.objects.filter(site=site)).order_by("email")
    response = StreamingHttpResponse(_csv_rows(leads, field_names), content_type="text/csv")
    filename = slugify(name) or "leads"
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


@manage_permission_required
def export_filter(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site(site_id)
    config = _sync_config(request)
    field_names = list(config.fields) if config else []
    try:
        lead_filter = LeadFilter.from_query(request.GET, field_names)
    except InvalidFilter as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    return _export(site, lead_filter, field_names, "leads")


@manage_permission_required
def segment_export(request: HttpRequest, site_id: int, segment_id: int) -> HttpResponse:
    site = _site(site_id)
    segment = get_object_or_404(Segment, pk=segment_id, site=site)
    config = _sync_config(request)
    field_names = list(config.fields) if config else []
    try:
        lead_filter = LeadFilter.from_dict(segment.filter, field_names)
    except InvalidFilter as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    return _export(site, lead_filter, field_names, segment.name)


@manage_permission_required
def run_list(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site(site_id)
    runs = Paginator(SyncRun.objects.filter(site=site), 25).get_page(request.GET.get("p"))
    return TemplateResponse(
        request,
        "wagtail_salesforce/sync/runs.html",
        {
            "site": site,
            "runs": runs,
            "pending": Lead.objects.filter(site=site, needs_push=True).count(),
        },
    )


@manage_permission_required
@require_POST
def sync_now(request: HttpRequest, site_id: int) -> HttpResponse:
    """Queue a cycle for this site (it runs inline when django-q2 is in sync mode)."""
    from django_q.tasks import async_task

    from wagtail_salesforce.sync.tasks import RUN_SYNC_CYCLE_TASK

    site = _site(site_id)
    try:
        async_task(RUN_SYNC_CYCLE_TASK, site.pk, group="wagtail_salesforce.sync")
    except Exception as error:  # the broker is down: say so instead of a 500
        messages.error(request, _("Could not queue the sync: %(error)s") % {"error": error})
    else:
        messages.success(request, _("Sync queued for %(site)s.") % {"site": site})
    return redirect("wagtail_salesforce_sync:runs", site_id=site.pk)
