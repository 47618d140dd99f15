"""Reports → Salesforce outbox → Correct: fix the stored values of a dead letter and deliver it.

The editor sees Salesforce's code and message, the Salesforce field it named and the form field
that feeds it (``FormMapping.feeding``, read backwards), and edits the values the mapping reads.
The corrected values are judged by the same org rules as the visitor's form
(:mod:`wagtail_salesforce.config.constraints`, from the cached describe, else the org's): a
correction Salesforce would refuse again is refused here, with the field's error. The delivery
itself is :func:`wagtail_salesforce.outbox.corrections.correct_dead_letter`; the audit log keeps
the values before and after (``wagtail_salesforce.correct``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.log_actions import log

from wagtail_salesforce.config import ConfigError, FormMapping, Template, get_config
from wagtail_salesforce.config.constraints import (
    FieldRules,
    normalise_text,
    rules_for,
    validators_for,
)
from wagtail_salesforce.config.metadata import cached_describe, cached_record_type_picklists
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.exceptions import SalesforceError
from wagtail_salesforce.observability import get_logger, untrusted
from wagtail_salesforce.outbox.corrections import (
    NOT_CORRECTABLE,
    Correction,
    CorrectionRefused,
    correct_dead_letter,
    is_correctable,
)
from wagtail_salesforce.outbox.models import OutboxEntry

from .permissions import PolicyRequiredMixin, outbox_policy

logger = get_logger(__name__)

CORRECT_ACTION = "wagtail_salesforce.correct"
CORRECT_FORBIDDEN = _(
    "You do not have permission to correct Salesforce deliveries. Ask an administrator for the "
    "“Can correct and resend dead letters” permission."
)


@dataclass(frozen=True)
class StoredValue:
    """One value of a dead letter that the mapping reads, and where it goes in Salesforce."""

    name: str  # the form field's clean name
    label: str
    value: Any
    feeds: tuple[str, ...]  # "Lead.FirstName", ...
    refused: bool  # Salesforce named one of the fields it feeds
    multiline: bool = False  # the form page's field is a multi-line text


def _feeds(mapping: FormMapping, name: str) -> list[str]:
    """The Salesforce fields form field ``name`` is sent to (``from`` and templates)."""
    direct = [field for field, _source in mapping.feeding(name)]
    templated = [
        field
        for field, source in mapping.fields.items()
        if isinstance(source, Template) and name in source.names
    ]
    return [*direct, *templated]


@dataclass(frozen=True)
class PageField:
    """What the form page says of one of its fields."""

    label: str
    required: bool
    multiline: bool


def stored_values(
    entry: OutboxEntry, mapping: FormMapping | None, page_fields: Mapping[str, PageField]
) -> list[StoredValue]:
    """The entry's values a correction may change: those the mapping reads (the stored ones in
    their order, then any it reads that the submission lacks), or every stored value when the
    mapping is gone from the YAML."""
    data = dict(entry.form_data or {})
    if mapping is None:
        names = list(data)
    else:
        read = mapping.form_field_names
        names = [name for name in data if name in read]
        names += sorted(read - set(names))
    refused_fields = {str(field).lower() for field in entry.last_error_fields or []}
    values = []
    for name in names:
        feeds = _feeds(mapping, name) if mapping is not None else []
        page_field = page_fields.get(name)
        values.append(
            StoredValue(
                name=name,
                label=page_field.label if page_field else name,
                multiline=bool(page_field and page_field.multiline),
                value=data.get(name),
                feeds=tuple(f"{mapping.object}.{field}" for field in feeds) if mapping else (),
                refused=any(field.lower() in refused_fields for field in feeds),
            )
        )
    return values


class LinesField(forms.CharField):
    """Several values (checkboxes), one a line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(item) for item in value) if isinstance(value, list) else value


