"""Deliver outbox entries to Salesforce in batches: claim, look up, write, announce.

A drain or the sweeper claims the due entries (up to ``OUTBOX_BATCH_SIZE``; a lone submission is
a batch of one) and delivers them together, grouped by site and mapping. A group's round costs
one call of look-ups (the ``match_on`` values ``IN (...)``, the campaign when it is not cached,
what resolves a lost answer) and one ``/composite`` call of writes: sObject Collections of the
creates, updates and upserts, then the campaign members and activity Tasks, which name records
written in the same request by reference (a failed record fails its member and Task too).

Exactly-once rules (see docs/en/forms.md, "How a submission is delivered" and "Exactly-once in
batches"):

- A worker *claims* each entry with the core lease (a conditional UPDATE of ``claim_token`` and
  ``claimed_until``); only one worker can win it, on any database. Batches are selected with
  ``select_for_update(skip_locked=True)`` where the database supports it.
- With ``external_id`` the record is upserted on that field (value: the mapped form value, else
  the entry's idempotency token), so a repeat can never duplicate.
- With ``match_on`` the record matching that value is looked up first (a converted Lead is
  followed to its Contact) and updated; only when none exists is one created. Two entries of a
  batch with one value are never written in the same request: the later one goes in the next
  round and finds the record the first created.
- Creates first commit ``create_sent_at`` on their entries (Tasks ``activity_sent_at``). If the
  answer is lost, or the worker dies, the next round (or attempt) looks each entry's record up
  before sending anything again: by its match value; by the same values in every filterable text
  field sent, created since shortly before ``create_sent_at`` and not claimed by another entry;
  Tasks by record, subject, day and description. Upserts are simply repeated.
- "Already a campaign member." counts as success.
- Each record succeeds or fails alone (``allOrNone`` false): one entry's validation error is its
  own dead letter. Outcomes, and the Ids learnt, are written with each entry's lease.
- No connection, the org's limit or the API budget (``ApiLimitExceeded``, ``BudgetExhausted``)
  pause the whole group without spending attempts.

A delivered entry is announced with :data:`wagtail_salesforce.core.signals.submission_delivered`
(the sync listens, and upserts the site's local lead).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from wagtail_salesforce import conf
from wagtail_salesforce.client import (
    COLLECTION_CHUNK_SIZE,
    DELIVERY,
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
from wagtail_salesforce.config import ConfigError, FormMapping, get_config
from wagtail_salesforce.config.payload import (
    build_payload,
    normalise,
    submission_email,
    writable_fields,
)
from wagtail_salesforce.connection.credentials import client_for, credentials_for
from wagtail_salesforce.connection.usage import refresh_if_held_back
from wagtail_salesforce.core.backoff import backoff_delay
from wagtail_salesforce.core.lease import Lease, LeaseLost, new_token
from wagtail_salesforce.core.signals import submission_delivered
from wagtail_salesforce.exceptions import (
    ApiError,
    ApiLimitExceeded,
    BudgetExhausted,
    ConvertedLead,
    DuplicateValue,
    InsufficientAccess,
    MultipleMatches,
    NotConnected,
    NotFound,
    OutcomeUnknown,
    QueryError,
    RecordRejected,
    TLSVerificationFailed,
    TransientError,
)
from wagtail_salesforce.observability import bind_correlation_id, get_logger, personal, untrusted

from .history import activity_task, fields_to_read, update_body
from .models import DELIVERABLE_STATES, OutboxEntry, OutboxState

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


class DeliveryRejected(Exception):
    """A permanent problem found by the plugin itself (unknown mapping, record type, campaign)."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        self.code = code
        self.message = message
        self.fields = fields or []
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Target:
    """The Salesforce record an entry was written to."""

    sobject: str
    record_id: str
    action: str  # "created" | "updated"


# How long the sweeper and a drain keep taking new entries: below django-q2's task timeout
# (checked by wagtail_salesforce.W002), so the entry in hand is always finished.
TASK_TIME_BUDGET_SECONDS = 50.0


@dataclass
class SweepResult:
    resumed: int = 0
    attempted: int = 0
    states: dict[str, int] = field(default_factory=dict)

    def record(self, state: str | None) -> None:
        """Count one delivery attempt and the state it left the entry in (None: skipped)."""
        self.attempted += 1
        if state:
            self.states[state] = self.states.get(state, 0) + 1


