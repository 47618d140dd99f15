"""One sync cycle of one site: pull Salesforce's changes, merge, push Wagtail's.

Pull: every synced object's records changed since its watermark (``SystemModstamp`` minus an
overlap window), all objects' first pages in ONE ``/composite`` call (an idle cycle costs exactly
that call), streamed page by page and stored in batches. The watermark moves only after an
object's whole stream is stored, so a failure part-way repeats work (harmlessly: the merge is
idempotent) instead of losing it.

Push: leads flagged ``needs_push``, in batches. Unlinked ones are looked up by email across the
``match`` objects (five IN-list queries per ``/composite`` call); a match is linked and merged,
never duplicated; the rest are created as ``create_as``. Creates and updates travel as sObject
Collections, five collections of 200 per ``/composite`` call; when more leads than
``SYNC_BULK_THRESHOLD`` wait to be pushed in the cycle, as Bulk API 2.0 ingest jobs instead.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce import conf
from wagtail_salesforce.client import (
    SalesforceClient,
    bulk_threshold,
    soql_field_list,
    soql_identifier,
    soql_in_batches,
)
from wagtail_salesforce.config import Direction, SyncConfig, SyncField
from wagtail_salesforce.config.payload import normalise_email
from wagtail_salesforce.exceptions import OutcomeUnknown

from . import remote, signals
from .merge import FieldMerge, merge_field, normalise
from .models import Lead, LeadOrigin, SyncConflict, SyncRun, SyncState

logger = logging.getLogger(__name__)

EMAIL_FIELD = "Email"
SALESFORCE_DATETIME = "%Y-%m-%dT%H:%M:%S.%f%z"
LEAD_FIELDS_SAVED = [
    "email",
    "values",
    "base",
    "local_modified",
    "sf_object",
    "sf_id",
    "sf_last_modified",
    "duplicate_ids",
    "needs_push",
    "sync_error",
    "updated_at",
]
MAX_ERRORS_KEPT = 200


def _state_of(lead: Lead) -> tuple[Any, ...]:
    return tuple(getattr(lead, name) for name in LEAD_FIELDS_SAVED if name != "updated_at")


def save_leads(leads: Sequence[Lead], now: datetime.datetime | None = None) -> None:
    """Write the sync's fields of ``leads`` in one ``executemany`` UPDATE.

    Django's ``bulk_update`` builds a CASE expression per field and row, which costs
    milliseconds per lead; this stays linear and cheap at 100,000 leads.
    """
    if not leads:
        return
    stamp = now or timezone.now()
    concrete = {field.name: field for field in Lead._meta.concrete_fields}
    fields = [concrete[name] for name in LEAD_FIELDS_SAVED]
    connection = connections[router.db_for_write(Lead)]
    quote = connection.ops.quote_name
    # A concrete field always has a column (only the stubs allow None).
    assignments = ", ".join(f"{quote(cast(str, field.column))} = %s" for field in fields)
    sql = f"UPDATE {quote(Lead._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608
    rows = []
    for lead in leads:
        lead.updated_at = stamp
        rows.append(
            [field.get_db_prep_save(getattr(lead, field.attname), connection) for field in fields]
            + [lead.pk]
        )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


class DryRunRollback(Exception):
    """Raised inside the cycle's transaction to undo a dry run's database writes."""


def parse_sf_datetime(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    text = str(value)
    try:
        return datetime.datetime.strptime(text, SALESFORCE_DATETIME)
    except ValueError:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def soql_datetime(value: datetime.datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC)."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class SyncedObjects:
    """The Salesforce objects a sync config reads and writes, and its fields on each."""

    config: SyncConfig
    objects: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        ordered = [*self.config.match, self.config.create_as]
        self.objects = tuple(dict.fromkeys(ordered))

    def fields_on(self, sobject: str) -> list[tuple[SyncField, str]]:
        return [
            (sync_field, sync_field.salesforce[sobject])
            for sync_field in self.config.fields.values()
            if sobject in sync_field.salesforce
        ]

    def rank(self, sobject: str) -> int:
        """Lower is preferred when one email is found in several objects."""
        match = self.config.match
        return match.index(sobject) if sobject in match else len(match)

    def select(self, sobject: str) -> list[str]:
        names = ["Id", EMAIL_FIELD, "LastModifiedDate", "SystemModstamp", "IsDeleted"]
        if sobject == "Lead":
            names += ["IsConverted", "ConvertedContactId"]
        names += [sf_name for _f, sf_name in self.fields_on(sobject)]
        # Salesforce field names are case-insensitive: select each one once.
        return list({name.lower(): name for name in reversed(names)}.values())[::-1]


class Cycle:
    """A sync cycle; ``run()`` fills the :class:`SyncRun` it was given."""

    def __init__(
        self,
        site: Site,
        client: SalesforceClient,
        config: SyncConfig,
        run: SyncRun,
        *,
        connection_id: int,
        full: bool = False,
        dry_run: bool = False,
        keep_alive: Callable[[], None] | None = None,
    ) -> None:
        self.site = site
        self.client = client
        self.synced = SyncedObjects(config)
        self.config = config
        self.run = run
        self.connection_id = connection_id
        self.full = full
        self.dry_run = dry_run
        self.keep_alive = keep_alive or (lambda: None)
        self.batch_size = int(conf.get("SYNC_BATCH_SIZE"))
        self.use_bulk = False  # decided when the push starts

    # --- bookkeeping ---------------------------------------------------------------------

    def error(self, message: str, **details: Any) -> None:
        if len(self.run.errors) < MAX_ERRORS_KEPT:
            self.run.errors.append({"message": message, **details})

    def execute(self) -> SyncRun:
        calls_before = self.client.api_calls
        try:
            if self.dry_run:
                try:
                    with transaction.atomic():
                        self.pull()
                        self.push()
                        raise DryRunRollback
                except DryRunRollback:
                    pass
            else:
                self.pull()
                self.push()
        finally:
            self.run.api_calls = self.client.api_calls - calls_before
        return self.run

    # --- pull ----------------------------------------------------------------------------

    def _state(self, sobject: str) -> SyncState:
        state, _created = SyncState.objects.get_or_create(
            connection_id=self.connection_id, sobject=sobject
        )
        return state

    def pull(self) -> None:
        overlap = datetime.timedelta(seconds=float(conf.get("SYNC_OVERLAP_SECONDS")))
        states = {sobject: self._state(sobject) for sobject in self.synced.objects}
        queries: dict[str, str] = {}
        for sobject, state in states.items():
            select = soql_field_list(self.synced.select(sobject))
            where = ""
            since = self._since(state, overlap)
            if since is not None:
                where = f" WHERE SystemModstamp >= {soql_datetime(since)}"
            table = soql_identifier(sobject)  # names come from the YAML: validate anyway
            queries[sobject] = f"SELECT {select} FROM {table}{where} ORDER BY SystemModstamp"  # noqa: S608
        started = timezone.now()
        # Every object's first page in one call: an idle cycle costs exactly this call.
        pages = remote.composite_queries(self.client, queries, include_deleted=True)
        # Leads first: a conversion relinks the local lead to its Contact before the Contact's
        # own record arrives (otherwise it would look like a duplicate of the Lead).
        for sobject in sorted(self.synced.objects, key=lambda name: name != "Lead"):
            newest = states[sobject].watermark
            for records in batched(remote.stream(self.client, pages[sobject]), self.batch_size):
                stamp = self._store_pulled(sobject, records)
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
                self.keep_alive()
            # Only now is everything up to ``newest`` stored.
            SyncState.objects.filter(pk=states[sobject].pk).update(
                watermark=newest, pulled_at=started
            )

    def _since(self, state: SyncState, overlap: datetime.timedelta) -> datetime.datetime | None:
        """The lower bound of the next pull, None for everything.

        A change can commit up to ``overlap`` after its stamp, so the previous pull (complete,
        started at ``pulled_at``) saw every change stamped before ``pulled_at - overlap``: read
        from there, and never from before ``watermark - overlap`` (that would only repeat work).
        ``pulled_at`` is this server's clock: the overlap must also cover its skew against
        Salesforce's.
        """
        if state.watermark is None or self.full:
            return None
        if state.pulled_at is None:
            return state.watermark - overlap
        return max(state.pulled_at - overlap, state.watermark - overlap)

    @transaction.atomic
    def _store_pulled(
        self, sobject: str, records: list[dict[str, Any]]
    ) -> datetime.datetime | None:
        ids = [str(r["Id"]) for r in records]
        converted_to = [
            str(r["ConvertedContactId"]) for r in records if r.get("ConvertedContactId")
        ]
        emails = {normalise_email(str(r.get(EMAIL_FIELD) or "")) for r in records} - {""}
        leads = list(
            Lead.objects.filter(site=self.site).filter(
                Q(sf_id__in=[*ids, *converted_to]) | Q(email__in=emails)
            )
        )
        by_id = {lead.sf_id: lead for lead in leads if lead.sf_id}
        by_email = {lead.email: lead for lead in leads}
        before = {lead.pk: _state_of(lead) for lead in leads}
        changed: dict[int, Lead] = {}
        created: list[Lead] = []
        newest: datetime.datetime | None = None
        for record in records:
            stamp = parse_sf_datetime(record.get("SystemModstamp"))
            if stamp is not None and (newest is None or stamp > newest):
                newest = stamp
            lead = self._apply_record(sobject, record, by_id, by_email, created)
            if lead is not None and lead.pk is not None:
                changed[lead.pk] = lead
        # Re-reading the overlap window changes nothing: write only leads that changed.
        save_leads([lead for pk, lead in changed.items() if _state_of(lead) != before.get(pk)])
        if created:
            Lead.objects.bulk_create(created)
        touched = [*changed.values(), *created]
        if touched:
            signals.post_pull.send(sender=Lead, site=self.site, sobject=sobject, leads=touched)
        return newest

    def _apply_record(
        self,
        sobject: str,
        record: dict[str, Any],
        by_id: dict[str, Lead],
        by_email: dict[str, Lead],
        created: list[Lead],
    ) -> Lead | None:
        """Fold one pulled record into the local leads; the lead it changed, if any."""
        record_id = str(record["Id"])
        linked = by_id.get(record_id)
        if linked is not None and linked.sf_object != sobject:
            linked = None
        if record.get("IsDeleted"):
            if linked is None:
                return None
            # Deleted in Salesforce: forget the link, keep every local value.
            self.error(
                "Deleted in Salesforce; the local lead was unlinked.",
                email=linked.email,
                object=sobject,
                id=record_id,
                level="info",
            )
            self._unlink(linked, by_id)
            self.run.pulled += 1
            return linked
        if record.get("IsConverted"):
            contact_id = record.get("ConvertedContactId")
            if linked is None or not contact_id:
                return None
            # Converted: the person lives on as the Contact; follow it.
            by_id.pop(record_id, None)
            linked.sf_object, linked.sf_id = "Contact", str(contact_id)
            linked.sf_last_modified = None
            by_id[linked.sf_id] = linked
            self.run.pulled += 1
            return linked

        email = normalise_email(str(record.get(EMAIL_FIELD) or ""))
        remote_at = parse_sf_datetime(record.get("LastModifiedDate"))
        lead = linked
        if lead is None:
            if not email:
                return None
            lead = by_email.get(email)
            if lead is None:
                lead = self._new_lead(sobject, record, email, remote_at)
                by_email[email] = lead
                by_id[record_id] = lead
                created.append(lead)
                self.run.pulled += 1
                self.run.created += 1
                return None
            if lead.sf_id and lead.sf_id != record_id and not self._prefer(lead, sobject, record):
                self._note_duplicate(lead, record_id)
                return lead
            if lead.sf_id and lead.sf_id != record_id:
                self._note_duplicate(lead, lead.sf_id)
                by_id.pop(lead.sf_id, None)
                if lead.pk is None:
                    # Created from another record earlier in this batch: start over from this one.
                    fresh = self._new_lead(sobject, record, email, remote_at)
                    lead.values, lead.base = fresh.values, fresh.base
                    lead.sf_object, lead.sf_id = sobject, record_id
                    lead.sf_last_modified = remote_at
                    by_id[record_id] = lead
                    return None
            if lead.sf_id != record_id:
                self._relink(lead, sobject, record_id)
                by_id[record_id] = lead
        elif email and email != lead.email:
            # The email changed in Salesforce; follow it unless another lead already has it.
            if email in by_email or Lead.objects.filter(site=self.site, email=email).exists():
                self.error(
                    "The email changed in Salesforce to one another lead already has.",
                    email=lead.email,
                    new_email=email,
                    object=sobject,
                    id=record_id,
                )
            else:
                by_email.pop(lead.email, None)
                lead.email = email
                by_email[email] = lead
        if lead.pk is None:
            return None  # created earlier in this batch; its row is written with the batch
        if self._merge_pulled(lead, sobject, record, remote_at):
            self.run.pulled += 1
        lead.sf_last_modified = remote_at
        return lead

    def _prefer(self, lead: Lead, sobject: str, record: dict[str, Any]) -> bool:
        """Whether ``record`` should replace ``lead``'s link (same email, another record)."""
        current_rank = self.synced.rank(lead.sf_object)
        new_rank = self.synced.rank(sobject)
        if new_rank != current_rank:
            return new_rank < current_rank
        current = (
            lead.sf_last_modified or datetime.datetime.min.replace(tzinfo=datetime.UTC),
            lead.sf_id,
        )
        new_at = parse_sf_datetime(record.get("LastModifiedDate"))
        candidate = (
            new_at or datetime.datetime.min.replace(tzinfo=datetime.UTC),
            str(record["Id"]),
        )
        return candidate > current

    def _note_duplicate(self, lead: Lead, other_id: str) -> None:
        if other_id not in lead.duplicate_ids:
            lead.duplicate_ids = [*lead.duplicate_ids, other_id]
            self.run.duplicates += 1
            self.error(
                "Several Salesforce records share this email; the most recently modified is used.",
                email=lead.email,
                id=other_id,
                kept=lead.sf_id,
                level="warning",
            )

    @staticmethod
    def _relink(lead: Lead, sobject: str, record_id: str) -> None:
        """Link ``lead`` to another record. Fields without a pending local change take the base
        of "unchanged here", so that record's values come in; pending changes meet the rule."""
        lead.base = {
            name: value for name, value in lead.values.items() if name not in lead.local_modified
        }
        lead.sf_object, lead.sf_id = sobject, record_id
        lead.sf_last_modified = None

    def _unlink(self, lead: Lead, by_id: dict[str, Lead]) -> None:
        by_id.pop(lead.sf_id, None)
        lead.sf_object, lead.sf_id = "", ""
        lead.sf_last_modified = None
        lead.base = {}
        # Deleted on purpose in Salesforce: do not re-create it until Wagtail learns something new.
        lead.needs_push = False

    def _new_lead(
        self,
        sobject: str,
        record: dict[str, Any],
        email: str,
        remote_at: datetime.datetime | None,
    ) -> Lead:
        values = {
            sync_field.name: normalise(record.get(sf_name))
            for sync_field, sf_name in self.synced.fields_on(sobject)
            if sync_field.direction.pulls
        }
        return Lead(
            site=self.site,
            email=email,
            values=values,
            base=dict(values),
            source=LeadOrigin.SYNC,
            sf_object=sobject,
            sf_id=str(record["Id"]),
            sf_last_modified=remote_at,
        )

    def _merge_pulled(
        self,
        lead: Lead,
        sobject: str,
        record: dict[str, Any],
        remote_at: datetime.datetime | None,
    ) -> bool:
        """Merge a pulled record's fields into ``lead``; True if a local value changed."""
        pulled_any = False
        for sync_field, sf_name in self.synced.fields_on(sobject):
            outcome = self._merge(lead, sync_field, record.get(sf_name), remote_at)
            pulled_any |= self._apply_outcome(lead, sync_field, outcome)
        return pulled_any

    def _merge(
        self,
        lead: Lead,
        sync_field: SyncField,
        remote_value: Any,
        remote_at: datetime.datetime | None,
    ) -> FieldMerge:
        name = sync_field.name
        local_at = lead.local_modified.get(name)
        return merge_field(
            direction=sync_field.direction,
            rule=sync_field.conflict,
            base=lead.base.get(name),
            local=lead.values.get(name),
            remote=remote_value,
            local_changed_at=datetime.datetime.fromisoformat(local_at) if local_at else None,
            remote_changed_at=remote_at,
        )

    def _apply_outcome(self, lead: Lead, sync_field: SyncField, outcome: FieldMerge) -> bool:
        name = sync_field.name
        changed = False
        if outcome.conflict:
            self.run.conflicts += 1
            SyncConflict.objects.create(
                run=self.run if self.run.pk else None,
                lead=lead,
                field=name,
                local_value=normalise(lead.values.get(name)),
                salesforce_value=outcome.base,
                base_value=normalise(lead.base.get(name)),
                rule=sync_field.conflict.value,
                winner=outcome.winner.value if outcome.winner else "",
            )
        if outcome.pull and normalise(lead.values.get(name)) != outcome.value:
            lead.values = {**lead.values, name: outcome.value}
            changed = True
        lead.base = {**lead.base, name: outcome.base}
        if outcome.push:
            lead.needs_push = True
        else:
            lead.local_modified = {k: v for k, v in lead.local_modified.items() if k != name}
        return changed

    # --- push ----------------------------------------------------------------------------

    def push(self) -> None:
        # A large backlog (a first sync, an import) is written with Bulk API 2.0 jobs.
        waiting = Lead.objects.filter(site=self.site, needs_push=True).count()
        # Near the API budget, Bulk wherever a job costs fewer calls than collections.
        threshold = bulk_threshold(int(conf.get("SYNC_BULK_THRESHOLD")), self.client.budget.state())
        self.use_bulk = waiting > threshold
        # A Bulk job costs several calls (create, upload, close, polls, results), so it only
        # saves calls when it carries many more records than one /composite of collections.
        chunk_size = int(conf.get("SYNC_BULK_BATCH_SIZE")) if self.use_bulk else self.batch_size
        last_pk = 0
        while True:
            chunk = list(
                Lead.objects.filter(site=self.site, needs_push=True, pk__gt=last_pk).order_by("pk")[
                    :chunk_size
                ]
            )
            if not chunk:
                return
            last_pk = chunk[-1].pk
            self._push_batch(chunk)
            self.keep_alive()

    def _pushable(self, lead: Lead, sobject: str) -> dict[str, Any]:
        """Salesforce fields whose local value must be sent (local differs from the base)."""
        payload: dict[str, Any] = {}
        for sync_field, sf_name in self.synced.fields_on(sobject):
            if sync_field.direction is Direction.FROM_SALESFORCE:
                continue
            value = normalise(lead.values.get(sync_field.name))
            if value != normalise(lead.base.get(sync_field.name)):
                payload[sf_name] = value
        return payload

    def _push_batch(self, leads: list[Lead]) -> None:
        unlinked = [lead for lead in leads if not lead.sf_id]
        matches = self._lookup([lead.email for lead in unlinked]) if unlinked else {}
        creates: list[tuple[Lead, dict[str, Any]]] = []
        updates: dict[str, list[tuple[Lead, dict[str, Any]]]] = {}
        for lead in leads:
            if not lead.sf_id:
                found = matches.get(lead.email)
                if found is None:
                    creates.append((lead, self._create_payload(lead)))
                    continue
                sobject, record, others = found
                for other in others:
                    self._note_duplicate(lead, other)
                lead.sf_object, lead.sf_id = sobject, str(record["Id"])
                remote_at = parse_sf_datetime(record.get("LastModifiedDate"))
                lead.sf_last_modified = remote_at
                # Never synced with this record: both sides' values meet the field's rule.
                for sync_field, sf_name in self.synced.fields_on(sobject):
                    outcome = self._merge(lead, sync_field, record.get(sf_name), remote_at)
                    self._apply_outcome(lead, sync_field, outcome)
            payload = self._pushable(lead, lead.sf_object)
            if payload:
                updates.setdefault(lead.sf_object, []).append((lead, {"Id": lead.sf_id, **payload}))
            else:
                lead.needs_push = False
                lead.local_modified = {}
        if self.dry_run:
            self.run.created += len(creates)
            self.run.updated += sum(len(items) for items in updates.values())
            return
        writes: list[remote.Write] = []
        groups: list[list[tuple[Lead, dict[str, Any]]]] = []
        if creates:
            self._announce("create", self.config.create_as, creates)
            writes.append(remote.Write("POST", self.config.create_as, [p for _l, p in creates]))
            groups.append(creates)
        for sobject, items in updates.items():
            self._announce("update", sobject, items)
            writes.append(remote.Write("PATCH", sobject, [p for _l, p in items]))
            groups.append(items)
        results: list[list[remote.WriteResult]] = []
        if writes:
            try:
                send_writes = remote.write_bulk if self.use_bulk else remote.write_collections
                results = send_writes(self.client, writes)
            except OutcomeUnknown as error:
                # Creates may have happened: the next cycle's look-up by email finds them, and
                # updates are sent again (they are idempotent). Links made above are kept.
                self.error(f"The answer to a batch of writes was lost: {error}")
                results = [[] for _write in writes]
                groups = [[] for _write in writes]
        now = timezone.now()
        for write, group, outcomes in zip(writes, groups, results, strict=True):
            for (lead, payload), written in zip(group, outcomes, strict=True):
                self._record_write(lead, write, payload, written)
        save_leads(leads, now)

    def _announce(
        self, operation: str, sobject: str, items: list[tuple[Lead, dict[str, Any]]]
    ) -> None:
        signals.pre_push.send(
            sender=Lead,
            site=self.site,
            sobject=sobject,
            operation=operation,
            records=[payload for _lead, payload in items],
            leads=[lead for lead, _payload in items],
        )

    def _record_write(
        self, lead: Lead, write: remote.Write, payload: dict[str, Any], outcome: remote.WriteResult
    ) -> None:
        if outcome.success:
            if write.method == "POST":
                lead.sf_object, lead.sf_id = write.sobject, str(outcome.id)
                self.run.created += 1
            else:
                self.run.updated += 1
            self.run.pushed += 1
            sent = {
                sync_field.name: normalise(lead.values.get(sync_field.name))
                for sync_field, sf_name in self.synced.fields_on(write.sobject)
                if sf_name in payload
            }
            lead.base = {**lead.base, **sent}
            lead.local_modified = {}
            lead.needs_push = False
            lead.sync_error = ""
            return
        message = f"{outcome.error_code}: {outcome.message}"
        lead.sync_error = message
        # A permanent refusal waits for the next local edit instead of costing calls each cycle.
        lead.needs_push = outcome.transient
        self.error(
            message,
            email=lead.email,
            object=write.sobject,
            id=lead.sf_id,
            code=outcome.error_code,
        )

    def _create_payload(self, lead: Lead) -> dict[str, Any]:
        sobject = self.config.create_as
        payload: dict[str, Any] = {
            key: value for key, value in self.config.defaults.items() if value is not None
        }
        for sync_field, sf_name in self.synced.fields_on(sobject):
            if sync_field.direction is Direction.FROM_SALESFORCE:
                continue
            value = normalise(lead.values.get(sync_field.name))
            if value is not None:
                payload[sf_name] = value
        payload[EMAIL_FIELD] = lead.email
        return payload

    def _lookup(self, emails: Sequence[str]) -> dict[str, tuple[str, dict[str, Any], list[str]]]:
        """For each email, the record to link (object, record, other record ids).

        The first ``match`` object with any record wins; within it the most recently modified
        (then the highest Id, so the choice is deterministic).
        """
        per_batch = int(conf.get("SYNC_LOOKUP_BATCH"))
        queries: dict[str, str] = {}
        for number, batch in enumerate(
            soql_in_batches(sorted(set(emails)), max_chars=per_batch * 90, max_values=per_batch)
        ):
            in_list = ", ".join(batch)
            for sobject in self.config.match:
                select = soql_field_list(self.synced.select(sobject))
                extra = " AND IsConverted = false" if sobject == "Lead" else ""
                queries[f"{sobject}_{number}"] = (
                    f"SELECT {select} FROM {soql_identifier(sobject)} "  # noqa: S608
                    f"WHERE {EMAIL_FIELD} IN ({in_list}){extra}"
                )
        pages = remote.composite_queries(self.client, queries)
        found: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for reference, page in pages.items():
            sobject = reference.rsplit("_", 1)[0]
            for record in remote.stream(self.client, page):
                email = normalise_email(str(record.get(EMAIL_FIELD) or ""))
                found.setdefault(email, {}).setdefault(sobject, []).append(record)
        chosen: dict[str, tuple[str, dict[str, Any], list[str]]] = {}
        for email, per_object in found.items():
            for sobject in self.config.match:
                records = per_object.get(sobject)
                if not records:
                    continue
                records.sort(
                    key=lambda r: (str(r.get("LastModifiedDate") or ""), str(r["Id"])),
                    reverse=True,
                )
                others = [str(r["Id"]) for r in records[1:]]
                others += [
                    str(r["Id"])
                    for later in self.config.match[self.config.match.index(sobject) + 1 :]
                    for r in per_object.get(later, [])
                ]
                chosen[email] = (sobject, records[0], others)
                break
        return chosen
