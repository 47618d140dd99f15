"""Filtering leads: the saved shape (``LeadFilter``) and the listing's filter drawer
(``lead_filterset_class``), both applying the same lookups.

A segment stores a ``LeadFilter`` as a dict; the listing reads one from its query string::

    {"q": "acme", "fields": {"lead_status": "Working - Contacted"}, "linked": "yes",
     "consent": {"email": "opted_in"}, "include_opted_out": false}
    ?q=acme&f_lead_status=Working+-+Contacted&linked=yes&c_email=opted_in

A segment's members (:meth:`LeadFilter.members`) leave out everyone opted out of any consent
topic unless the segment says ``include_opted_out``; the listing itself shows everyone.
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

from wagtail_salesforce.config import ConsentTopic, SyncConfig, SyncField
from wagtail_salesforce.sync import consent
from wagtail_salesforce.sync.models import Lead, LeadOrigin

FIELD_PARAM_PREFIX = "f_"
CONSENT_PARAM_PREFIX = "c_"
LINKED_CHOICES = ("", "yes", "no")
CONSENT_STATES = (consent.OPTED_IN, consent.OPTED_OUT, consent.UNKNOWN)


class InvalidFilter(ValueError):
    """A filter names a field the sync does not know, or has a malformed value."""


@dataclass(frozen=True)
class LeadFilter:
    q: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    linked: str = ""
    source: str = ""
    consent: Mapping[str, str] = field(default_factory=dict)
    include_opted_out: bool = False
    topics: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_query(
        cls,
        params: Mapping[str, Any],
        known_fields: Sequence[str],
        config: SyncConfig | None = None,
    ) -> LeadFilter:
        """From GET parameters: ``q``, ``linked``, ``source``, ``f_<field>``, ``c_<topic>``."""
        values = {
            key[len(FIELD_PARAM_PREFIX) :]: str(value).strip()
            for key, value in params.items()
            if key.startswith(FIELD_PARAM_PREFIX) and str(value).strip()
        }
        consents = {
            key[len(CONSENT_PARAM_PREFIX) :]: str(value).strip()
            for key, value in params.items()
            if key.startswith(CONSENT_PARAM_PREFIX) and str(value).strip()
        }
        return cls.from_dict(
            {
                "q": params.get("q", ""),
                "fields": values,
                "linked": params.get("linked", ""),
                "source": params.get("source", ""),
                "consent": consents,
            },
            known_fields,
            config,
        )

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        known_fields: Sequence[str],
        config: SyncConfig | None = None,
    ) -> LeadFilter:
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
        topics = tuple(config.consent) if config else ()
        consents = data.get("consent") or {}
        if not isinstance(consents, Mapping):
            raise InvalidFilter(_("A filter's consent must be a mapping."))
        unknown = sorted(set(consents) - set(topics))
        if unknown:
            raise InvalidFilter(
                _("Unknown consent in the filter: %(topics)s.") % {"topics": ", ".join(unknown)}
            )
        if any(str(v) not in CONSENT_STATES for v in consents.values()):
            raise InvalidFilter(_("A consent filter must be opted_in, opted_out or unknown."))
        return cls(
            q=str(data.get("q") or "").strip(),
            fields={str(k): str(v) for k, v in fields.items() if str(v).strip()},
            linked=linked,
            source=str(data.get("source") or ""),
            consent={str(k): str(v) for k, v in consents.items()},
            include_opted_out=bool(data.get("include_opted_out")),
            topics=topics,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "fields": dict(self.fields),
            "linked": self.linked,
            "source": self.source,
            "consent": dict(self.consent),
            "include_opted_out": self.include_opted_out,
        }

    def to_query(self) -> dict[str, str]:
        params = {f"{FIELD_PARAM_PREFIX}{name}": value for name, value in self.fields.items()}
        params.update({f"{CONSENT_PARAM_PREFIX}{k}": v for k, v in self.consent.items()})
        for key in ("q", "linked", "source"):
            if getattr(self, key):
                params[key] = getattr(self, key)
        return params

    @property
    def is_empty(self) -> bool:
        return not (self.q or self.fields or self.linked or self.source or self.consent)

    def apply(self, leads: QuerySet[Lead]) -> QuerySet[Lead]:
        leads = search_leads(leads, self.q)
        for name, value in self.fields.items():
            leads = filter_field_value(leads, name, value)
        leads = filter_linked(leads, self.linked)
        if self.source:
            leads = leads.filter(source=self.source)
        for topic, state in self.consent.items():
            leads = filter_consent(leads, topic, state)
        return leads

    def members(self, leads: QuerySet[Lead]) -> QuerySet[Lead]:
        """A segment's leads: the filter's, without anyone opted out of any consent topic
        (unless the segment includes them on purpose)."""
        leads = self.apply(leads)
        if not self.include_opted_out:
            for topic in self.topics:
                # Not exclude(): for a lead without the key the comparison is NULL in SQL.
                key = f"consent__{topic}__permitted"
                leads = leads.filter(Q(**{f"{key}__isnull": True}) | Q(**{key: True}))
        return leads


def filter_consent(leads: QuerySet[Lead], topic: str, state: str) -> QuerySet[Lead]:
    """Leads opted in, opted out, or with nothing known, for consent ``topic``."""
    if state == consent.OPTED_IN:
        return leads.filter(**{f"consent__{topic}__permitted": True})
    if state == consent.OPTED_OUT:
        return leads.filter(**{f"consent__{topic}__permitted": False})
    if state == consent.UNKNOWN:
        return leads.filter(**{f"consent__{topic}__permitted__isnull": True})
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


def consent_label(topic: ConsentTopic) -> str:
    return topic.label or capfirst(topic.name.replace("_", " "))


def lead_filterset_class(config: SyncConfig | None) -> type[BaseLeadFilterSet]:
    """The drawer's filters: site, linked, source, one per consent topic (``c_<topic>``), then
    one per synced field of the YAML, labelled with the field's label and read from
    ``f_<key>``."""
    attrs: dict[str, Any] = {}
    for name, topic in (config.consent if config else {}).items():
        attrs[f"{CONSENT_PARAM_PREFIX}{name}"] = django_filters.ChoiceFilter(
            label=_("Consent: %(topic)s") % {"topic": consent_label(topic)},
            choices=[
                (consent.OPTED_IN, gettext_lazy("Opted in")),
                (consent.OPTED_OUT, gettext_lazy("Opted out")),
                (consent.UNKNOWN, gettext_lazy("Unknown")),
            ],
            empty_label=pgettext_lazy("any value", "Any"),
            method=lambda leads, _param, value, name=name: filter_consent(leads, name, value),
        )
    for name, sync_field in (config.fields if config else {}).items():
        attrs[f"{FIELD_PARAM_PREFIX}{name}"] = django_filters.CharFilter(
            label=field_label(name, sync_field),
            method=lambda leads, _param, value, name=name: filter_field_value(leads, name, value),
        )
    return type("LeadFilterSet", (BaseLeadFilterSet,), attrs)
