"""Leads: Wagtail's listing (filter drawer, search, sorting, pagination, CSV/XLSX export) over
the local ``Lead`` table; a segment's export; the lead editor; adding a lead by email.

The filter drawer is built from the YAML's sync fields; the same query string is what a segment
saves (``filters.LeadFilter``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST
from wagtail.admin.ui.tables import (
    BulkActionsCheckboxColumn,
    Column,
    StatusTagColumn,
    TitleColumn,
)
from wagtail.admin.views.generic import IndexView
from wagtail.log_actions import log
from wagtail.models import Site

from wagtail_salesforce.config import ConfigError, SyncConfig, get_config
from wagtail_salesforce.sync import consent
from wagtail_salesforce.sync.models import ConsentSource, Lead, LeadOrigin, Segment

from ..exports import NeutralisedExportMixin, log_export
from ..permissions import (
    EDIT_LEADS_FORBIDDEN,
    EXPORT_LEADS_FORBIDDEN,
    VIEW_LEADS_FORBIDDEN,
    PolicyRequiredMixin,
    forbidden_response,
    leads_policy,
    policy_required,
    sync_permissions,
)
from ..sites import SiteFilterMixin
from .filters import (
    FIELD_PARAM_PREFIX,
    BaseLeadFilterSet,
    InvalidFilter,
    LeadFilter,
    consent_label,
    field_label,
    lead_filterset_class,
    search_leads,
)
from .forms import LeadForm, NewLeadForm, SegmentForm

LEADS_PER_PAGE = 50
CONSENT_STATE_LABELS = {
    consent.OPTED_IN: gettext_lazy("Opted in"),
    consent.OPTED_OUT: gettext_lazy("Opted out"),
    consent.UNKNOWN: gettext_lazy("Unknown"),
}
# Columns for the first synced fields, in the YAML's order: a table of every field is too wide
# to read. All of them are filters, exported and editable.
LISTED_FIELDS = 5


def sync_config(request: HttpRequest | None = None) -> SyncConfig | None:
    """The YAML's sync section (None without one); a broken config is said once, in messages."""
    try:
        return get_config().sync
    except ConfigError as error:
        if request is not None:
            messages.error(
                request, _("The Salesforce config is invalid: %(error)s") % {"error": error}
            )
        return None


def lead_status(lead: Lead) -> str:
    if lead.sync_error:
        return _("Error")
    if lead.needs_push:
        return _("Waiting to be sent")
    return _("In sync")