def clear_campaign_cache() -> None:
    with _campaign_cache_lock:
        _campaign_cache.clear()


# --- claiming ----------------------------------------------------------------------------


# The lease a worker holds on the entry it is delivering.
CLAIM = Lease(owner_field="claim_token", expiry_field="claimed_until")


def _lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(conf.get("OUTBOX_LEASE_SECONDS")))


def _entry(entry_id: int) -> QuerySet[OutboxEntry]:
    return OutboxEntry.objects.filter(pk=entry_id)


def claim(entry_id: int, *, now: datetime.datetime | None = None) -> str | None:
    """Take the lease on a due entry; returns the claim token, or None if it is not ours to do.

    One conditional UPDATE: on every database only one of several concurrent callers matches.
    """
    now = now or timezone.now()
    token = new_token()
    due = _entry(entry_id).filter(state__in=DELIVERABLE_STATES, next_attempt_at__lte=now)
    claimed = CLAIM.take(due, token, duration=_lease(), now=now, values={"last_attempt_at": now})
    return token if claimed else None


def _due(now: datetime.datetime) -> QuerySet[OutboxEntry]:
    return (
        OutboxEntry.objects.filter(state__in=DELIVERABLE_STATES, next_attempt_at__lte=now)
        .filter(CLAIM.free(now))
        .order_by("next_attempt_at", "pk")
    )


