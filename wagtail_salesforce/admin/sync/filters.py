"""Filtering leads: the saved shape (``LeadFilter``) and the listing's filter drawer
(``lead_filterset_class``), both applying the same lookups.

A segment stores a ``LeadFilter`` as a dict; the listing reads one from its query string::

    {"q": "acme", "fields": {"lead_status": "Working - Contacted"}, "linked": "yes"}
    ?q=acme&f_lead_status=Working+-+Contacted&linked=yes
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import django_filters
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from wagtail.admin.filters import WagtailFilterSet
from wagtail.models import Site

from wagtail_salesforce.config import SyncConfig, SyncField
from wagtail_salesforce.sync.models import Lead, LeadOrigin

FIELD_PARAM_PREFIX = "f_"
LINKED_CHOICES = ("", "yes", "no")


class InvalidFilter(ValueError):
    """A filter names a field the sync does not know, or has a malformed value."""


@dataclass(frozen=True)
class LeadFilter:
    q: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    linked: str = ""
    source: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Any], known_fields: Sequence[str]) -> LeadFilter:
        """From GET parameters: ``q``, ``linked``, ``source`` and ``f_<field>``."""
        values = {
            key[len(FIELD_PARAM_PREFIX) :]: str(value).strip()
            for key, value in params.items()
            if key.startswith(FIELD_PARAM_PREFIX) and str(value).strip()
        }
        return cls.from_dict(
            {
                "q": params.get("q", ""),
                "fields": values,
                "linked": params.get("linked", ""),
                "source": params.get("source", ""),
            },
            known_fields,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], known_fields: Sequence[str]) -> LeadFilter:
        if not isinstance(data, Mapping):
            raise InvalidFilter(_("A filter must be a mapping."))
        fields = data.get("fields") or {}
        if not isinstance(fields, Mapping):
            raise InvalidFilter(_("A filter's fields must be a mapping."))
        unknown = sorted(set(fields) - set(known_fields))
        if unknown:
            raise InvalidFilter(
                _("Unknown field(s) in the filter: %(fields)s.") % {"fields": ", ".join(unknown)}
            )
        linked = str(data.get("linked") or "")
        if linked not in LINKED_CHOICES:
            raise InvalidFilter(_("'linked' must be yes, no or empty."))
        return cls(
            q=str(data.get("q") or "").strip(),
            fields={str(k): str(v) for k, v in fields.items() if str(v).strip()},
            linked=linked,
            source=str(data.get("source") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "fields": dict(self.fields),
            "linked": self.linked,
            "source": self.source,
        }

    def to_query(self) -> dict[str, str]:
        params = {f"{FIELD_PARAM_PREFIX}{name}": value for name, value in self.fields.items()}
        for key in ("q", "linked", "source"):
            if getattr(self, key):
                params[key] = getattr(self, key)
        return params

    @property
    def is_empty(self) -> bool:
        return not (self.q or self.fields or self.linked or self.source)

    def apply(self, leads: QuerySet[Lead]) -> QuerySet[Lead]:
        leads = search_leads(leads, self.q)
        for name, value in self.fields.items():
            leads = filter_field_value(leads, name, value)
        leads = filter_linked(leads, self.linked)
        if self.source:
            leads = leads.filter(source=self.source)
        return leads


def search_leads(leads: QuerySet[Lead], query: str) -> QuerySet[Lead]:
    """Email, any synced value (the JSON as text) or an exact Salesforce Id."""
    if not query:
        return leads
    return leads.annotate(values_text=Cast("values", TextField())).filter(
        Q(email__icontains=query) | Q(values_text__icontains=query) | Q(sf_id=query)
    )


def filter_field_value(leads: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
    """Leads whose synced field ``name`` equals ``value``, ignoring case."""
    return leads.filter(**{f"values__{name}__iexact": value}) if value else leads


def filter_linked(leads: QuerySet[Lead], linked: str) -> QuerySet[Lead]:
    if linked == "yes":
        return leads.exclude(sf_id="")
    if linked == "no":
        return leads.filter(sf_id="")
    return leads


def field_label(name: str, sync_field: SyncField) -> str:
    """What the admin calls a synced field: its YAML ``label`` when the config gives one,
    else its key in words (``lead_status`` -> "Lead status")."""
    label = getattr(sync_field, "label", "")  # labels are optional in the YAML
    return str(label) if label else capfirst(name.replace("_", " "))


class BaseLeadFilterSet(WagtailFilterSet):
    site = django_filters.ModelChoiceFilter(
        label=gettext_lazy("Site"), queryset=Site.objects.order_by("hostname", "port")
    )
    linked = django_filters.ChoiceFilter(
        label=gettext_lazy("Linked to Salesforce"),
        choices=[("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))],
        empty_label=pgettext_lazy("any value", "Any"),
        method="filter_linked",
    )
    source = django_filters.ChoiceFilter(
        label=pgettext_lazy("where a lead came from", "Source"),
        choices=LeadOrigin.choices,
        empty_label=pgettext_lazy("any value", "Any"),
    )

    class Meta:
        model = Lead
        fields = ["site", "linked", "source"]

    def filter_linked(self, leads: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        return filter_linked(leads, value)


def lead_filterset_class(config: SyncConfig | None) -> type[BaseLeadFilterSet]:
    """The drawer's filters: site, linked, source, then one per synced field of the YAML,
    labelled with the field's label and read from ``f_<key>``."""
    attrs: dict[str, Any] = {}
    for name, sync_field in (config.fields if config else {}).items():
        attrs[f"{FIELD_PARAM_PREFIX}{name}"] = django_filters.CharFilter(
            label=field_label(name, sync_field),
            method=lambda leads, _param, value, name=name: filter_field_value(leads, name, value),
        )
    return type("LeadFilterSet", (BaseLeadFilterSet,), attrs)
