"""A batch of claimed entries of one site and mapping, delivered together: look-ups in one call,
writes (records, campaign members, activity Tasks) in one ``/composite`` call, rounds for what
a lost answer or a shared match value leaves (see :mod:`.delivery` for the exactly-once rules).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from wagtail_salesforce.client import (
    CollectionOperation,
    CollectionWrite,
    RecordResult,
    SalesforceClient,
    collection_reference,
    soql_field_list,
    soql_identifier,
    soql_in_batches,
    soql_quote,
)
from wagtail_salesforce.config import FormMapping
from wagtail_salesforce.config.payload import (
    build_payload,
    normalise,
    writable_fields,
)
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.exceptions import (
    ApiError,
    ConvertedLead,
    DuplicateValue,
    NotFound,
    OutcomeUnknown,
    TransientError,
)
from wagtail_salesforce.observability import get_logger

from .attempt import (
    DeliveryRejected,
    Work,
    commit_now,
    hand_back,
    keep,
    keep_now,
    mapping_of,
    settle,
    written_values,
)
from .history import activity_task, fields_to_read, update_body
from .models import OutboxEntry

logger = get_logger(__name__)

# Characters of one IN list of a batch's look-ups (as soql_in_batches counts them).
LOOKUP_MAX_CHARS = 8000
# Look-up window before ``create_sent_at`` (clock skew between this server and Salesforce).
CREATE_LOOKUP_SKEW = datetime.timedelta(minutes=5)
# Field types that SOQL can filter on with "=" and that identify a submission well.
LOOKUP_FIELD_TYPES = frozenset({"string", "email", "phone", "picklist", "url"})
LOOKUP_MAX_VALUE_LENGTH = 255
CAMPAIGN_CACHE_SECONDS = 300.0

_campaign_cache: dict[tuple[str, str], tuple[float, str]] = {}
_campaign_cache_lock = threading.Lock()


def clear_campaign_cache() -> None:
    with _campaign_cache_lock:
        _campaign_cache.clear()


# --- a batch: look-ups, writes, campaign members ---------------------------------------------

# Rounds of one batch attempt: a round whose write answer was lost is resolved by the next
# round's look-ups (before anything is sent again); entries sharing a match value go one per
# round. What is left after the last round waits for the next attempt (or the next batch).
BATCH_ROUNDS = 3
# Characters of OR-ed conditions per look-up of lost creates (the query travels in a
# /composite body; Salesforce takes SOQL statements up to 100,000 characters).
CREATED_LOOKUP_MAX_CHARS = 20000


def deliver_group(works: list[Work]) -> None:
    """One attempt of entries of the same site and mapping."""
    first = works[0].entry
    try:
        mapping = mapping_of(first)
        client = client_for(first.site)
        describe = client.describe(mapping.object)
        record_type_id = _record_type_id(client, mapping)
        if mapping.campaign is not None and _member_field(mapping.object) is None:
            raise DeliveryRejected(
                "CAMPAIGN_NOT_APPLICABLE",
                f"Only Leads and Contacts can join a campaign, not {mapping.object}.",
                ["CampaignId"],
            )
    except Exception as error:
        for work in works:
            settle(work, error)
        return
    for work in works:
        try:
            work.payload = normalise(build_payload(mapping, work.entry.form_data), describe)
            if record_type_id:
                work.payload["RecordTypeId"] = record_type_id
        except Exception as error:
            settle(work, error)
    batch = _Batch(client, mapping, describe)
    lost: OutcomeUnknown | None = None
    for _round in range(BATCH_ROUNDS):
        active = [work for work in works if not work.settled]
        if not active:
            return
        try:
            batch.run(active)
            lost = None
        except OutcomeUnknown as error:
            # The writes may or may not have landed: the next round looks them up first.
            logger.info("Outbox batch of %d: the write answer was lost; looking up", len(active))
            lost = error
        except Exception as error:
            for work in active:
                settle(work, error)
            return
    for work in works:
        if work.settled:
            continue
        if lost is not None:
            settle(work, lost)
        else:
            hand_back(work)


def _record_type_id(client: SalesforceClient, mapping: FormMapping) -> str:
    if not mapping.record_type:
        return ""
    try:
        return client.record_type_id(mapping.object, mapping.record_type)
    except NotFound as error:
        raise DeliveryRejected("RECORD_TYPE_NOT_FOUND", error.message, ["RecordTypeId"]) from error


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class _Match:
    sobject: str
    record_id: str
    # The matched record's values of the fields kept or appended to (None: not read).
    current: Mapping[str, Any] | None = None


@dataclass
class _Write:
    """One collection of a batch's write call, and the entries its records belong to."""

    operation: CollectionOperation
    sobject: str
    works: list[Work] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    external_id_field: str | None = None

    def add(self, work: Work, record: dict[str, Any]) -> None:
        self.works.append(work)
        self.records.append(record)

    def collection(self) -> CollectionWrite:
        return CollectionWrite(
            self.operation, self.sobject, self.records, external_id_field=self.external_id_field
        )

    def action(self, result: RecordResult) -> str:
        if self.operation == "create":
            return "created"
        if self.operation == "upsert" and result.created:
            return "created"
        return "updated"


