"""A lead filter: free-text search plus exact (case-insensitive) values of synced fields.

The same dict shape is read from a query string and stored in ``Segment.filter``::

    {"q": "acme", "fields": {"lead_status": "Working - Contacted"}, "linked": "yes"}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from wagtail_salesforce.sync.models import Lead

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
        if self.q:
            # Email, any synced value (the JSON as text) or an exact Salesforce Id.
            leads = leads.annotate(values_text=Cast("values", TextField())).filter(
                Q(email__icontains=self.q) | Q(values_text__icontains=self.q) | Q(sf_id=self.q)
            )
        for name, value in self.fields.items():
            leads = leads.filter(**{f"values__{name}__iexact": value})
        if self.linked == "yes":
            leads = leads.exclude(sf_id="")
        elif self.linked == "no":
            leads = leads.filter(sf_id="")
        if self.source:
            leads = leads.filter(source=self.source)
        return leads
