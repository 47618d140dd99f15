"""Settings → Personal data requests: look a person up by email, download what the plugin holds
about them (access request) or erase it (erasure request), in ``people/``.

Every request is a POST, so the email never lands in a URL (server logs, browser history). The
screen opens with either permission of ``people_policy``; the download needs "export", erasing
needs "erase".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from wagtail.admin import messages

from wagtail_salesforce.people.access import JSON_ENCODER, PersonData, find_person
from wagtail_salesforce.people.erasure import (
    ErasureRefused,
    SalesforceChoice,
    allowed_choices,
    configured_choice,
    erase_person,
)

from .exports import log_person_export
from .permissions import (
    ACCESS_PERSON_FORBIDDEN,
    ERASE_PERSON_FORBIDDEN,
    PEOPLE_FORBIDDEN,
    forbidden_response,
    people_policy,
)

TEMPLATE = "wagtail_salesforce/people/requests.html"


class PersonLookupForm(forms.Form):
    email = forms.CharField(
        label=pgettext_lazy("person lookup", "Email"),
        max_length=254,
        help_text=gettext_lazy("Any spelling: case and surrounding spaces do not matter."),
    )


class ErasureForm(PersonLookupForm):
    salesforce = forms.ChoiceField(
        label=gettext_lazy("Their Salesforce records"), widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["salesforce"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(c.value, c.label) for c in allowed_choices()]
        field.initial = configured_choice().value


@dataclass(frozen=True)
class Held:
    """One line of the summary: a kind of data, how many, and what erasing does to it."""

    key: str
    label: str
    count: int
    on_erasure: str


def summary(person: PersonData) -> list[Held]:
    counts = person.counts()
    lines = [
        Held(
            "leads",
            _("Local leads"),
            counts["leads"],
            _("Deleted, with everything recorded against them."),
        ),
        Held(
            "form_submissions",
            _("Wagtail form submissions"),
            counts["form_submissions"],
            _("Deleted."),
        ),
        Held(
            "outbox_entries",
            _("Outbox entries"),
            counts["outbox_entries"],
            _(
                "Their submitted data is cleared; the status, Salesforce ids and times stay. An "
                "entry not delivered yet is never delivered."
            ),
        ),
        Held(
            "sync_runs",
            _("Sync runs that name them"),
            counts["sync_runs"],
            _("The email is removed from the problems they recorded."),
        ),
    ]
    for label, rows in person.related_rows().items():
        model = type(rows[0])
        lines.append(
            Held(
                label,
                str(model._meta.verbose_name_plural).capitalize(),
                len(rows),
                _("Deleted with the leads."),
            )
        )
    return lines


def _can(request: HttpRequest) -> dict[str, bool]:
    return {
        "can_access": people_policy.user_has_permission(request.user, "access"),
        "can_erase": people_policy.user_has_permission(request.user, "erase"),
    }


def _render(request: HttpRequest, **context: Any) -> TemplateResponse:
    return TemplateResponse(request, TEMPLATE, {**_can(request), **context})


@require_http_methods(["GET", "POST"])
def person_requests(request: HttpRequest) -> HttpResponse:
    """The lookup form, and after a lookup what is held about the person."""
    can = _can(request)
    if not (can["can_access"] or can["can_erase"]):
        return forbidden_response(request, PEOPLE_FORBIDDEN)
    form = PersonLookupForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return _render(request, form=form)
    person = find_person(form.cleaned_data["email"])
    if not person.email:
        form.add_error("email", _("Enter an email address."))
        return _render(request, form=form)
    return _render(
        request,
        form=form,
        person=person,
        held=summary(person),
        erasure_form=ErasureForm(initial={"email": person.email}),
        known_records=_known_records(person),
        salesforce_help=_salesforce_help(),
    )


def _known_records(person: PersonData) -> list[str]:
    records = {
        f"{lead.sf_object} {lead.sf_id}" for lead in person.leads if lead.sf_id and lead.sf_object
    }
    records |= {
        f"{entry.salesforce_object} {entry.salesforce_id}"
        for entry in person.outbox_entries
        if entry.salesforce_id and entry.salesforce_object
    }
    return sorted(records)


def _salesforce_help() -> list[tuple[str, str]]:
    explained = {
        SalesforceChoice.KEEP: _(
            "The records stay in Salesforce. The sync will not bring the person back here "
            "unless they submit a form again."
        ),
        SalesforceChoice.ANONYMISE: _(
            "Their text, email, phone and URL fields are emptied (required ones say “Erased”) "
            "and email opt-outs set; the records stay for reporting."
        ),
        SalesforceChoice.DELETE: _(
            "The records are deleted in Salesforce (to its recycle bin, as a user's delete is)."
        ),
    }
    return [(str(choice.label), explained[choice]) for choice in allowed_choices()]


@require_POST
def person_export(request: HttpRequest) -> HttpResponse:
    """The access export: one JSON file, logged (by hash) like every export."""
    if not people_policy.user_has_permission(request.user, "access"):
        return forbidden_response(request, ACCESS_PERSON_FORBIDDEN)
    form = PersonLookupForm(request.POST)
    if not form.is_valid():
        return redirect("wagtail_salesforce:people")
    person = find_person(form.cleaned_data["email"])
    log_person_export(
        request.user, person_hash=person.hash, rows=sum(person.counts().values())
    )
    body = json.dumps(person.document(), cls=JSON_ENCODER, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    # The hash, not the email: downloads folders and proxies keep file names.
    response["Content-Disposition"] = f'attachment; filename="person-{person.hash[:12]}.json"'
    return response


@require_POST
def person_erase(request: HttpRequest) -> HttpResponse:
    if not people_policy.user_has_permission(request.user, "erase"):
        return forbidden_response(request, ERASE_PERSON_FORBIDDEN)
    form = ErasureForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what to do with the Salesforce records."))
        return redirect("wagtail_salesforce:people")
    try:
        result = erase_person(
            form.cleaned_data["email"],
            salesforce=form.cleaned_data["salesforce"],
            user=request.user,
        )
    except ErasureRefused as error:
        messages.error(request, str(error))
        return redirect("wagtail_salesforce:people")
    count = len(result.salesforce_records)
    outcome = {
        SalesforceChoice.KEEP: _("Their Salesforce records were kept."),
        SalesforceChoice.ANONYMISE: _("Salesforce records anonymised: %(count)s.")
        % {"count": count},
        SalesforceChoice.DELETE: _("Salesforce records deleted: %(count)s.") % {"count": count},
    }[result.salesforce]
    messages.success(
        request,
        _("The person's data was erased (reference %(reference)s in the audit log). %(outcome)s")
        % {"reference": result.hash[:16], "outcome": outcome},
    )
    return redirect("wagtail_salesforce:people")