class _Batch:
    """The look-ups and writes of one group's round (see the module docstring)."""

    def __init__(
        self, client: SalesforceClient, mapping: FormMapping, describe: Mapping[str, Any]
    ) -> None:
        self.client = client
        self.mapping = mapping
        self.describe = describe
        # The fields an update keeps or appends to: their current values are read first.
        self.to_read = fields_to_read(mapping, describe)

    # -- a round ------------------------------------------------------------------------

    def run(self, works: list[Work]) -> None:
        """Look up, write, add campaign members and record activities for ``works``; settles
        every entry it finishes. Raises OutcomeUnknown when the write call's answer was lost."""
        for work in works:
            work.deferred = False
        mapping = self.mapping
        campaign_id = _cached_campaign_id(self.client, mapping)
        queries: dict[str, str] = {}
        if campaign_id is None:
            queries["campaign"] = _campaign_soql(
                (mapping.campaign.name if mapping.campaign else "") or ""
            )
        needs_record = [work for work in works if not work.entry.salesforce_id]
        if mapping.external_id:
            lost_tasks = mapping.activity is not None and any(
                work.entry.activity_sent_at for work in needs_record
            )
            # The record an upsert would update: for the history it keeps, and to find the
            # Task an earlier attempt may have recorded on it.
            if self.to_read or lost_tasks:
                keys = sorted({self._upsert_record(work)[1] for work in needs_record})
                for number, soql in enumerate(self._current_queries(keys)):
                    queries[f"current{number}"] = soql
        elif mapping.match_on:
            values = {
                self._match_value(work).lower(): self._match_value(work)
                for work in needs_record
                if self._match_value(work)
            }
            for number, soql in enumerate(self._match_queries(list(values.values()))):
                queries[f"match{number}"] = soql
        lost_creates = [
            work
            for work in needs_record
            if not mapping.match_on and not mapping.external_id and work.entry.create_sent_at
        ]
        created_conditions: dict[int, list[tuple[str, str]]] = {}
        for work in lost_creates:
            try:
                created_conditions[work.entry.pk] = self._created_conditions(work.payload)
            except DeliveryRejected as error:
                settle(work, error)
        lost_creates = [work for work in lost_creates if not work.settled]
        for number, soql in enumerate(self._created_queries(lost_creates, created_conditions)):
            queries[f"created{number}"] = soql
        known_leads = sorted(
            {
                work.entry.salesforce_id
                for work in works
                if work.entry.salesforce_id
                and work.entry.salesforce_object.lower() == "lead"
                and (
                    (mapping.campaign is not None and not work.entry.campaign_member_id)
                    or (mapping.activity is not None and not work.entry.activity_task_id)
                )
            }
        )
        for number, batch in enumerate(soql_in_batches(known_leads, max_chars=LOOKUP_MAX_CHARS)):
            queries[f"known{number}"] = (
                "SELECT Id, IsConverted, ConvertedContactId FROM Lead "  # noqa: S608
                f"WHERE Id IN ({', '.join(batch)})"
            )

        pages = self._query(queries)
        if campaign_id is None:
            campaign_id = _store_campaign_id(self.client, mapping, pages["campaign"])
        matches = self._matches(pages)
        currents = self._currents(pages)
        converted = {
            str(record["Id"]): str(record.get("ConvertedContactId") or "")
            for reference, page in pages.items()
            if reference.startswith("known")
            for record in self.client.iter_records(page)
            if record.get("IsConverted")
        }
        self._resolve_lost_creates(lost_creates, created_conditions, pages)

        writes = self._plan_writes(
            [w for w in needs_record if not (w.settled or w.entry.salesforce_id)],
            matches,
            currents,
        )
        self._resolve_lost_tasks(works, self._existing_targets(works, writes, currents), converted)
        now = timezone.now()
        for write in writes:
            if write.operation == "create":
                # Committed before the create is sent: whoever delivers next looks it up first.
                _commit_sent(write, create_sent_at=now)
        writes = [write for write in writes if write.records]
        members = self._plan_members(works, writes, campaign_id or "", converted)
        if members is not None:
            writes.append(members)
        tasks = self._plan_tasks(works, writes, converted)
        if tasks is not None:
            _commit_sent(tasks, activity_sent_at=now)
            if tasks.records:
                writes.append(tasks)
        results = (
            self.client.composite_writes([write.collection() for write in writes]) if writes else []
        )
        duplicates: list[Work] = []
        for write, write_results in zip(writes, results, strict=True):
            if write is members:
                duplicates = self._members_written(write, write_results)
            elif write is tasks:
                self._tasks_written(write, write_results)
            else:
                self._records_written(write, write_results)
        if duplicates:
            self._find_members(duplicates, campaign_id or "")
        for work in works:
            entry = work.entry
            if work.settled or work.deferred or not entry.salesforce_id:
                continue
            if campaign_id and not (entry.campaign_member_id or work.member_done):
                continue
            if mapping.activity is not None and not entry.activity_task_id:
                continue
            settle(work)

    def _query(self, queries: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """The round's look-ups in one call: a lone query as it is, several in /composite."""
        if len(queries) == 1:
            [(reference, soql)] = queries.items()
            return {reference: self.client.query(soql)}
        return self.client.composite_query(queries) if queries else {}

    # -- look-ups -----------------------------------------------------------------------

    def _match_value(self, work: Work) -> str:
        value = work.payload.get(self.mapping.match_on or "")
        return value if isinstance(value, str) and value else ""

    def _is_lead(self) -> bool:
        return self.mapping.object.lower() == "lead"

    def _match_queries(self, values: list[str]) -> list[str]:
        """One query per IN list of match values (the oldest record first)."""
        if not values:
            return []
        sobject = soql_identifier(self.mapping.object)
        match_field = soql_identifier(self.mapping.match_on or "")
        names = ["Id", match_field]
        if self._is_lead():
            names += ["IsConverted", "ConvertedContactId"]
        select = soql_field_list(_distinct([*names, *self.to_read]))
        return [
            f"SELECT {select} FROM {sobject} WHERE {match_field} "  # noqa: S608
            f"IN ({', '.join(batch)}) ORDER BY CreatedDate ASC"
            for batch in soql_in_batches(values, max_chars=LOOKUP_MAX_CHARS)
        ]

    def _matches(self, pages: Mapping[str, Mapping[str, Any]]) -> dict[str, _Match]:
        """Match value (lower-cased) -> the record to update. The oldest match wins, so every
        worker picks the same one; a converted Lead leads to its Contact."""
        found: dict[str, list[dict[str, Any]]] = {}
        match_field = self.mapping.match_on or ""
        for reference, page in pages.items():
            if not reference.startswith("match"):
                continue
            for record in self.client.iter_records(page):
                key = str(_field_value(record, match_field) or "").lower()
                found.setdefault(key, []).append(record)
        matches: dict[str, _Match] = {}
        for key, records in found.items():
            if not self._is_lead():
                matches[key] = _Match(self.mapping.object, str(records[0]["Id"]), records[0])
                continue
            open_lead = next((r for r in records if not r.get("IsConverted")), None)
            if open_lead is not None:
                matches[key] = _Match("Lead", str(open_lead["Id"]), open_lead)
                continue
            contact = next((r for r in records if r.get("ConvertedContactId")), None)
            if contact is not None:
                matches[key] = _Match("Contact", str(contact["ConvertedContactId"]))
        return matches

    def _current_queries(self, keys: list[str]) -> list[str]:
        """Before upserts that keep history: the records they would update, by external ID."""
        if not keys:
            return []
        sobject = soql_identifier(self.mapping.object)
        key_field = soql_identifier(self.mapping.external_id or "")
        select = soql_field_list(_distinct(["Id", key_field, *self.to_read]))
        return [
            f"SELECT {select} FROM {sobject} WHERE {key_field} "  # noqa: S608
            f"IN ({', '.join(batch)})"
            for batch in soql_in_batches(keys, max_chars=LOOKUP_MAX_CHARS)
        ]

    def _currents(self, pages: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """External ID (lower-cased) -> the one record an upsert would update (none when
        several carry it: the upsert fails with MultipleMatches anyway)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for reference, page in pages.items():
            if reference.startswith("current"):
                for record in self.client.iter_records(page):
                    key = str(_field_value(record, self.mapping.external_id or "") or "")
                    found.setdefault(key.lower(), []).append(record)
        return {key: records[0] for key, records in found.items() if len(records) == 1}

    def _created_conditions(self, payload: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The (field, value) pairs a lost create of ``payload`` is looked up by: every
        filterable text field sent."""
        types = {
            str(item["name"]).lower(): str(item.get("type"))
            for item in self.describe.get("fields") or []
            if item.get("filterable", True)
        }
        conditions = [
            (name, value)
            for name, value in payload.items()
            if types.get(name.lower()) in LOOKUP_FIELD_TYPES
            and isinstance(value, str)
            and 0 < len(value) <= LOOKUP_MAX_VALUE_LENGTH
        ]
        if not conditions:
            raise DeliveryRejected(
                "OUTCOME_UNKNOWN",
                "Salesforce's answer to the create was lost and the record cannot be looked up "
                "(the mapping sends no filterable text field). Check the org, then retry.",
            )
        return conditions

    def _created_queries(
        self, works: list[Work], conditions: Mapping[int, list[tuple[str, str]]]
    ) -> list[str]:
        """Queries for the records earlier creates of ``works`` made: the same values in
        every filterable text field sent, created since shortly before ``create_sent_at``."""
        sobject = soql_identifier(self.mapping.object)
        queries: list[str] = []
        chunk: list[Work] = []
        chunk_chars = 0

        def flush() -> None:
            names = ["Id"]
            for work in chunk:
                for name, _value in conditions[work.entry.pk]:
                    if name.lower() not in {chosen.lower() for chosen in names}:
                        names.append(name)
            since = min(work.entry.create_sent_at or timezone.now() for work in chunk)
            since_literal = (
                (since - CREATE_LOOKUP_SKEW).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            )
            where = " OR ".join(
                "("
                + " AND ".join(_condition(name, value) for name, value in conditions[w.entry.pk])
                + ")"
                for w in chunk
            )
            queries.append(
                f"SELECT {soql_field_list(names)} FROM {sobject} "  # noqa: S608
                f"WHERE CreatedDate >= {since_literal} AND ({where}) ORDER BY CreatedDate ASC"
            )

        for work in works:
            cost = sum(len(_condition(n, v)) + 5 for n, v in conditions[work.entry.pk])
            if chunk and chunk_chars + cost > CREATED_LOOKUP_MAX_CHARS:
                flush()
                chunk, chunk_chars = [], 0
            chunk.append(work)
            chunk_chars += cost
        if chunk:
            flush()
        return queries

    def _resolve_lost_creates(
        self,
        works: list[Work],
        conditions: Mapping[int, list[tuple[str, str]]],
        pages: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Record the Id of each entry's earlier create that landed (create_sent_at set): a
        record with its values not already claimed by another outbox entry."""
        if not works:
            return
        candidates = [
            record
            for reference, page in pages.items()
            if reference.startswith("created")
            for record in self.client.iter_records(page)
        ]
        if not candidates:
            return
        batch_ids = [work.entry.pk for work in works]
        taken = set(
            OutboxEntry.objects.filter(salesforce_id__in=[str(r["Id"]) for r in candidates])
            .exclude(pk__in=batch_ids)
            .values_list("salesforce_id", flat=True)
        )
        for work in works:
            for record in candidates:
                record_id = str(record["Id"])
                if record_id in taken:
                    continue
                if all(
                    str(_field_value(record, name) or "").lower() == value.lower()
                    for name, value in conditions[work.entry.pk]
                ):
                    taken.add(record_id)
                    # Committed at once: another worker's look-up must see it taken.
                    keep_now(
                        work,
                        salesforce_object=self.mapping.object,
                        salesforce_id=record_id,
                        salesforce_action="created",
                    )
                    break

    # -- writes -------------------------------------------------------------------------

    def _plan_writes(
        self,
        works: list[Work],
        matches: Mapping[str, _Match],
        currents: Mapping[str, Mapping[str, Any]],
    ) -> list[_Write]:
        """The round's collections: creates, updates (of the mapped object, and of Contacts
        reached through converted Leads) and upserts, their bodies keeping history
        (``on_update``). Of several entries with one match (or external ID) value, only the
        first is written this round."""
        mapping = self.mapping
        matches = self._with_contact_values(works, matches)
        creates = _Write("create", mapping.object)
        updates = _Write("update", mapping.object)
        contact_updates = _Write("update", "Contact")
        upserts = _Write("upsert", mapping.object, external_id_field=mapping.external_id)
        seen: set[str] = set()
        for work in works:
            if mapping.external_id:
                record, key = self._upsert_record(work)
                if key.lower() in seen:
                    work.deferred = True
                    continue
                seen.add(key.lower())
                if self.to_read:
                    external_field = mapping.external_id or ""
                    body = update_body(
                        mapping,
                        {k: v for k, v in record.items() if k != external_field},
                        currents.get(key.lower()),
                        self.describe,
                        work.entry.created_at,
                        source_label=mapping.label,
                    )
                    record = {**body, external_field: key}
                    work.written = written_values(body, currents.get(key.lower()), self.to_read)
                upserts.add(work, record)
                continue
            value = self._match_value(work) if mapping.match_on else ""
            if not value:
                creates.add(work, dict(work.payload))
                continue
            if value.lower() in seen:
                work.deferred = True
                continue
            seen.add(value.lower())
            match = matches.get(value.lower())
            if match is None:
                creates.add(work, dict(work.payload))
                continue
            data = self._update_body(work, match)
            if not data:
                keep(
                    work,
                    salesforce_object=match.sobject,
                    salesforce_id=match.record_id,
                    salesforce_action="updated",
                )
                continue
            target = updates if match.sobject.lower() == mapping.object.lower() else contact_updates
            target.add(work, {**data, "Id": match.record_id})
        return [write for write in (creates, updates, contact_updates, upserts) if write.records]

    def _upsert_record(self, work: Work) -> tuple[dict[str, Any], str]:
        external_field = self.mapping.external_id or ""
        body = dict(work.payload)
        mapped = body.pop(external_field, None)
        # Case-insensitive API names: drop any other spelling of the key field from the body.
        for name in [name for name in body if name.lower() == external_field.lower()]:
            mapped = mapped or body.pop(name)
        value = str(mapped) if not is_blank(mapped) else str(work.entry.idempotency_token)
        return {**body, external_field: value}, value

    def _with_contact_values(
        self, works: list[Work], matches: Mapping[str, _Match]
    ) -> dict[str, _Match]:
        """``matches`` with the current values of the Contacts reached through converted
        Leads, when history is kept in fields the Contact has (one query for them all)."""
        wanted = {self._match_value(work).lower() for work in works if self.mapping.match_on}
        contacts = {
            match.record_id
            for key, match in matches.items()
            if key in wanted and match.current is None and match.sobject.lower() == "contact"
        }
        to_read = fields_to_read(self.mapping, self.client.describe("Contact")) if contacts else []
        if not to_read:
            return dict(matches)
        values: dict[str, dict[str, Any]] = {}
        select = soql_field_list(_distinct(["Id", *to_read]))
        for batch in soql_in_batches(sorted(contacts), max_chars=LOOKUP_MAX_CHARS):
            soql = f"SELECT {select} FROM Contact WHERE Id IN ({', '.join(batch)})"  # noqa: S608
            for record in self.client.query_iter(soql):
                values[str(record["Id"])] = record
        return {
            key: _Match(match.sobject, match.record_id, values.get(match.record_id, {}))
            if match.record_id in values
            else match
            for key, match in matches.items()
        }

    def _update_body(self, work: Work, match: _Match) -> dict[str, Any]:
        data = dict(work.payload)
        describe = self.describe
        if match.sobject.lower() != self.mapping.object.lower():
            # Followed a converted lead to its contact: send only what the Contact has, and
            # not the Lead's record type.
            data.pop("RecordTypeId", None)
            describe = self.client.describe(match.sobject)
            data = writable_fields(data, describe, for_update=True)
        data = update_body(
            self.mapping,
            data,
            match.current or {},
            describe,
            work.entry.created_at,
            source_label=self.mapping.label,
        )
        data.pop("Id", None)
        work.written = written_values(data, match.current, fields_to_read(self.mapping, describe))
        return data

    def _records_written(self, write: _Write, results: Sequence[RecordResult]) -> None:
        for work, result in zip(write.works, results, strict=True):
            if result.success and result.id:
                keep(
                    work,
                    salesforce_object=write.sobject,
                    salesforce_id=result.id,
                    salesforce_action=write.action(result),
                )
                continue
            error = _result_error(result)
            if write.operation == "update" and isinstance(error, ConvertedLead | NotFound):
                # Converted or deleted since the look-up: the next attempt looks again (and
                # follows the conversion, or creates a new record).
                error = TransientError(error.message, error_code=error.error_code)
            settle(work, error)

    # -- campaign members ---------------------------------------------------------------

    def _plan_members(
        self,
        works: list[Work],
        writes: list[_Write],
        campaign_id: str,
        converted: Mapping[str, str],
    ) -> _Write | None:
        """One collection of campaign members: for records known, by Id; for the records
        this call writes, by reference to their results (a failed write fails its member)."""
        if not campaign_id:
            return None
        members = _Write("create", "CampaignMember")
        status = self.mapping.campaign.member_status if self.mapping.campaign else None
        written = {
            id(work): (write_index, record_index, write.sobject)
            for write_index, write in enumerate(writes)
            for record_index, work in enumerate(write.works)
        }
        for work in works:
            entry = work.entry
            if work.settled or work.deferred or entry.campaign_member_id:
                continue
            if id(work) in written:
                write_index, record_index, sobject = written[id(work)]
                record_id = collection_reference(write_index, record_index)
            elif entry.salesforce_id:
                sobject, record_id = entry.salesforce_object, entry.salesforce_id
                # A lead converted since it was written joins the campaign as its contact.
                if sobject.lower() == "lead" and converted.get(record_id):
                    sobject, record_id = "Contact", converted[record_id]
            else:
                continue
            member_field = _member_field(sobject)
            if member_field is None:
                settle(
                    work,
                    DeliveryRejected(
                        "CAMPAIGN_NOT_APPLICABLE",
                        f"Only Leads and Contacts can join a campaign, not {sobject}.",
                        ["CampaignId"],
                    ),
                )
                continue
            record: dict[str, Any] = {"CampaignId": campaign_id, member_field: record_id}
            if status:
                record["Status"] = status
            members.add(work, record)
        return members if members.records else None

    def _members_written(self, write: _Write, results: Sequence[RecordResult]) -> list[Work]:
        """Record the members added; returns the entries that were already members."""
        duplicates: list[Work] = []
        for work, result in zip(write.works, results, strict=True):
            if work.settled:
                continue  # its record was not written; the member failed with it
            if result.success and result.id:
                keep(work, campaign_member_id=result.id)
                continue
            error = _result_error(result)
            if isinstance(error, DuplicateValue):
                # "Already a campaign member.": the membership we want exists.
                duplicates.append(work)
                continue
            if isinstance(error, ConvertedLead):
                # Converted since the look-up: the next attempt adds the contact instead.
                error = TransientError(error.message, error_code=error.error_code)
            settle(work, error)
        return duplicates

    def _find_members(self, works: list[Work], campaign_id: str) -> None:
        """The existing memberships' Ids for entries that were already members (one query)."""
        ids = sorted({work.entry.salesforce_id for work in works})
        found: dict[str, str] = {}
        for batch in soql_in_batches(ids, max_chars=LOOKUP_MAX_CHARS // 2):
            in_list = ", ".join(batch)
            soql = (
                "SELECT Id, LeadId, ContactId FROM CampaignMember "  # noqa: S608
                f"WHERE CampaignId = {soql_quote(campaign_id)} "
                f"AND (LeadId IN ({in_list}) OR ContactId IN ({in_list}))"
            )
            for record in self.client.query_iter(soql):
                for name in ("LeadId", "ContactId"):
                    if record.get(name):
                        found.setdefault(str(record[name]), str(record["Id"]))
        for work in works:
            member_id = found.get(work.entry.salesforce_id, "")
            if member_id:
                keep(work, campaign_member_id=member_id)
            work.member_done = True

    # -- activity Tasks -----------------------------------------------------------------

    def _task(self, work: Work, record_id: str) -> dict[str, Any] | None:
        entry = work.entry
        return activity_task(
            self.mapping, record_id, entry.form_data, work.payload, entry.created_at
        )

    def _who(self, work: Work, converted: Mapping[str, str]) -> str:
        """The known record a Task of ``work`` names: a lead converted since it was written
        is recorded on its contact."""
        entry = work.entry
        if entry.salesforce_object.lower() == "lead" and converted.get(entry.salesforce_id):
            return converted[entry.salesforce_id]
        return entry.salesforce_id

    def _existing_targets(
        self, works: list[Work], writes: list[_Write], currents: Mapping[str, Mapping[str, Any]]
    ) -> dict[int, str]:
        """id(work) -> the existing record the entry is (or is about to be) written to."""
        targets = {id(work): work.entry.salesforce_id for work in works if work.entry.salesforce_id}
        for write in writes:
            for work, record in zip(write.works, write.records, strict=True):
                if write.operation == "update":
                    targets[id(work)] = str(record["Id"])
                elif write.operation == "upsert":
                    key = str(record.get(self.mapping.external_id or "") or "").lower()
                    if key in currents:
                        targets[id(work)] = str(currents[key]["Id"])
        return targets

    def _resolve_lost_tasks(
        self, works: list[Work], targets: Mapping[int, str], converted: Mapping[str, str]
    ) -> None:
        """Record the Id of the Task an earlier attempt created (``activity_sent_at`` set): the
        same record, subject, day and description, not another entry's (one query)."""
        if self.mapping.activity is None:
            return
        lost = [
            work
            for work in works
            if not work.settled
            and not work.deferred
            and id(work) in targets
            and work.entry.activity_sent_at is not None
            and not work.entry.activity_task_id
        ]
        if not lost:
            return
        who_ids = sorted(
            {targets[id(work)] for work in lost} | {self._who(w, converted) for w in lost} - {""}
        )
        since = min(work.entry.activity_sent_at or timezone.now() for work in lost)
        since_literal = (
            (since - CREATE_LOOKUP_SKEW).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        candidates: list[dict[str, Any]] = []
        for batch in soql_in_batches(who_ids, max_chars=LOOKUP_MAX_CHARS):
            soql = (
                "SELECT Id, WhoId, Subject, ActivityDate, Description FROM Task "  # noqa: S608
                f"WHERE WhoId IN ({', '.join(batch)}) AND CreatedDate >= {since_literal} "
                "ORDER BY CreatedDate ASC"
            )
            candidates.extend(self.client.query_iter(soql))
        taken = set(
            OutboxEntry.objects.filter(activity_task_id__in=[str(c["Id"]) for c in candidates])
            .exclude(pk__in=[work.entry.pk for work in lost])
            .values_list("activity_task_id", flat=True)
        )
        for work in lost:
            task = self._task(work, self._who(work, converted) or targets[id(work)])
            if task is None:
                continue
            whos = {targets[id(work)], str(task["WhoId"])}
            wanted = str(task.get("Description") or "").strip()
            for candidate in candidates:
                task_id = str(candidate["Id"])
                if (
                    task_id not in taken
                    and str(candidate.get("WhoId")) in whos
                    and candidate.get("Subject") == task["Subject"]
                    and str(candidate.get("ActivityDate")) == task["ActivityDate"]
                    and str(candidate.get("Description") or "").strip() == wanted
                ):
                    taken.add(task_id)
                    keep(work, activity_task_id=task_id)
                    break

    def _plan_tasks(
        self, works: list[Work], writes: list[_Write], converted: Mapping[str, str]
    ) -> _Write | None:
        """One collection of the activity Tasks: on known records by Id, on the records this
        call writes by reference to their results (a failed write fails its Task)."""
        if self.mapping.activity is None:
            return None
        tasks = _Write("create", "Task")
        written = {
            id(work): (write_index, record_index)
            for write_index, write in enumerate(writes)
            if write.sobject != "CampaignMember"
            for record_index, work in enumerate(write.works)
        }
        for work in works:
            if work.settled or work.deferred or work.entry.activity_task_id:
                continue
            if id(work) in written:
                record_id = collection_reference(*written[id(work)])
            elif work.entry.salesforce_id:
                record_id = self._who(work, converted)
            else:
                continue
            task = self._task(work, record_id)
            if task is not None:
                tasks.add(work, task)
        return tasks if tasks.records else None

    def _tasks_written(self, write: _Write, results: Sequence[RecordResult]) -> None:
        for work, result in zip(write.works, results, strict=True):
            if work.settled:
                continue  # its record was not written; the Task failed with it
            if result.success and result.id:
                keep(work, activity_task_id=result.id)
                continue
            error = _result_error(result)
            if isinstance(error, ConvertedLead):
                # Converted since the look-up: the next attempt records it on the contact.
                error = TransientError(error.message, error_code=error.error_code)
            settle(work, error)


def _distinct(names: Sequence[str]) -> list[str]:
    """``names`` without repeats (API names are case-insensitive)."""
    chosen: list[str] = []
    for name in names:
        if name.lower() not in {other.lower() for other in chosen}:
            chosen.append(name)
    return chosen


def _commit_sent(write: _Write, **values: Any) -> None:
    """Commit ``values`` (when a create is sent) on each entry of ``write`` before it is sent;
    an entry whose lease was lost is left out of the write."""
    kept_works = {id(work) for work in commit_now(write.works, **values)}
    kept = [
        (work, record)
        for work, record in zip(write.works, write.records, strict=True)
        if id(work) in kept_works
    ]
    write.works = [work for work, _record in kept]
    write.records = [record for _work, record in kept]


def _condition(name: str, value: str) -> str:
    return f"{soql_identifier(name)} = {soql_quote(value)}"


def _result_error(result: RecordResult) -> ApiError:
    if result.errors:
        return result.errors[0]
    return ApiError("Salesforce reported a failure without an error.", error_code="UNKNOWN")


def _field_value(record: Mapping[str, Any], name: str) -> Any:
    """``record[name]``, matching the name case-insensitively (answers use canonical case)."""
    if name in record:
        return record[name]
    lowered = name.lower()
    return next((value for key, value in record.items() if key.lower() == lowered), None)


# --- campaign --------------------------------------------------------------------------------


def _cached_campaign_id(client: SalesforceClient, mapping: FormMapping) -> str | None:
    """The mapping's campaign Id ("" without a campaign), or None when it must be looked up."""
    campaign = mapping.campaign
    if campaign is None:
        return ""
    if campaign.id:
        return campaign.id
    with _campaign_cache_lock:
        cached = _campaign_cache.get((client.connection_key, campaign.name or ""))
    if cached and cached[0] > time.monotonic():
        return cached[1]
    return None


def _campaign_soql(name: str) -> str:
    return (
        "SELECT Id FROM Campaign WHERE Name = "  # noqa: S608 - literal from soql_quote
        f"{soql_quote(name)} AND IsActive = true ORDER BY CreatedDate LIMIT 1"
    )


def _store_campaign_id(
    client: SalesforceClient, mapping: FormMapping, page: Mapping[str, Any]
) -> str:
    name = mapping.campaign.name if mapping.campaign else ""
    records = page.get("records") or []
    if not records:
        raise DeliveryRejected(
            "CAMPAIGN_NOT_FOUND",
            f"No active campaign named {name!r} in the connected org.",
            ["CampaignId"],
        )
    campaign_id = str(records[0]["Id"])
    with _campaign_cache_lock:
        _campaign_cache[(client.connection_key, name or "")] = (
            time.monotonic() + CAMPAIGN_CACHE_SECONDS,
            campaign_id,
        )
    return campaign_id


def _member_field(sobject: str) -> str | None:
    return {"lead": "LeadId", "contact": "ContactId"}.get(sobject.lower())
