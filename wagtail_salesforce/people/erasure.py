"""Erasing everything the plugin holds about one person, on request (GDPR art. 17, APPI).

Locally, in one transaction: the leads are deleted (their conflicts and other rows with them),
the person's Wagtail form submissions are deleted, the outbox entries' submitted data is cleared
(their status, ids and times stay; entries still waiting are never delivered), the sync runs'
recorded problems lose the email, and the audit-log entries about the leads lose it from their
label. A tombstone (a keyed hash of the email) keeps the sync from pulling the person back from
Salesforce until they submit a form again; the audit log names the erasure by that hash only.

Form submissions are deleted rather than blanked: Wagtail's submissions listing and its CSV
download would otherwise show rows with nothing in them that editors cannot explain, and what
would be left (which page, when) is still about the person. The outbox entry keeps the
delivery's history without them.

In Salesforce, when chosen and allowed by ``ERASURE_SALESFORCE``, first (so that a Salesforce
failure erases nothing and the request can be repeated): the records the person's leads are
linked to, the records their submissions wrote, and every Lead or Contact (the sync's ``match``
objects and the mapped objects with an ``Email`` field) with the email are deleted, or
anonymised (their text, email, phone and URL fields emptied; required ones set to
``Erased``; opt-out flags set).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Model, TextChoices
from django.utils.translation import gettext_lazy as _
from wagtail.contrib.forms.models import FormSubmission
from wagtail.log_actions import log
from wagtail.models import ModelLogEntry, Site

from wagtail_salesforce import conf
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.config import ConfigError, get_config
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.connection.problems import connection_problem
from wagtail_salesforce.exceptions import ConvertedLead, NotFound, SalesforceError
from wagtail_salesforce.outbox.models import OutboxEntry
from wagtail_salesforce.outbox.retention import clear_payloads
from wagtail_salesforce.sync.models import ErasureTombstone, Lead, SyncRun, person_hash

from .access import EMAIL_KEYS, PersonData, find_person

ERASE_ACTION = "wagtail_salesforce.erase"
# What an anonymised record's required text fields say instead of the person's data.
ANONYMISED_TEXT = "Erased"
ERASED_EMAIL_VALUE = "[erased]"
PERSONAL_TYPES = frozenset({"string", "email", "phone", "textarea", "url", "encryptedstring"})
OPT_OUT_FIELDS = ("HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall")
# Key prefixes of the objects a duplicate Id (Lead.duplicate_ids) can belong to.
KEY_PREFIXES = {"00Q": "Lead", "003": "Contact"}


class SalesforceChoice(TextChoices):
    """What erasure does to the person's Salesforce records, least to most far-reaching."""

    KEEP = "keep", _("Keep them")
    ANONYMISE = "anonymise", _("Anonymise them")
    DELETE = "delete", _("Delete them")


ORDER = [SalesforceChoice.KEEP, SalesforceChoice.ANONYMISE, SalesforceChoice.DELETE]


def configured_choice() -> SalesforceChoice:
    """``ERASURE_SALESFORCE``: the furthest erasure may go in Salesforce (and its default)."""
    value = conf.get("ERASURE_SALESFORCE")
    if value not in SalesforceChoice.values:
        raise ImproperlyConfigured(
            f"WAGTAIL_SALESFORCE['ERASURE_SALESFORCE'] must be one of "
            f"{', '.join(SalesforceChoice.values)}, not {value!r}"
        )
    return SalesforceChoice(value)


def allowed_choices() -> list[SalesforceChoice]:
    """The choices the dialog and the command offer: up to the configured one."""
    return ORDER[: ORDER.index(configured_choice()) + 1]


class ErasureRefused(SalesforceError):
    """Nothing was erased: the choice is not allowed, or Salesforce could not be reached."""


@dataclass(frozen=True)
class RemoteRecord:
    site_id: int
    sobject: str
    record_id: str


