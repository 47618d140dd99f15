"""Everything the plugin holds about one person, found by email: one JSON document.

A person is an email, normalised as everywhere in the plugin (trimmed, lower-case). What is
found, on every site:

- the local leads with that email, and every row that points at them (sync conflicts, and
  whatever other models keep per lead);
- Wagtail form submissions carrying it in an email field (a field of the form page of type
  "email", a field named ``email``, or the submission an outbox entry of the person came from);
- outbox entries whose submission has that email (as the outbox itself reads it:
  :func:`~wagtail_salesforce.config.payload.submission_email` through the entry's mapping), and
  the entries that wrote to the leads' Salesforce records after their data was cleared;
- the sync runs whose recorded problems name the email;
- the audit-log entries about the leads (action and time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.forms.models import model_to_dict
from django.utils import timezone
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import ModelLogEntry

from wagtail_salesforce.config import ConfigError, get_config
from wagtail_salesforce.config.payload import build_payload, normalise_email, submission_email
from wagtail_salesforce.outbox.models import OutboxEntry
from wagtail_salesforce.sync.models import ErasureTombstone, Lead, SyncRun, person_hash

FORMAT = "wagtail-salesforce/person/1"
# The keys of a sync run's recorded problem that hold an email.
EMAIL_KEYS = ("email", "new_email")
JSON_ENCODER = DjangoJSONEncoder


def _with_text(
    queryset: QuerySet[Any], field_name: str, emails: str | Iterable[str]
) -> QuerySet[Any]:
    """Narrow ``queryset`` to rows whose JSON ``field_name`` mentions one of ``emails`` in the
    database; the caller checks each row properly. A non-ASCII address may be stored
    \\u-escaped, so it is not narrowed (every row is read)."""
    wanted = [emails] if isinstance(emails, str) else sorted(emails)
    if not wanted or not all(email.isascii() for email in wanted):
        return queryset
    mentions = Q()
    for email in wanted:
        mentions |= Q(_as_text__icontains=email)
    return queryset.annotate(_as_text=Cast(field_name, TextField())).filter(mentions)


def _emails_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield normalise_email(value)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _emails_in(item)


@dataclass
class PersonData:
    """What the plugin holds about ``email`` (normalised), read from the database."""

    email: str
    # Every address of the person: ``email``, and the current and former ones of their leads
    # (an address changed in Salesforce or on the site, or a merged lead's).
    emails: frozenset[str] = frozenset()
    leads: list[Lead] = field(default_factory=list)
    submissions: list[Any] = field(default_factory=list)
    outbox_entries: list[OutboxEntry] = field(default_factory=list)
    # (run, the indexes of its recorded problems naming the person)
    sync_runs: list[tuple[SyncRun, list[int]]] = field(default_factory=list)
    log_entries: list[ModelLogEntry] = field(default_factory=list)
    erased: bool = False

    @property
    def hash(self) -> str:
        return person_hash(self.email)

    def related_rows(self) -> dict[str, list[Model]]:
        """Every row pointing at the leads (conflicts, ...), by model label."""
        rows: dict[str, list[Model]] = {}
        for relation in Lead._meta.related_objects:
            if not (relation.one_to_many or relation.one_to_one):
                continue
            model = relation.related_model
            if not isinstance(model, type):
                continue
            found = list(
                model._default_manager.filter(**{f"{relation.field.name}__in": self.leads})
            )
            if found:
                rows[model._meta.label_lower] = found
        return rows

    def counts(self) -> dict[str, int]:
        """How many of each kind were found (the screen's summary, the audit log's data)."""
        counts = {
            "leads": len(self.leads),
            "form_submissions": len(self.submissions),
            "outbox_entries": len(self.outbox_entries),
            "sync_runs": len(self.sync_runs),
        }
        for label, rows in self.related_rows().items():
            counts[label] = len(rows)
        return counts

    @property
    def is_empty(self) -> bool:
        return not (self.leads or self.submissions or self.outbox_entries or self.sync_runs)

    def document(self) -> dict[str, Any]:
        """The access export: JSON-safe with :data:`JSON_ENCODER` (dates as ISO 8601)."""
        related = self.related_rows()
        return {
            "format": FORMAT,
            "email": self.email,
            "other_emails": sorted(self.emails - {self.email}),
            "generated_at": timezone.now(),
            "erased_before": self.erased,
            "leads": [_lead(lead, related) for lead in self.leads],
            "form_submissions": [_submission(s) for s in self.submissions],
            "outbox_entries": [_entry(entry) for entry in self.outbox_entries],
            "sync_history": [
                {
                    "run": run.pk,
                    "site": run.site_id,
                    "started_at": run.started_at,
                    "status": str(run.status),
                    "problem": run.errors[index],
                }
                for run, indexes in self.sync_runs
                for index in indexes
            ],
            "audit_log": [
                {
                    "action": entry.action,
                    "timestamp": entry.timestamp,
                    "object": entry.object_id,
                    "data": entry.data,
                }
                for entry in self.log_entries
            ],
        }


def _model_dict(row: Model, exclude: Iterable[str] = ()) -> dict[str, Any]:
    data = model_to_dict(row, exclude=list(exclude))
    data["id"] = row.pk
    for name in ("created_at", "updated_at"):  # not editable, so model_to_dict leaves them out
        if hasattr(row, name):
            data[name] = getattr(row, name)
    return data


def _lead(lead: Lead, related: Mapping[str, list[Model]]) -> dict[str, Any]:
    data = _model_dict(lead)
    data.update(
        base=lead.base,
        local_modified=lead.local_modified,
        duplicate_ids=lead.duplicate_ids,
        former_emails=lead.former_emails,
        consent=lead.consent,
    )
    for label, rows in related.items():
        data[label] = [_model_dict(row) for row in rows if getattr(row, "lead_id", None) == lead.pk]
    return data


def _submission(submission: Any) -> dict[str, Any]:
    return {
        "id": submission.pk,
        "page": submission.page_id,
        "page_title": submission.page.title if submission.page_id else "",
        "submit_time": submission.submit_time,
        "form_data": submission.form_data,
    }


def _entry(entry: OutboxEntry) -> dict[str, Any]:
    data = _model_dict(entry, exclude=["claim_token", "claimed_until"])
    data.update(
        state=str(entry.state),
        attempts=entry.attempts,
        idempotency_token=str(entry.idempotency_token),
        delivered_at=entry.delivered_at,
        payload_cleared_at=entry.payload_cleared_at,
        last_attempt_at=entry.last_attempt_at,
        salesforce_object=entry.salesforce_object,
        salesforce_id=entry.salesforce_id,
        salesforce_action=entry.salesforce_action,
        campaign_member_id=entry.campaign_member_id,
    )
    return data


def _entry_email(entry: OutboxEntry, mappings: Mapping[str, Any]) -> str:
    """The entry's email as the outbox reads it (the mapped Email field, else ``email``)."""
    mapping = mappings.get(entry.mapping_key)
    payload = build_payload(mapping, entry.form_data) if mapping is not None else {}
    return submission_email(payload, entry.form_data)