class LeadIndexView(PolicyRequiredMixin, SiteFilterMixin, NeutralisedExportMixin, IndexView):
    model = Lead
    permission_policy = leads_policy
    forbidden_message = VIEW_LEADS_FORBIDDEN
    any_permission_required = None  # PolicyRequiredMixin answers with a 403 page
    page_title = gettext_lazy("Leads")
    header_icon = "group"
    template_name = "wagtail_salesforce/sync/leads.html"
    index_url_name = "wagtail_salesforce:leads"
    index_results_url_name = "wagtail_salesforce:leads_results"
    paginate_by = LEADS_PER_PAGE
    default_ordering = "email"
    is_searchable = True
    export_filename = "leads"
    export_listing = "leads"

    def check_policy(self, request: HttpRequest) -> HttpResponse | None:
        refusal = super().check_policy(request)
        if refusal is None and self.is_export and not self.can("export"):
            return forbidden_response(request, EXPORT_LEADS_FORBIDDEN)
        return refusal

    def can(self, action: str) -> bool:
        return leads_policy.user_has_permission(self.request.user, action)

    @cached_property
    def show_export_buttons(self) -> bool:
        return self.can("export")

    @cached_property
    def sync_config(self) -> SyncConfig | None:
        return sync_config(self.request)

    @cached_property
    def field_names(self) -> list[str]:
        return list(self.sync_config.fields) if self.sync_config else []

    @cached_property
    def filterset_class(self) -> type[BaseLeadFilterSet]:
        return lead_filterset_class(self.sync_config)

    @cached_property
    def columns(self) -> list[Column]:
        fields = self.sync_config.fields if self.sync_config else {}
        return [
            # The one bulk action edits leads.
            *(
                [BulkActionsCheckboxColumn("bulk_actions", obj_type="lead")]
                if self.can("edit")
                else []
            ),
            TitleColumn(
                "email",
                label=gettext_lazy("Email address"),
                sort_key="email",
                get_url=lambda lead: reverse("wagtail_salesforce:lead_edit", args=[lead.pk]),
                get_title_id=lambda lead: f"lead_{lead.pk}_title",
            ),
            *(
                Column(
                    f"{FIELD_PARAM_PREFIX}{name}",
                    label=field_label(name, sync_field),
                    accessor=lambda lead, name=name: lead.values.get(name),
                    sort_key=f"values__{name}",
                )
                for name, sync_field in list(fields.items())[:LISTED_FIELDS]
            ),
            *(
                Column(
                    f"consent_{name}",
                    label=consent_label(topic),
                    accessor=lambda lead, name=name: CONSENT_STATE_LABELS[
                        consent.state_name(lead, name)
                    ],
                )
                for name, topic in (self.sync_config.consent if self.sync_config else {}).items()
            ),
            Column(
                "salesforce_record",
                label=gettext_lazy("Salesforce record"),
                accessor=lambda lead: f"{lead.sf_object} {lead.sf_id}" if lead.sf_id else "—",
                sort_key="sf_id",
            ),
            *([Column("site", label=gettext_lazy("Site"))] if self.has_several_sites else []),
            StatusTagColumn(
                "sync_status",
                label=pgettext_lazy("a lead's sync state", "Status"),
                accessor=lead_status,
                primary=lambda lead: not (lead.sync_error or lead.needs_push),
            ),
        ]

    @cached_property
    def has_several_sites(self) -> bool:
        return Site.objects.count() > 1

    def get_base_queryset(self) -> QuerySet[Lead]:
        return Lead.objects.select_related("site")

    def search_queryset(self, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        return search_leads(queryset, self.search_query)

    def as_spreadsheet(self, queryset: QuerySet[Lead], spreadsheet_format: str | None) -> Any:
        self.log_export(str(spreadsheet_format), queryset.count())
        return super().as_spreadsheet(queryset.iterator(chunk_size=2000), spreadsheet_format)

    def log_export(self, export_format: str, rows: int) -> None:
        """The audit-log entry, on the site the listing shows (else the default one)."""
        site = self.current_site
        if site is None:  # no site, no leads
            return
        filters = {key: value for key, value in self.request.GET.items() if key != "export"}
        log_export(
            self.request,
            site,
            listing=self.export_listing,
            export_format=export_format,
            rows=rows,
            filters=filters,
        )

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            LeadFilter.from_query(request.GET, self.field_names, self.sync_config)
        except InvalidFilter as error:
            # A field the YAML does not sync: say so rather than list everything.
            if self.is_export:
                return HttpResponse(str(error), status=400, content_type="text/plain")
            messages.error(request, str(error))
        response: HttpResponse = super().get(request, *args, **kwargs)
        return response

    # Export: one column per key, as machine-readable headings (email, company, ...).
    @cached_property
    def list_export(self) -> list[str]:
        return ["email", *self.field_names, "salesforce_object", "salesforce_id", "source"]

    def get_heading(self, queryset: Any, field: str) -> str:
        return field

    def to_row_dict(self, item: Lead) -> dict[str, Any]:
        return {
            "email": item.email,
            **{name: item.values.get(name) for name in self.field_names},
            "salesforce_object": item.sf_object,
            "salesforce_id": item.sf_id,
            "source": item.source,
        }

    def get_context_data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(*args, **kwargs)
        context.update(sync_permissions(self.request.user))
        if self.results_only or self.is_export:
            return context
        query = self.request.GET.copy()
        for param in (self.page_kwarg, "ordering", "export", "_w_filter_fragment"):
            query.pop(param, None)
        site = self.current_site
        context.update(
            {
                "config": self.sync_config,
                "site": site,
                "segment_form": SegmentForm(),
                "segment_save_url": reverse("wagtail_salesforce:segment_save")
                + (f"?{query.urlencode()}" if query else ""),
                "new_lead_form": NewLeadForm(site=site),
            }
        )
        return context


class SegmentExportView(LeadIndexView):
    """A segment's leads as CSV (default) or XLSX: its site and saved filter, not the URL's."""

    export_param_default = "csv"
    export_listing = "segment"
    policy_action = "export"
    forbidden_message = EXPORT_LEADS_FORBIDDEN

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        self.export_format = request.GET.get("export") or self.export_param_default
        self.is_export = self.export_format in self.FORMATS

    @cached_property
    def segment(self) -> Segment:
        return get_object_or_404(Segment, pk=self.kwargs["segment_id"])

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            self.segment_filter = LeadFilter.from_dict(
                self.segment.filter, self.field_names, self.sync_config
            )
        except InvalidFilter as error:
            return HttpResponse(str(error), status=400, content_type="text/plain")
        leads = self.segment_filter.members(
            Lead.objects.filter(site_id=self.segment.site_id).select_related("site")
        ).order_by("email")
        response: HttpResponse = self.as_spreadsheet(leads, self.export_format)
        return response

    def get_filename(self) -> str:
        return slugify(self.segment.name) or "leads"

    def log_export(self, export_format: str, rows: int) -> None:
        log_export(
            self.request,
            self.segment,
            listing=self.export_listing,
            export_format=export_format,
            rows=rows,
            segment=self.segment.name,
        )


@policy_required(leads_policy, "view", VIEW_LEADS_FORBIDDEN)
def lead_edit(request: HttpRequest, lead_id: int) -> HttpResponse:
    """A lead's page: its facts and fields, editable with the edit permission."""
    can_edit = leads_policy.user_has_permission(request.user, "edit")
    if request.method == "POST" and not can_edit:
        return forbidden_response(request, EDIT_LEADS_FORBIDDEN)
    lead = get_object_or_404(Lead.objects.select_related("site"), pk=lead_id)
    config = sync_config(request)
    if config is None:
        messages.error(request, _("The YAML config has no sync section: nothing to edit."))
        return redirect("wagtail_salesforce:leads")
    if request.method == "POST" and "consent_topic" in request.POST:
        return _set_consent(request, lead, config)
    form = LeadForm(request.POST or None, lead=lead, config=config)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        changed = form.save()
        if changed:
            log(instance=lead, action="wagtail.edit", user=request.user, data={"fields": changed})
            messages.success(
                request,
                _("Saved. %(fields)s will be sent to Salesforce in the next sync.")
                % {"fields": ", ".join(changed)},
            )
        else:
            messages.info(request, _("Nothing changed."))
        return redirect("wagtail_salesforce:lead_edit", lead_id=lead.pk)
    return TemplateResponse(
        request,
        "wagtail_salesforce/sync/lead_edit.html",
        {
            "site": lead.site,
            "lead": lead,
            "form": form,
            **sync_permissions(request.user),
            "conflicts": lead.conflicts.all()[:20],
            "consents": [
                {
                    "topic": name,
                    "label": consent_label(topic),
                    "state": consent.state_name(lead, name),
                }
                for name, topic in config.consent.items()
            ],
            "consent_events": lead.consent_events.select_related("user")[:50],
            "leads_url": reverse("wagtail_salesforce:leads")
            + "?"
            + urlencode({"site": lead.site_id}),
        },
    )


def _set_consent(request: HttpRequest, lead: Lead, config: SyncConfig) -> HttpResponse:
    """An admin's explicit opt-in or opt-out: it goes through the consent rule like any other
    (an opt-in from the admin re-subscribes; Salesforce hears of it in the next sync)."""
    topic = request.POST.get("consent_topic", "")
    state = request.POST.get("consent_state", "")
    if topic not in config.consent or state not in (consent.OPTED_IN, consent.OPTED_OUT):
        messages.error(request, _("Choose a consent and opted in or opted out."))
        return redirect("wagtail_salesforce:lead_edit", lead_id=lead.pk)
    event = consent.record_local(
        lead,
        config,
        topic,
        permitted=state == consent.OPTED_IN,
        source=ConsentSource.ADMIN,
        user=request.user if request.user.is_authenticated else None,
    )
    if event is None:
        messages.info(request, _("Nothing changed."))
    else:
        log(
            instance=lead,
            action="wagtail.edit",
            user=request.user,
            data={"consent": {topic: state}},
        )
        messages.success(request, _("Consent recorded."))
    return redirect("wagtail_salesforce:lead_edit", lead_id=lead.pk)


@require_POST
@policy_required(leads_policy, "edit", EDIT_LEADS_FORBIDDEN)
def lead_create(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=site_id)
    form = NewLeadForm(request.POST, site=site)
    if not form.is_valid():
        for error in form.errors.get("email", []):
            messages.error(request, str(error))
        return redirect("wagtail_salesforce:leads")
    lead = Lead.objects.create(
        site=site, email=form.cleaned_data["email"], source=LeadOrigin.ADMIN, needs_push=True
    )
    log(instance=lead, action="wagtail.create", user=request.user)
    return redirect("wagtail_salesforce:lead_edit", lead_id=lead.pk)