def claim_due(limit: int, *, now: datetime.datetime | None = None) -> list[tuple[int, str]]:
    """Claim up to ``limit`` due entries: ``[(entry_id, claim_token), ...]``.

    Where rows can be locked with SKIP LOCKED (PostgreSQL), concurrent sweepers pick disjoint
    rows without waiting on each other; elsewhere (SQLite) the conditional UPDATE of
    :func:`claim` alone decides.
    """
    now = now or timezone.now()
    features = db_connection.features
    if features.has_select_for_update_skip_locked and db_connection.vendor != "sqlite":
        with transaction.atomic():
            ids = list(
                _due(now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
            )
            claims = [(entry_id, claim(entry_id, now=now)) for entry_id in ids]
    else:
        ids = list(_due(now).values_list("pk", flat=True)[:limit])
        claims = [(entry_id, claim(entry_id, now=now)) for entry_id in ids]
    return [(entry_id, token) for entry_id, token in claims if token]


def _save(entry: OutboxEntry, token: str, **values: Any) -> None:
    """Write ``values`` only while we still hold the lease (LeaseLost otherwise)."""
    CLAIM.renew(_entry(entry.pk), token, values={"updated_at": timezone.now(), **values})
    for name, value in values.items():
        setattr(entry, name, value)


def _finish(entry: OutboxEntry, token: str, **values: Any) -> None:
    """Final write of an attempt: the outcome, and the lease released (LeaseLost if not ours)."""
    CLAIM.release(
        _entry(entry.pk), token, values={"updated_at": timezone.now(), **values}, must_hold=True
    )
    entry.claim_token, entry.claimed_until = "", None
    for name, value in values.items():
        setattr(entry, name, value)


def _announce_delivery(entry: OutboxEntry, payload: Mapping[str, Any]) -> None:
    """Tell listeners (the sync's local leads) that ``entry`` reached Salesforce.

    Sent from the worker rather than the visitor's request: the POST stays two inserts, and the
    Salesforce record already exists when the next sync pull links the lead to it.
    """
    responses = submission_delivered.send_robust(
        sender=OutboxEntry,
        entry_id=entry.pk,
        site_id=entry.site_id,
        mapping_key=entry.mapping_key,
        form_data=entry.form_data,
        sobject=entry.salesforce_object,
        record_id=entry.salesforce_id,
        action=entry.salesforce_action,
        email=submission_email(payload, entry.form_data),
        values=dict(payload),
        page_id=entry.page_id,
        submitted_at=entry.created_at,
    )
    for receiver, outcome in responses:
        if isinstance(outcome, Exception):
            # The entry is delivered; a listener's failure must not make it look otherwise.
            logger.error(
                "Outbox entry %s: %s failed on the delivered submission",
                entry.pk,
                getattr(receiver, "__qualname__", receiver),
                exc_info=outcome,
            )


# --- the attempt -------------------------------------------------------------------------


def deliver_entry(entry_id: int) -> str | None:
    """Deliver one entry if it is due and unclaimed; returns its new state, or None if skipped."""
    token = claim(entry_id)
    if token is None:
        return None
    return deliver_claimed(entry_id, token)


def deliver_claimed(entry_id: int, token: str) -> str | None:
    """Run one delivery attempt of an entry this worker has claimed with ``token`` (a batch of
    one)."""
    return deliver_batch([(entry_id, token)])[0]


def batch_size() -> int:
    """Entries per delivery batch: ``OUTBOX_BATCH_SIZE``, within what one sObject Collection
    takes (every write of a batch travels in one collection per kind)."""
    return max(1, min(int(conf.get("OUTBOX_BATCH_SIZE")), COLLECTION_CHUNK_SIZE))


@dataclass(eq=False)
class _Work:
    """One claimed entry of a batch, and how far its attempt got."""

    entry: OutboxEntry
    token: str
    payload: dict[str, Any] = field(default_factory=dict)
    settled: bool = False  # the attempt's outcome is written (or the lease was lost)
    state: str | None = None
    deferred: bool = False  # shares its match value with an earlier entry of this round
    member_done: bool = False  # "already a campaign member": nothing more to add
    # Progress learnt from Salesforce (record, member, Task Ids) not yet committed: it is
    # written with the outcome, in the entry's one final UPDATE.
    pending: dict[str, Any] = field(default_factory=dict)
    # The record's values after the write where they differ from the payload (kept fields keep
    # the record's value, appended ones hold the whole history): what listeners are told.
    written: dict[str, Any] = field(default_factory=dict)

    def announced(self) -> dict[str, Any]:
        return {**self.payload, **self.written}


def _written_values(
    sent: Mapping[str, Any], current: Mapping[str, Any] | None, fields: Sequence[str]
) -> dict[str, Any]:
    """For the fields whose current value an update reads (keep / append): the value the record
    holds after the write, the one sent, else the one it kept."""
    written: dict[str, Any] = {}
    for name in fields:
        if name in sent:
            written[name] = sent[name]
        elif current is not None and name in current:
            written[name] = current[name]
    return written


def deliver_batch(claims: Sequence[tuple[int, str]]) -> list[str | None]:
    """Run one delivery attempt of each claimed ``(entry_id, token)`` together; returns their
    new states in order (None: skipped, handed back to the queue, or the lease was lost).

    Entries are grouped by site and mapping; each group costs one ``/composite`` call of
    look-ups (when it has any to make) and one of writes (see the module docstring).
    """
    entries = OutboxEntry.objects.select_related("site").in_bulk(
        [entry_id for entry_id, _token in claims]
    )
    works = [_Work(entries[entry_id], token) for entry_id, token in claims if entry_id in entries]
    groups: dict[tuple[int, str], list[_Work]] = {}
    for work in works:
        groups.setdefault((work.entry.site_id, work.entry.mapping_key), []).append(work)
    for group in groups.values():
        try:
            _deliver_group(group)
        except Exception as error:
            # A bug or an unexpected library error: keep the entries and try again later.
            logger.exception("Outbox batch: unexpected error during delivery")
            for work in group:
                _settle(work, error)
    states = {work.entry.pk: work.state for work in works}
    return [states.get(entry_id) for entry_id, _token in claims]


def _settle(work: _Work, error: Exception | None = None) -> None:
    """Write the attempt's outcome of one entry with its lease: delivered when ``error`` is
    None, else what the error calls for (pause, retry or dead letter)."""
    if work.settled:
        return
    work.settled = True
    entry, token = work.entry, work.token
    # Every log line of the outcome carries the submission's id (stable across retries).
    with bind_correlation_id(
        str(entry.idempotency_token), outbox_entry=entry.pk, site=entry.site_id
    ):
        try:
            progress, work.pending = work.pending, {}
            if error is None:
                _finish(
                    entry,
                    token,
                    **progress,
                    state=OutboxState.DELIVERED,
                    attempts=entry.attempts + 1,
                    delivered_at=timezone.now(),
                    last_error_code="",
                    last_error_message="",
                    last_error_fields=[],
                )
                work.state = entry.state
                logger.info(
                    "Outbox entry %s delivered to %s %s",
                    entry.pk,
                    entry.salesforce_object,
                    entry.salesforce_id,
                )
                _announce_delivery(entry, work.announced())
                return
            if progress:
                # What was written stays recorded: the next attempt does not write it again.
                _save(entry, token, **progress)
            _record_failure(entry, token, error)
            work.state = entry.state
        except LeaseLost:
            _lease_lost(work)


def _lease_lost(work: _Work) -> None:
    work.settled, work.state = True, None
    logger.warning("Outbox entry %s: lease lost mid-delivery; left to its new owner", work.entry.pk)


def _keep(work: _Work, **values: Any) -> None:
    """Note progress of one entry (its record, campaign member or Task); it is committed with
    the entry's outcome. (Were the worker to die first, the next attempt's look-ups find it.)"""
    work.pending.update(values)
    for name, value in values.items():
        setattr(work.entry, name, value)


def _keep_now(work: _Work, **values: Any) -> None:
    """Commit ``values`` on the entry now, with its lease (lost: left to its new owner)."""
    try:
        _save(work.entry, work.token, **values)
    except LeaseLost:
        _lease_lost(work)


def _commit_now(works: list[_Work], **values: Any) -> list[_Work]:
    """Commit ``values`` on every entry of ``works`` at once, with their leases (one UPDATE);
    returns the entries still ours (the others are left to their new owners)."""
    if not works:
        return []
    tokens = [work.token for work in works]
    mine = OutboxEntry.objects.filter(**{f"{CLAIM.owner_field}__in": tokens})
    if mine.update(updated_at=timezone.now(), **values) < len(works):
        held = set(mine.values_list(CLAIM.owner_field, flat=True))
        for work in works:
            if work.token not in held:
                _lease_lost(work)
    kept = [work for work in works if not work.settled]
    for work in kept:
        for name, value in values.items():
            setattr(work.entry, name, value)
    return kept


def _hand_back(work: _Work) -> None:
    """Release an entry unattempted (no attempt spent): it is due again for the next batch."""
    work.settled, work.state = True, None
    progress, work.pending = work.pending, {}
    CLAIM.release(_entry(work.entry.pk), work.token, values=progress)


def _record_failure(entry: OutboxEntry, token: str, error: Exception) -> None:
    if isinstance(error, LeaseLost):
        raise error
    if isinstance(error, NotConnected | ApiLimitExceeded):
        _pause(entry, token, error)
    elif isinstance(error, DeliveryRejected):
        _fail(entry, token, error.code, error.message, error.fields, attempts=entry.attempts + 1)
    elif isinstance(
        error, RecordRejected | MultipleMatches | InsufficientAccess | QueryError | NotFound
    ):
        _fail(
            entry, token, error.error_code, error.message, error.fields, attempts=entry.attempts + 1
        )
    elif isinstance(error, TLSVerificationFailed):
        # A certificate problem is fixed on the server (CA_FILE); keep the entry meanwhile.
        _retry(entry, token, "TLS_VERIFICATION_FAILED", str(error), [])
    elif isinstance(error, TransientError | OutcomeUnknown | ApiError):
        _retry(entry, token, _error_code(error), _error_message(error), _error_fields(error))
    else:
        logger.error("Outbox entry %s: unexpected error during delivery", entry.pk, exc_info=error)
        _retry(entry, token, "INTERNAL_ERROR", f"{type(error).__name__}: {error}", [])


def _error_code(error: Exception) -> str:
    if isinstance(error, ApiError):
        return error.error_code
    if isinstance(error, OutcomeUnknown):
        return "OUTCOME_UNKNOWN"
    return type(error).__name__


def _error_message(error: Exception) -> str:
    return error.message if isinstance(error, ApiError) else str(error)


def _error_fields(error: Exception) -> list[str]:
    return list(error.fields) if isinstance(error, ApiError) else []


def _pause(entry: OutboxEntry, token: str, error: Exception) -> None:
    # Attempts are not spent: nothing is wrong with the entry, the connection is.
    wait = 0.0
    if isinstance(error, ApiLimitExceeded) and not isinstance(error, BudgetExhausted):
        wait = float(conf.get("OUTBOX_API_LIMIT_PAUSE_SECONDS"))
    # Held back by the API budget: due at once, and resume_paused lets it go when the budget
    # allows delivery again (usage fell, or the budget was raised).
    _finish(
        entry,
        token,
        state=OutboxState.PAUSED,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=wait),
        last_error_code=_error_code(error) if isinstance(error, ApiError) else type(error).__name__,
        last_error_message=_error_message(error),
        last_error_fields=[],
    )
    logger.warning("Outbox entry %s paused: %s", entry.pk, untrusted(error, "error"))