@dataclass
class ErasureResult:
    hash: str
    salesforce: SalesforceChoice
    removed: dict[str, int]
    salesforce_records: list[RemoteRecord] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-safe, and without the email (the command's output, the audit log's data)."""
        return {
            "person": self.hash,
            "salesforce": str(self.salesforce),
            "removed": self.removed,
            "salesforce_records": [
                {"site": r.site_id, "object": r.sobject, "id": r.record_id}
                for r in self.salesforce_records
            ],
        }


# --- Salesforce --------------------------------------------------------------------------


def _people_objects() -> set[str]:
    """Objects a person's email lives on: the sync's match objects and the mapped objects
    whose mapping writes an ``Email`` field."""
    try:
        config = get_config()
    except ConfigError:
        return {"Lead", "Contact"}
    objects: set[str] = set()
    if config.sync is not None:
        objects |= {*config.sync.match, config.sync.create_as}
    for mapping in config.forms.values():
        if any(name.lower() == "email" for name in mapping.fields):
            objects.add(mapping.object)
    return objects or {"Lead", "Contact"}


def _known_records(person: PersonData) -> set[RemoteRecord]:
    records: set[RemoteRecord] = set()
    for lead in person.leads:
        if lead.sf_id and lead.sf_object:
            records.add(RemoteRecord(lead.site_id, lead.sf_object, lead.sf_id))
        for other in lead.duplicate_ids:
            sobject = KEY_PREFIXES.get(str(other)[:3])
            if sobject:
                records.add(RemoteRecord(lead.site_id, sobject, str(other)))
    for entry in person.outbox_entries:
        if entry.salesforce_id and entry.salesforce_object:
            records.add(RemoteRecord(entry.site_id, entry.salesforce_object, entry.salesforce_id))
    return records


def _clients(known: Iterable[RemoteRecord]) -> dict[int, SalesforceClient]:
    """A client for every site whose org may hold the person: the sites of records already
    known (which must be reachable: erasing here while they stay there would lose their ids)
    and every other connected site (searched by email)."""
    required = {record.site_id for record in known}
    connected = set(
        SalesforceConnection.objects.filter(
            enabled=True, status=ConnectionStatus.CONNECTED
        ).values_list("site_id", flat=True)
    )
    clients: dict[int, SalesforceClient] = {}
    for site in Site.objects.filter(pk__in=required | connected).order_by("pk"):
        problem = connection_problem(SalesforceConnection.objects.filter(site=site).first())
        if problem is None:
            try:
                clients[site.pk] = client_for(site)
                continue
            except SalesforceError as error:
                problem = str(error)
        if site.pk in required:
            raise ErasureRefused(
                _(
                    "Salesforce could not be reached for %(site)s, so nothing was erased: "
                    "%(problem)s"
                )
                % {"site": site, "problem": problem}
            )
    return clients


def _describe_fields(client: SalesforceClient, sobject: str) -> list[dict[str, Any]]:
    return list(client.describe(sobject).get("fields") or [])


def _found_by_email(
    client: SalesforceClient, site_id: int, email: str, objects: Iterable[str]
) -> set[RemoteRecord]:
    found: set[RemoteRecord] = set()
    for sobject in sorted(objects):
        try:
            names = {str(f["name"]).lower() for f in _describe_fields(client, sobject)}
        except NotFound:
            continue  # not in this org
        if "email" not in names:
            continue
        # A converted Lead lives on as its Contact (found there); Salesforce refuses to change it.
        where = "IsConverted = false" if "isconverted" in names else ""
        matches = client.lookup(sobject, "Email", [email], ["Id"], extra_where=where)
        for record in matches.get(email, []):
            found.add(RemoteRecord(site_id, sobject, str(record["Id"])))
    return found


def anonymised_values(fields: Iterable[Mapping[str, Any]], person: str) -> dict[str, Any]:
    """The update that leaves a record with nothing personal: text, email, phone and URL
    fields emptied (required ones ``Erased``, unique ones left when they cannot be emptied),
    opt-out flags set so that no one mails the record."""
    values: dict[str, Any] = {}
    for described in fields:
        name = str(described.get("name"))
        if not described.get("updateable") or described.get("calculated"):
            continue
        if name in OPT_OUT_FIELDS and described.get("type") == "boolean":
            values[name] = True
            continue
        if described.get("type") not in PERSONAL_TYPES:
            continue
        if described.get("nillable"):
            values[name] = None
        elif described.get("unique") or described.get("externalId"):
            continue
        elif described.get("type") == "email":
            values[name] = f"erased-{person[:12]}@example.invalid"
        else:
            values[name] = ANONYMISED_TEXT
    return values


def _act_in_salesforce(person: PersonData, choice: SalesforceChoice) -> list[RemoteRecord]:
    known = _known_records(person)
    clients = _clients(known)
    objects = _people_objects()
    records = set(known)
    for site_id, site_client in clients.items():
        records |= _found_by_email(site_client, site_id, person.email, objects)
    done: list[RemoteRecord] = []
    for record in sorted(records, key=lambda r: (r.site_id, r.sobject, r.record_id)):
        client = clients.get(record.site_id)
        if client is None:
            continue
        try:
            if choice is SalesforceChoice.DELETE:
                client.delete(record.sobject, record.record_id)
            else:
                fields = _describe_fields(client, record.sobject)
                client.update(
                    record.sobject, record.record_id, anonymised_values(fields, person.hash)
                )
        except NotFound:
            continue  # already deleted (or merged away) in Salesforce
        except ConvertedLead:
            # Salesforce keeps a converted Lead read-only; the person lives on as its Contact,
            # which is found by email and handled like any other record.
            continue
        except SalesforceError as error:
            raise ErasureRefused(
                _(
                    "Salesforce refused to change %(object)s %(id)s (%(error)s). Records handled "
                    "before it stay handled; nothing was erased here. Fix the cause and erase "
                    "again."
                )
                % {"object": record.sobject, "id": record.record_id, "error": error}
            ) from error
        done.append(record)
    return done


# --- local -------------------------------------------------------------------------------


def _count(removed: dict[str, int], label: str, number: int) -> None:
    if number:
        removed[label] = removed.get(label, 0) + number


def _erase_locally(person: PersonData) -> dict[str, int]:
    removed: dict[str, int] = {}
    label = person.hash[:16]
    for model_label, rows in person.related_rows().items():
        _count(removed, model_label, len(rows))
    if person.leads:
        ModelLogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Lead),
            object_id__in=[str(lead.pk) for lead in person.leads],
        ).update(label=label)
        Lead.objects.filter(pk__in=[lead.pk for lead in person.leads]).delete()
        _count(removed, "leads", len(person.leads))
    if person.submissions:
        FormSubmission.objects.filter(pk__in=[s.pk for s in person.submissions]).delete()
        _count(removed, "form_submissions", len(person.submissions))
    entries = OutboxEntry.objects.filter(pk__in=[entry.pk for entry in person.outbox_entries])
    _count(removed, "outbox_entries", clear_payloads(entries))
    for run, indexes in person.sync_runs:
        fresh = SyncRun.objects.select_for_update().get(pk=run.pk)
        for index in indexes:
            problem = dict(fresh.errors[index])
            for key in EMAIL_KEYS:
                if key in problem:
                    problem[key] = ERASED_EMAIL_VALUE
            fresh.errors[index] = problem
        SyncRun.objects.filter(pk=run.pk).update(errors=fresh.errors)
        _count(removed, "sync_runs", 1)
    return removed


def erase_person(
    email: str,
    *,
    salesforce: str | SalesforceChoice = SalesforceChoice.KEEP,
    user: Any = None,
) -> ErasureResult:
    """Erase everything held about ``email`` (see the module's docstring).

    Raises :class:`ErasureRefused` (nothing erased locally) when ``salesforce`` goes further
    than ``ERASURE_SALESFORCE`` allows or Salesforce cannot be reached or refuses a change.
    """
    choice = SalesforceChoice(salesforce)
    if choice not in allowed_choices():
        raise ErasureRefused(
            _("ERASURE_SALESFORCE does not allow erasure to %(choice)s Salesforce records.")
            % {"choice": choice.value}
        )
    person = find_person(email)
    if not person.email:
        raise ErasureRefused(_("Enter an email address."))
    handled: list[RemoteRecord] = []
    if choice is not SalesforceChoice.KEEP:
        handled = _act_in_salesforce(person, choice)
    with transaction.atomic():
        removed = _erase_locally(person)
        tombstone, _created = ErasureTombstone.objects.get_or_create(email_hash=person.hash)
        # The person's other addresses too: a record in Salesforce still carrying a former
        # address must not bring them back either.
        for other in sorted(person.emails - {person.email}):
            ErasureTombstone.objects.get_or_create(email_hash=person_hash(other))
        result = ErasureResult(
            hash=person.hash, salesforce=choice, removed=removed, salesforce_records=handled
        )
        log_erasure(tombstone, result, user)
    return result


def log_erasure(tombstone: Model, result: ErasureResult, user: Any) -> None:
    """The audit-log entry of an erasure: who, and whom by hash only (the label too)."""
    summary = result.summary()
    log(
        instance=tombstone,
        action=ERASE_ACTION,
        user=user,
        data={
            "person": summary["person"],
            "salesforce": summary["salesforce"],
            "removed": summary["removed"],
            "salesforce_records": len(result.salesforce_records),
        },
    )