def _mappings() -> Mapping[str, Any]:
    try:
        return get_config().forms
    except ConfigError:
        # The person's data must be found even while the YAML is broken: the form's own
        # ``email`` field is read instead.
        return {}


class _EmailFields:
    """The email fields of each form page (clean names of its fields of type "email")."""

    def __init__(self) -> None:
        self._by_page: dict[int, set[str]] = {}

    def of(self, page: Any) -> set[str]:
        if page.pk not in self._by_page:
            names = {"email"}
            specific = page.specific
            if hasattr(specific, "get_form_fields"):
                names |= {
                    f.clean_name for f in specific.get_form_fields() if f.field_type == "email"
                }
            self._by_page[page.pk] = names
        return self._by_page[page.pk]


def find_person(email: str) -> PersonData:
    """Everything the plugin holds about ``email`` (any spelling), on every site."""
    email = normalise_email(email)
    person = PersonData(email=email)
    if not email:
        return person
    person.erased = ErasureTombstone.objects.is_erased(email)
    leads = {lead.pk: lead for lead in Lead.objects.filter(email=email).select_related("site")}
    # A lead that had this address before (JSON "contains" is not portable: checked here).
    for lead in _with_text(Lead.objects.select_related("site"), "former_emails", email):
        if email in lead.former_emails:
            leads[lead.pk] = lead
    person.leads = sorted(leads.values(), key=lambda lead: lead.pk)
    emails = {email}
    for lead in person.leads:
        emails |= {lead.email, *lead.former_emails}
    emails.discard("")
    person.emails = frozenset(emails)

    mappings = _mappings()
    entries = [
        entry
        for entry in _with_text(OutboxEntry.objects.all(), "form_data", emails).order_by("pk")
        if _entry_email(entry, mappings) in emails
    ]
    linked_ids = [lead.sf_id for lead in person.leads if lead.sf_id]
    if linked_ids:
        # Entries whose data was cleared still tell which records were written for the person.
        seen = {entry.pk for entry in entries}
        entries += [
            entry
            for entry in OutboxEntry.objects.filter(salesforce_id__in=linked_ids).order_by("pk")
            if entry.pk not in seen
        ]
    person.outbox_entries = entries

    from_entries = {entry.submission_id for entry in entries if entry.submission_id}
    fields = _EmailFields()
    candidates = _with_text(FormSubmission.objects.all(), "form_data", emails)
    submissions = {
        submission.pk: submission
        for submission in candidates.select_related("page").order_by("pk")
        if submission.pk in from_entries
        or any(
            found in emails
            for name in fields.of(submission.page)
            for found in _emails_in(submission.form_data.get(name))
        )
    }
    missing = from_entries - set(submissions)
    if missing:
        submissions.update(
            (s.pk, s) for s in FormSubmission.objects.filter(pk__in=missing).select_related("page")
        )
    person.submissions = sorted(submissions.values(), key=lambda s: s.pk)

    for run in _with_text(SyncRun.objects.all(), "errors", emails).order_by("pk"):
        indexes = [
            index
            for index, problem in enumerate(run.errors)
            if isinstance(problem, dict)
            and any(normalise_email(str(problem.get(key) or "")) in emails for key in EMAIL_KEYS)
        ]
        if indexes:
            person.sync_runs.append((run, indexes))

    if person.leads:
        person.log_entries = list(
            ModelLogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(Lead),
                object_id__in=[str(lead.pk) for lead in person.leads],
            ).order_by("timestamp", "pk")
        )
    return person


def export_document(email: str) -> dict[str, Any]:
    return find_person(email).document()