def _fail(
    entry: OutboxEntry, token: str, code: str, message: str, fields: list[str], *, attempts: int
) -> None:
    _finish(
        entry,
        token,
        state=OutboxState.DEAD,
        attempts=attempts,
        last_error_code=code,
        last_error_message=message,
        last_error_fields=list(fields),
    )
    # Salesforce's message often echoes the submitted value: personal data.
    logger.warning(
        "Outbox entry %s failed permanently: %s: %s",
        entry.pk,
        untrusted(code, "error_code"),
        personal(message, "salesforce_message"),
    )


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt of an entry that failed ``attempts`` times (the core
    backoff, with the outbox's base and cap)."""
    return backoff_delay(
        attempts,
        base=float(conf.get("OUTBOX_RETRY_BASE_SECONDS")),
        cap=float(conf.get("OUTBOX_RETRY_MAX_SECONDS")),
    )


def _retry(entry: OutboxEntry, token: str, code: str, message: str, fields: list[str]) -> None:
    attempts = entry.attempts + 1
    if attempts >= int(conf.get("OUTBOX_MAX_ATTEMPTS")):
        _fail(entry, token, code, message, fields, attempts=attempts)
        return
    delay = retry_delay(attempts)
    _finish(
        entry,
        token,
        state=OutboxState.RETRYING,
        attempts=attempts,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=delay),
        last_error_code=code,
        last_error_message=message,
        last_error_fields=list(fields),
    )
    logger.info(
        "Outbox entry %s: %s; attempt %d, next in %.1f s",
        entry.pk,
        untrusted(code, "error_code"),
        attempts,
        delay,
    )


