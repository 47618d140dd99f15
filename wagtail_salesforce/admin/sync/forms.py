"""Forms of the leads screens: a lead's synced fields, a new lead's email, a segment's name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from wagtail_salesforce.config import Direction, SyncConfig
from wagtail_salesforce.sync.models import Lead, normalise_email

from .filters import field_label


class LeadForm(forms.Form):
    """The email, then one text field per synced field; ``from_salesforce`` fields are shown but
    disabled (Salesforce owns them: an edit would be overwritten by the next pull)."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("A new address is sent to the linked Salesforce record: the same person."),
    )

    def __init__(self, *args: Any, lead: Lead, config: SyncConfig, **kwargs: Any) -> None:
        self.lead = lead
        self.config = config
        kwargs["initial"] = {
            "email": lead.email,
            **{name: lead.values.get(name) or "" for name in config.fields},
        }
        super().__init__(*args, **kwargs)
        for name, sync_field in config.fields.items():
            targets = ", ".join(f"{obj}.{sf}" for obj, sf in sync_field.salesforce.items())
            owned_by_salesforce = sync_field.direction is Direction.FROM_SALESFORCE
            self.fields[name] = forms.CharField(
                label=field_label(name, sync_field),
                required=False,
                disabled=owned_by_salesforce,
                help_text=(
                    _("Salesforce: %(targets)s (read-only: Salesforce owns it)")
                    if owned_by_salesforce
                    else _("Salesforce: %(targets)s")
                )
                % {"targets": targets},
            )

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        others = Lead.objects.filter(site_id=self.lead.site_id, email=email)
        if others.exclude(pk=self.lead.pk).exists():
            raise forms.ValidationError(_("A lead with this email already exists."))
        return email

    def save(self) -> list[str]:
        """Store the edited values, marking each changed field for the next push."""
        changed = ["email"] if self.lead.change_email(self.cleaned_data["email"]) else []
        changed += [
            name
            for name, sync_field in self.config.fields.items()
            if sync_field.direction is not Direction.FROM_SALESFORCE
            and self.lead.set_local_value(name, self.cleaned_data.get(name))
        ]
        if changed:
            self.lead.save()
        return changed


class NewLeadForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)

    def __init__(self, *args: Any, site: Any, **kwargs: Any) -> None:
        self.site = site
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        if Lead.objects.filter(site=self.site, email=email).exists():
            raise forms.ValidationError(_("A lead with this email already exists."))
        return email


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("Segment name"), max_length=100)
    include_opted_out = forms.BooleanField(
        label=_("Include people who opted out"),
        required=False,
        help_text=_("Off (the default): the segment leaves out everyone opted out of any consent."),
    )