def _as_stored(text: Any, original: Any) -> Any:
    """The corrected value in the stored value's type (a number stays a number when it parses:
    the mapping sends what the visitor's form stored)."""
    if isinstance(original, bool) or not isinstance(original, int | float | Decimal):
        return text
    try:
        number = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return text
    return (
        int(number)
        if isinstance(original, int) and number == number.to_integral()
        else float(number)
    )


class CorrectionForm(forms.Form):
    """One field per stored value, with the org's rules for the Salesforce fields it feeds."""

    def __init__(
        self,
        data: Any = None,
        *,
        values: list[StoredValue],
        rules: Mapping[str, FieldRules],
        required: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        self.values = {value.name: value for value in values}
        if data is not None:
            # Normalised before validation, as the visitor's form is (width folding, trimming).
            data = data.copy()
            for name, rule in rules.items():
                if rule.normalise and name in data:
                    data.setlist(name, [normalise_text(item) for item in data.getlist(name)])
        initial = {value.name: value.value for value in values}
        super().__init__(data, initial=initial, **kwargs)
        for value in values:
            self.fields[value.name] = self._field_for(value, rules.get(value.name), required)

    def _field_for(
        self, value: StoredValue, rule: FieldRules | None, required: frozenset[str]
    ) -> forms.Field:
        help_text = (
            _("Sent to %(fields)s") % {"fields": ", ".join(value.feeds)} if value.feeds else ""
        )
        field: forms.Field
        if isinstance(value.value, bool):
            field = forms.BooleanField(required=False)
        elif isinstance(value.value, list):
            field = LinesField(required=False)
            help_text = f"{help_text} " + str(_("One value a line.")) if help_text else ""
        else:
            text = "" if value.value is None else str(value.value)
            # Edited as the visitor typed it: a text area for the form's multi-line fields.
            long = value.multiline or "\n" in text
            field = forms.CharField(
                required=False,
                widget=forms.Textarea(attrs={"rows": 4}) if long else forms.TextInput(),
            )
        field.label = value.label
        field.help_text = help_text
        if rule is not None and not isinstance(field, forms.BooleanField):
            field.validators = [*field.validators, *validators_for(rule)]
            field.required = rule.required
        if value.name in required and not isinstance(field, forms.BooleanField):
            field.required = True
        return field

    def corrected_values(self) -> dict[str, Any]:
        """Every edited value, in the stored value's type."""
        return {
            name: _as_stored(self.cleaned_data.get(name), self.values[name].value)
            for name in self.values
        }


def _describe(entry: OutboxEntry, mapping: FormMapping) -> Mapping[str, Any] | None:
    """The describe the visitor's form validates against; the org's own when none is cached yet
    (an editor's screen may spend a call; a visitor's request never does)."""
    describe = cached_describe(entry.site_id, mapping.object)
    if describe is not None:
        return describe
    try:
        return client_for(entry.site_id).describe(mapping.object)
    except SalesforceError as error:
        logger.info(
            "Correction of outbox entry %s without the org's rules: %s",
            entry.pk,
            untrusted(error, "error"),
        )
        return None


def _record_type_values(
    entry: OutboxEntry, mapping: FormMapping
) -> dict[str, dict[str, str]] | None:
    """The picklist values the mapping's record type offers, as last read (as at the form)."""
    if not mapping.record_type:
        return None
    return cached_record_type_picklists(entry.site_id, mapping.object, mapping.record_type)


def page_fields(entry: OutboxEntry) -> dict[str, PageField]:
    """The entry's form page's fields by clean name ({} when the page is gone)."""
    page = entry.page.specific if entry.page is not None else None
    get_fields = getattr(page, "get_form_fields", None)
    if get_fields is None:
        return {}
    return {
        field.clean_name: PageField(
            label=field.label, required=field.required, multiline=field.field_type == "multiline"
        )
        for field in get_fields()
    }


def log_correction(request: HttpRequest, correction: Correction) -> None:
    """The audit-log entry: who corrected which values, from what to what.

    The values are personal data. They stay in the log's data (the one record of what the
    visitor typed), which Wagtail's site history neither shows nor exports; the message names
    the fields only. Nothing of them reaches the application log.
    """
    entry = correction.entry
    log(
        instance=entry,
        action=CORRECT_ACTION,
        user=request.user,
        data={
            "fields": correction.fields,
            "original": correction.original,
            "corrected": correction.corrected,
            "error_code": entry.last_error_code,
            "error_fields": list(entry.last_error_fields or []),
        },
    )


class CorrectionView(PolicyRequiredMixin, WagtailAdminTemplateMixin, FormView):
    """The correction screen of one dead letter."""

    permission_policy = outbox_policy
    policy_action = "correct"
    forbidden_message = CORRECT_FORBIDDEN
    template_name = "wagtail_salesforce/outbox/correct.html"
    header_icon = "edit"
    page_title = _("Correct a failed delivery")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refusal = self.check_policy(request)
        if refusal is not None:
            return refusal
        self.entry = get_object_or_404(
            OutboxEntry.objects.select_related("page", "site"), pk=kwargs["entry_id"]
        )
        if not is_correctable(self.entry):
            messages.error(request, NOT_CORRECTABLE)
            return HttpResponseRedirect(self.outbox_url)
        # The policy is checked above, before the entry is looked up (a 403 says nothing about
        # which entries exist): go on past PolicyRequiredMixin's own check.
        response = super(PolicyRequiredMixin, self).dispatch(request, *args, **kwargs)
        return cast(HttpResponse, response)

    @cached_property
    def outbox_url(self) -> str:
        return reverse("wagtail_salesforce:outbox") + "?state=dead"

    @cached_property
    def mapping(self) -> FormMapping | None:
        try:
            return get_config().forms.get(self.entry.mapping_key)
        except ConfigError:
            return None

    def get_page_subtitle(self) -> str:
        return str(_("Entry %(id)s") % {"id": self.entry.pk})

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        return [
            *self.breadcrumbs_items,
            {"url": reverse("wagtail_salesforce:outbox"), "label": _("Salesforce outbox")},
            {"url": "", "label": self.get_page_title(), "sublabel": self.get_page_subtitle()},
        ]

    def get_form_kwargs(self) -> dict[str, Any]:
        fields = page_fields(self.entry)
        self.values = stored_values(self.entry, self.mapping, fields)
        describe = _describe(self.entry, self.mapping) if self.mapping is not None else None
        kwargs = super().get_form_kwargs()
        kwargs.pop("initial", None)
        return {
            **kwargs,
            "values": self.values,
            "rules": (
                rules_for(self.mapping, describe, _record_type_values(self.entry, self.mapping))
                if self.mapping is not None
                else {}
            ),
            "required": frozenset(name for name, field in fields.items() if field.required),
        }

    def get_form_class(self) -> type[CorrectionForm]:
        return CorrectionForm

    def form_valid(self, form: CorrectionForm) -> HttpResponse:
        try:
            correct_dead_letter(
                self.entry.pk,
                form.corrected_values(),
                record=lambda correction: log_correction(self.request, correction),
            )
        except CorrectionRefused as refusal:
            if not is_correctable(OutboxEntry.objects.get(pk=self.entry.pk)):
                messages.error(self.request, refusal.message)
                return HttpResponseRedirect(self.outbox_url)
            form.add_error(None, refusal.message)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("Entry %(id)s corrected and queued for delivery.") % {"id": self.entry.pk},
        )
        # The whole outbox: the corrected entry is no longer among the dead letters.
        return HttpResponseRedirect(reverse("wagtail_salesforce:outbox"))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        refused = [value for value in self.values if value.refused]
        context.update(
            {
                "entry": self.entry,
                "mapping": self.mapping,
                "refused": refused,
                "refused_names": {value.name for value in refused},
                "action_url": self.request.get_full_path(),
                "submit_button_label": _("Correct and deliver"),
                "submit_button_active_label": _("Delivering…"),
                "outbox_url": self.outbox_url,
            }
        )
        return context