def _mapping(entry: OutboxEntry) -> FormMapping:
    try:
        config = get_config()
    except ConfigError as error:
        raise DeliveryRejected("CONFIG_INVALID", str(error)) from error
    mapping = config.forms.get(entry.mapping_key)
    if mapping is None:
        raise DeliveryRejected(
            "MAPPING_NOT_FOUND",
            f"The Salesforce config has no form mapping {entry.mapping_key!r}.",
        )
    return mapping


# --- a batch: look-ups, writes, campaign members ---------------------------------------------

# Rounds of one batch attempt: a round whose write answer was lost is resolved by the next
# round's look-ups (before anything is sent again); entries sharing a match value go one per
# round. What is left after the last round waits for the next attempt (or the next batch).
BATCH_ROUNDS = 3
# Characters of OR-ed conditions per look-up of lost creates (the query travels in a
# /composite body; Salesforce takes SOQL statements up to 100,000 characters).
CREATED_LOOKUP_MAX_CHARS = 20000


def _deliver_group(works: list[_Work]) -> None:
    """One attempt of entries of the same site and mapping."""
    first = works[0].entry
    try:
        mapping = _mapping(first)
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
            _settle(work, error)
        return
    for work in works:
        try:
            work.payload = normalise(build_payload(mapping, work.entry.form_data), describe)
            if record_type_id:
                work.payload["RecordTypeId"] = record_type_id
        except Exception as error:
            _settle(work, error)
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
                _settle(work, error)
            return
    for work in works:
        if work.settled:
            continue
        if lost is not None:
            _settle(work, lost)
        else:
            _hand_back(work)


def _record_type_id(client: SalesforceClient, mapping: FormMapping) -> str:
    if not mapping.record_type:
        return ""
    try:
        return client.record_type_id(mapping.object, mapping.record_type)
    except NotFound as error:
        raise DeliveryRejected("RECORD_TYPE_NOT_FOUND", error.message, ["RecordTypeId"]) from error


def _blank(value: Any) -> bool:
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
    works: list[_Work] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    external_id_field: str | None = None

    def add(self, work: _Work, record: dict[str, Any]) -> None:
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

    def run(self, works: list[_Work]) -> None:
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
                _settle(work, error)
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
        duplicates: list[_Work] = []
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
            _settle(work)

    def _query(self, queries: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """The round's look-ups in one call: a lone query as it is, several in /composite."""
        if len(queries) == 1:
            [(reference, soql)] = queries.items()
            return {reference: self.client.query(soql)}
        return self.client.composite_query(queries) if queries else {}

    # -- look-ups -----------------------------------------------------------------------

    def _match_value(self, work: _Work) -> str:
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
        self, works: list[_Work], conditions: Mapping[int, list[tuple[str, str]]]
    ) -> list[str]:
        """Queries for the records earlier creates of ``works`` made: the same values in
        every filterable text field sent, created since shortly before ``create_sent_at``."""
        sobject = soql_identifier(self.mapping.object)
        queries: list[str] = []
        chunk: list[_Work] = []
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
        works: list[_Work],
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
                    _keep_now(
                        work,
                        salesforce_object=self.mapping.object,
                        salesforce_id=record_id,
                        salesforce_action="created",
                    )
                    break

    # -- writes -------------------------------------------------------------------------

    def _plan_writes(
        self,
        works: list[_Work],
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
                    work.written = _written_values(body, currents.get(key.lower()), self.to_read)
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
                _keep(
                    work,
                    salesforce_object=match.sobject,
                    salesforce_id=match.record_id,
                    salesforce_action="updated",
                )
                continue
            target = updates if match.sobject.lower() == mapping.object.lower() else contact_updates
            target.add(work, {**data, "Id": match.record_id})
        return [write for write in (creates, updates, contact_updates, upserts) if write.records]

    def _upsert_record(self, work: _Work) -> tuple[dict[str, Any], str]:
        external_field = self.mapping.external_id or ""
        body = dict(work.payload)
        mapped = body.pop(external_field, None)
        # Case-insensitive API names: drop any other spelling of the key field from the body.
        for name in [name for name in body if name.lower() == external_field.lower()]:
            mapped = mapped or body.pop(name)
        value = str(mapped) if not _blank(mapped) else str(work.entry.idempotency_token)
        return {**body, external_field: value}, value

    def _with_contact_values(
        self, works: list[_Work], matches: Mapping[str, _Match]
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

    def _update_body(self, work: _Work, match: _Match) -> dict[str, Any]:
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
        work.written = _written_values(data, match.current, fields_to_read(self.mapping, describe))
        return data

    def _records_written(self, write: _Write, results: Sequence[RecordResult]) -> None:
        for work, result in zip(write.works, results, strict=True):
            if result.success and result.id:
                _keep(
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
            _settle(work, error)

    # -- campaign members ---------------------------------------------------------------

    def _plan_members(
        self,
        works: list[_Work],
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
                _settle(
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

    def _members_written(self, write: _Write, results: Sequence[RecordResult]) -> list[_Work]:
        """Record the members added; returns the entries that were already members."""
        duplicates: list[_Work] = []
        for work, result in zip(write.works, results, strict=True):
            if work.settled:
                continue  # its record was not written; the member failed with it
            if result.success and result.id:
                _keep(work, campaign_member_id=result.id)
                continue
            error = _result_error(result)
            if isinstance(error, DuplicateValue):
                # "Already a campaign member.": the membership we want exists.
                duplicates.append(work)
                continue
            if isinstance(error, ConvertedLead):
                # Converted since the look-up: the next attempt adds the contact instead.
                error = TransientError(error.message, error_code=error.error_code)
            _settle(work, error)
        return duplicates

    def _find_members(self, works: list[_Work], campaign_id: str) -> None:
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
                _keep(work, campaign_member_id=member_id)
            work.member_done = True

    # -- activity Tasks -----------------------------------------------------------------

    def _task(self, work: _Work, record_id: str) -> dict[str, Any] | None:
        entry = work.entry
        return activity_task(
            self.mapping, record_id, entry.form_data, work.payload, entry.created_at
        )

    def _who(self, work: _Work, converted: Mapping[str, str]) -> str:
        """The known record a Task of ``work`` names: a lead converted since it was written
        is recorded on its contact."""
        entry = work.entry
        if entry.salesforce_object.lower() == "lead" and converted.get(entry.salesforce_id):
            return converted[entry.salesforce_id]
        return entry.salesforce_id

    def _existing_targets(
        self, works: list[_Work], writes: list[_Write], currents: Mapping[str, Mapping[str, Any]]
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
        self, works: list[_Work], targets: Mapping[int, str], converted: Mapping[str, str]
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
                    _keep(work, activity_task_id=task_id)
                    break

    def _plan_tasks(
        self, works: list[_Work], writes: list[_Write], converted: Mapping[str, str]
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
                _keep(work, activity_task_id=result.id)
                continue
            error = _result_error(result)
            if isinstance(error, ConvertedLead):
                # Converted since the look-up: the next attempt records it on the contact.
                error = TransientError(error.message, error_code=error.error_code)
            _settle(work, error)


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
    kept_works = {id(work) for work in _commit_now(write.works, **values)}
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


# --- pausing, resuming, sweeping, retrying ----------------------------------------------------


def resume_paused(*, now: datetime.datetime | None = None) -> int:
    """Put paused entries back in line for every site whose connection is usable again.

    Checks the stored connection only (no API call): a re-authorised connection resumes its
    entries on the next sweep. Entries held back by the API budget resume once the budget
    allows delivery; while it does not, the org's usage is re-read at most every
    ``API_USAGE_CHECK_MINUTES`` (one counted call) to notice the limit's window freeing calls.
    """
    now = now or timezone.now()
    paused = OutboxEntry.objects.filter(state=OutboxState.PAUSED, next_attempt_at__lte=now)
    resumed = 0
    for site_id in set(paused.values_list("site_id", flat=True)):
        try:
            credentials_for(site_id)
        except NotConnected:
            continue
        ready = paused.filter(site_id=site_id)
        held = ready.filter(last_error_code=BudgetExhausted.code)
        if held.exists() and refresh_if_held_back(site_id, DELIVERY, now=now).delivery_paused:
            ready = ready.exclude(last_error_code=BudgetExhausted.code)
        resumed += ready.update(state=OutboxState.PENDING, next_attempt_at=now, updated_at=now)
    if resumed:
        logger.info("Resumed %d paused outbox entries", resumed)
    return resumed


def sweep(
    *, limit: int = 1000, time_budget_seconds: float = TASK_TIME_BUDGET_SECONDS
) -> SweepResult:
    """Resume what can be resumed, then deliver due entries in batches until ``limit`` entries
    were taken or the time budget is spent.

    Safe to run in several workers at once: every entry is claimed before it is delivered.
    """
    result = SweepResult(resumed=resume_paused())
    deadline = time.monotonic() + time_budget_seconds
    while result.attempted < limit and time.monotonic() < deadline:
        claims = claim_due(min(batch_size(), limit - result.attempted))
        if not claims:
            break
        for state in deliver_batch(claims):
            result.record(state)
    return result


def drain(
    watch_until: float,
    *,
    time_budget_seconds: float = TASK_TIME_BUDGET_SECONDS,
    poll_seconds: float = 0.25,
    wall_clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SweepResult:
    """Deliver due entries, then keep looking for new ones until ``watch_until`` (epoch seconds).

    The task a coalesced wake-up runs (see ``outbox.wakeups.enqueue_delivery``): every entry
    committed before ``watch_until`` is delivered by this call, or by a later one. Each pass
    takes whatever is due, up to ``OUTBOX_BATCH_SIZE``, as one batch: a lone submission goes at
    once as a batch of one, a burst in batches of many; drains running in several workers share
    a backlog batch by batch. Started after ``watch_until`` (a queue that was behind), it
    delivers what is due and returns without waiting. Paused entries are left to the sweeper,
    which resumes them.
    """
    result = SweepResult()
    deadline = time.monotonic() + time_budget_seconds
    while time.monotonic() < deadline:
        claims = claim_due(batch_size())
        if claims:
            for state in deliver_batch(claims):
                result.record(state)
            continue
        remaining = watch_until - wall_clock()
        if remaining <= 0:
            break
        sleep(min(poll_seconds, remaining))
    return result


def schedule_retry(entry_ids: list[int]) -> int:
    """Put entries (failed, paused or waiting) back in line now; delivered ones stay as they are.

    Returns how many entries were re-queued. A dead letter gets a fresh set of attempts; one
    whose data was cleared (its person erased) has nothing left to deliver and stays.
    """
    now = timezone.now()
    return (
        OutboxEntry.objects.filter(pk__in=entry_ids, payload_cleared_at__isnull=True)
        .exclude(state=OutboxState.DELIVERED)
        .filter(CLAIM.free(now))
        .update(state=OutboxState.PENDING, next_attempt_at=now, attempts=0, updated_at=now)
    )
