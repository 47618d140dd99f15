"""Deliver outbox entries to Salesforce: claim, write the record, add the campaign member.

Exactly-once rules (see docs/en/forms.md, "How delivery stays exactly-once"):

- A worker *claims* an entry with the core lease (a conditional UPDATE of ``claim_token`` and
  ``claimed_until``); only one worker can win it, on any database. Batches picked by the sweeper
  are selected with ``select_for_update(skip_locked=True)`` where the database supports it.
- With ``external_id`` the record is upserted on that field (value: the mapped form value, else
  the entry's idempotency token), so a repeat can never duplicate.
- With ``match_on`` the record matching that value is looked up first (a converted Lead is
  followed to its Contact) and updated; only when none exists is one created. A repeat finds the
  record the first attempt created.
- A plain create first commits ``create_sent_at``. If the answer is lost, or the worker dies, the
  next attempt looks the record up before creating again: same object, the same values in every
  filterable text field sent, created since shortly before ``create_sent_at``, and not already
  claimed by another outbox entry.
- The campaign member is added after the record's Id is committed; "Already a campaign member."
  counts as success.
- An update keeps history (``on_update``, see ``outbox.history``): the fields it keeps or appends
  to are read with the match (or by external id before an upsert); an appended block is dated
  with the submission's time, so a repeat sees it is already there.
- An ``activity:`` Task is created after the record (and campaign member), with
  ``activity_sent_at`` committed first: an attempt that finds it set looks the Task up (same
  record, subject, day and description, not another entry's) before creating one.

A delivered entry is announced with :data:`wagtail_salesforce.core.signals.submission_delivered`
(the sync listens, and upserts the site's local lead).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from wagtail_salesforce import conf
from wagtail_salesforce.client import DELIVERY, SalesforceClient, soql_identifier, soql_quote
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
    """Run one delivery attempt of an entry this worker has claimed with ``token``."""
    entry = OutboxEntry.objects.select_related("site").get(pk=entry_id)
    # Every log line of the attempt carries the submission's id (stable across retries).
    with bind_correlation_id(
        str(entry.idempotency_token), outbox_entry=entry.pk, site=entry.site_id
    ):
        return _deliver_claimed(entry, token)


def _deliver_claimed(entry: OutboxEntry, token: str) -> str | None:
    try:
        try:
            payload = _attempt(entry, token)
        except LeaseLost:
            raise
        except (NotConnected, ApiLimitExceeded) as error:
            _pause(entry, token, error)
        except DeliveryRejected as error:
            _fail(
                entry, token, error.code, error.message, error.fields, attempts=entry.attempts + 1
            )
        except (RecordRejected, MultipleMatches, InsufficientAccess, QueryError, NotFound) as error:
            _fail(
                entry,
                token,
                error.error_code,
                error.message,
                error.fields,
                attempts=entry.attempts + 1,
            )
        except TLSVerificationFailed as error:
            # A certificate problem is fixed on the server (CA_FILE); keep the entry meanwhile.
            _retry(entry, token, "TLS_VERIFICATION_FAILED", str(error), [])
        except (TransientError, OutcomeUnknown, ApiError) as error:
            _retry(entry, token, _error_code(error), _error_message(error), _error_fields(error))
        except Exception as error:
            # A bug or an unexpected library error: keep the entry and try again later.
            logger.exception("Outbox entry %s: unexpected error during delivery", entry.pk)
            _retry(entry, token, "INTERNAL_ERROR", f"{type(error).__name__}: {error}", [])
        else:
            _finish(
                entry,
                token,
                state=OutboxState.DELIVERED,
                attempts=entry.attempts + 1,
                delivered_at=timezone.now(),
                last_error_code="",
                last_error_message="",
                last_error_fields=[],
            )
            logger.info(
                "Outbox entry %s delivered to %s %s",
                entry.pk,
                entry.salesforce_object,
                entry.salesforce_id,
            )
            _announce_delivery(entry, payload)
    except LeaseLost:
        logger.warning("Outbox entry %s: lease lost mid-delivery; left to its new owner", entry.pk)
        return None
    return entry.state


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


def _attempt(entry: OutboxEntry, token: str) -> dict[str, Any]:
    """Write the entry's record (and campaign member); returns the payload sent."""
    mapping = _mapping(entry)
    client = client_for(entry.site)
    describe = client.describe(mapping.object)
    payload = normalise(build_payload(mapping, entry.form_data), describe)
    if mapping.record_type:
        try:
            payload["RecordTypeId"] = client.record_type_id(mapping.object, mapping.record_type)
        except NotFound as error:
            raise DeliveryRejected(
                "RECORD_TYPE_NOT_FOUND", error.message, ["RecordTypeId"]
            ) from error
    # Resolve the campaign before writing: a missing campaign stops delivery before any write.
    campaign_id = _campaign_id(client, mapping)

    if entry.salesforce_id:
        target = Target(entry.salesforce_object, entry.salesforce_id, entry.salesforce_action)
    else:
        target = _write_record(client, entry, token, mapping, payload, describe)
        _save(
            entry,
            token,
            salesforce_object=target.sobject,
            salesforce_id=target.record_id,
            salesforce_action=target.action,
        )
    if campaign_id and not entry.campaign_member_id:
        member_id = _add_campaign_member(client, mapping, campaign_id, target)
        _save(entry, token, campaign_member_id=member_id)
    if mapping.activity is not None and not entry.activity_task_id:
        _record_activity(client, entry, token, mapping, target, payload)
    return payload


# --- campaign --------------------------------------------------------------------------------


def _campaign_id(client: SalesforceClient, mapping: FormMapping) -> str:
    campaign = mapping.campaign
    if campaign is None:
        return ""
    if campaign.id:
        return campaign.id
    name = campaign.name or ""
    key = (client.connection_key, name)
    with _campaign_cache_lock:
        cached = _campaign_cache.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    soql = (
        "SELECT Id FROM Campaign WHERE Name = "  # noqa: S608 - literal from soql_quote
        f"{soql_quote(name)} AND IsActive = true ORDER BY CreatedDate LIMIT 1"
    )
    records = client.query(soql).get("records") or []
    if not records:
        raise DeliveryRejected(
            "CAMPAIGN_NOT_FOUND",
            f"No active campaign named {name!r} in the connected org.",
            ["CampaignId"],
        )
    campaign_id = str(records[0]["Id"])
    with _campaign_cache_lock:
        _campaign_cache[key] = (time.monotonic() + CAMPAIGN_CACHE_SECONDS, campaign_id)
    return campaign_id


def _member_field(sobject: str) -> str | None:
    return {"lead": "LeadId", "contact": "ContactId"}.get(sobject.lower())


def _find_member(
    client: SalesforceClient, campaign_id: str, field_name: str, record_id: str
) -> str:
    soql = (
        f"SELECT Id FROM CampaignMember WHERE CampaignId = {soql_quote(campaign_id)} "  # noqa: S608
        f"AND {field_name} = {soql_quote(record_id)} LIMIT 1"
    )
    records = client.query(soql).get("records") or []
    return str(records[0]["Id"]) if records else ""


def _converted_contact(client: SalesforceClient, lead_id: str) -> str:
    lead = client.get("Lead", lead_id, ["IsConverted", "ConvertedContactId"])
    return str(lead.get("ConvertedContactId") or "") if lead.get("IsConverted") else ""


def _add_campaign_member(
    client: SalesforceClient, mapping: FormMapping, campaign_id: str, target: Target
) -> str:
    field_name = _member_field(target.sobject)
    if field_name is None:
        raise DeliveryRejected(
            "CAMPAIGN_NOT_APPLICABLE",
            f"Only Leads and Contacts can join a campaign, not {target.sobject}.",
            ["CampaignId"],
        )
    record_id = target.record_id
    if field_name == "LeadId":
        # A lead converted since it was written joins the campaign as its contact.
        contact_id = _converted_contact(client, record_id)
        if contact_id:
            field_name, record_id = "ContactId", contact_id
    data: dict[str, Any] = {"CampaignId": campaign_id, field_name: record_id}
    if mapping.campaign and mapping.campaign.member_status:
        data["Status"] = mapping.campaign.member_status
    try:
        return client.create("CampaignMember", data)
    except DuplicateValue:
        # "Already a campaign member.": the membership we want exists.
        return _find_member(client, campaign_id, field_name, record_id)
    except OutcomeUnknown:
        member_id = _find_member(client, campaign_id, field_name, record_id)
        if member_id:
            return member_id
        raise


# --- writing the record ----------------------------------------------------------------------


def _write_record(
    client: SalesforceClient,
    entry: OutboxEntry,
    token: str,
    mapping: FormMapping,
    payload: dict[str, Any],
    describe: Mapping[str, Any],
) -> Target:
    if mapping.external_id:
        return _upsert(client, entry, mapping, payload, describe)
    if mapping.match_on:
        value = payload.get(mapping.match_on)
        if isinstance(value, str) and value:
            match = _find_match(client, mapping, value, describe)
            if match is not None:
                return _update_match(client, entry, mapping, match, payload, describe)
        return _create_once(client, entry, token, mapping.object, payload, describe, lookup=False)
    return _create_once(client, entry, token, mapping.object, payload, describe, lookup=True)


def _upsert(
    client: SalesforceClient,
    entry: OutboxEntry,
    mapping: FormMapping,
    payload: dict[str, Any],
    describe: Mapping[str, Any],
) -> Target:
    external_field = mapping.external_id or ""
    mapped = payload.pop(external_field, None)
    # Case-insensitive API names: drop any other spelling of the key field from the body too.
    for name in [name for name in payload if name.lower() == external_field.lower()]:
        mapped = mapped or payload.pop(name)
    value = str(mapped) if not _blank(mapped) else str(entry.idempotency_token)
    to_read = fields_to_read(mapping, describe)
    if to_read:
        # Only when a field is kept or appended to: one query for the record the upsert would
        # update (none: it creates, and the payload goes as it is).
        soql = (
            f"SELECT Id, {', '.join(soql_identifier(f) for f in to_read)} "  # noqa: S608
            f"FROM {soql_identifier(mapping.object)} WHERE {soql_identifier(external_field)} = "
            f"{soql_quote(value)} LIMIT 2"
        )
        records = client.query(soql).get("records") or []
        current = records[0] if len(records) == 1 else None
        payload = update_body(
            mapping, payload, current, describe, entry.created_at, source_label=mapping.label
        )
    result = client.upsert(mapping.object, external_field, value, payload)
    return Target(mapping.object, result.id, "created" if result.created else "updated")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class _Match:
    sobject: str
    record_id: str
    # The matched record's values of ``fields_to_read``; None when not read (a followed
    # conversion: the Contact's values are read before its update).
    current: Mapping[str, Any] | None = None


def _find_match(
    client: SalesforceClient, mapping: FormMapping, value: str, describe: Mapping[str, Any]
) -> _Match | None:
    """The record whose ``match_on`` field equals ``value``; a converted Lead leads to its
    Contact. The oldest match wins, so every worker picks the same one. The fields the update
    keeps or appends to are read in the same query."""
    sobject = soql_identifier(mapping.object)
    match_field = soql_identifier(mapping.match_on or "")
    is_lead = sobject.lower() == "lead"
    select = "Id, IsConverted, ConvertedContactId" if is_lead else "Id"
    to_read = [soql_identifier(name) for name in fields_to_read(mapping, describe)]
    select = ", ".join([select, *to_read])
    soql = (
        f"SELECT {select} FROM {sobject} WHERE {match_field} = {soql_quote(value)} "  # noqa: S608
        "ORDER BY CreatedDate ASC LIMIT 50"
    )
    records = client.query(soql).get("records") or []
    if not is_lead:
        return _Match(mapping.object, str(records[0]["Id"]), records[0]) if records else None
    for record in records:
        if not record.get("IsConverted"):
            return _Match("Lead", str(record["Id"]), record)
    for record in records:
        if record.get("ConvertedContactId"):
            return _Match("Contact", str(record["ConvertedContactId"]))
    return None


def _update_match(
    client: SalesforceClient,
    entry: OutboxEntry,
    mapping: FormMapping,
    match: _Match,
    payload: dict[str, Any],
    describe: Mapping[str, Any],
) -> Target:
    data = dict(payload)
    current = match.current
    if match.sobject.lower() != mapping.object.lower():
        # Followed a converted lead to its contact: send only what the Contact has, and not the
        # Lead's record type.
        data.pop("RecordTypeId", None)
        describe = client.describe(match.sobject)
        data = writable_fields(data, describe, for_update=True)
        to_read = fields_to_read(mapping, describe)
        current = client.get(match.sobject, match.record_id, to_read) if to_read else {}
    data = update_body(
        mapping, data, current or {}, describe, entry.created_at, source_label=mapping.label
    )
    data.pop("Id", None)
    try:
        if data:
            client.update(match.sobject, match.record_id, data)
    except (ConvertedLead, NotFound) as error:
        # Converted or deleted between our look-up and the update: the next attempt looks
        # again (and follows the conversion, or creates a new record).
        raise TransientError(error.message, error_code=error.error_code) from error
    return Target(match.sobject, match.record_id, "updated")


# --- activity --------------------------------------------------------------------------------


def _record_activity(
    client: SalesforceClient,
    entry: OutboxEntry,
    token: str,
    mapping: FormMapping,
    target: Target,
    payload: Mapping[str, Any],
) -> None:
    """Record the submission as a completed Task on its Lead or Contact, exactly once."""
    task = activity_task(mapping, target.record_id, entry.form_data, payload, entry.created_at)
    if task is None:
        return
    if entry.activity_sent_at is not None:
        found = _find_task(client, entry, task, target.record_id)
        if found:
            _save(entry, token, activity_task_id=found)
            return
    _save(entry, token, activity_sent_at=timezone.now())
    try:
        try:
            task_id = client.create("Task", task)
        except ConvertedLead:
            # Converted since it was written: the history belongs on its contact now.
            contact_id = _converted_contact(client, target.record_id)
            if not contact_id:
                raise
            task["WhoId"] = contact_id
            task_id = client.create("Task", task)
    except OutcomeUnknown:
        found = _find_task(client, entry, task, target.record_id)
        if not found:
            raise
        task_id = found
    _save(entry, token, activity_task_id=task_id)


def _find_task(
    client: SalesforceClient, entry: OutboxEntry, task: Mapping[str, Any], record_id: str
) -> str:
    """The Id of the Task an earlier attempt of this entry created, or "" if none landed.

    Description is a long text (not filterable), so candidates are compared in Python; a Task
    another entry already owns is never taken (the same person may send the same words twice).
    """
    who_ids = sorted({record_id, str(task["WhoId"])})
    since = (entry.activity_sent_at or timezone.now()) - CREATE_LOOKUP_SKEW
    since_literal = since.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    soql = (
        "SELECT Id, Description FROM Task WHERE WhoId IN ("  # noqa: S608
        + ", ".join(soql_quote(who) for who in who_ids)
        + f") AND Subject = {soql_quote(str(task['Subject']))} "
        f"AND ActivityDate = {task['ActivityDate']} AND CreatedDate >= {since_literal} "
        "ORDER BY CreatedDate ASC LIMIT 50"
    )
    wanted = str(task.get("Description") or "").strip()
    candidates = [
        str(record["Id"])
        for record in client.query(soql).get("records") or []
        if str(record.get("Description") or "").strip() == wanted
    ]
    if not candidates:
        return ""
    taken = set(
        OutboxEntry.objects.filter(activity_task_id__in=candidates)
        .exclude(pk=entry.pk)
        .values_list("activity_task_id", flat=True)
    )
    return next((candidate for candidate in candidates if candidate not in taken), "")


def _create_once(
    client: SalesforceClient,
    entry: OutboxEntry,
    token: str,
    sobject: str,
    payload: dict[str, Any],
    describe: Mapping[str, Any],
    *,
    lookup: bool,
) -> Target:
    """Create the record unless an earlier attempt already did (see the module docstring)."""
    if lookup and entry.create_sent_at is not None:
        found = _find_created(client, entry, sobject, payload, describe)
        if found:
            return Target(sobject, found, "created")
    _save(entry, token, create_sent_at=timezone.now())
    try:
        record_id = client.create(sobject, payload)
    except OutcomeUnknown:
        if not lookup:
            raise  # match_on: the next attempt's look-up finds what this one created
        found = _find_created(client, entry, sobject, payload, describe)
        if found:
            return Target(sobject, found, "created")
        raise
    return Target(sobject, record_id, "created")


def _find_created(
    client: SalesforceClient,
    entry: OutboxEntry,
    sobject: str,
    payload: Mapping[str, Any],
    describe: Mapping[str, Any],
) -> str:
    """The Id of the record an earlier create of this entry made, or "" if none landed."""
    types = {
        str(item["name"]).lower(): str(item.get("type"))
        for item in describe.get("fields") or []
        if item.get("filterable", True)
    }
    conditions = [
        f"{soql_identifier(name)} = {soql_quote(value)}"
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
    since = (entry.create_sent_at or timezone.now()) - CREATE_LOOKUP_SKEW
    since_literal = since.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    soql = (
        f"SELECT Id FROM {soql_identifier(sobject)} WHERE "  # noqa: S608
        + " AND ".join(conditions)
        + f" AND CreatedDate >= {since_literal} ORDER BY CreatedDate ASC LIMIT 20"
    )
    candidates = [str(record["Id"]) for record in client.query(soql).get("records") or []]
    if not candidates:
        return ""
    taken = set(
        OutboxEntry.objects.filter(salesforce_id__in=candidates)
        .exclude(pk=entry.pk)
        .values_list("salesforce_id", flat=True)
    )
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    return ""


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
    *, limit: int = 200, time_budget_seconds: float = TASK_TIME_BUDGET_SECONDS
) -> SweepResult:
    """Resume what can be resumed, then deliver due entries until ``limit`` or the time budget.

    Safe to run in several workers at once: every entry is claimed before it is delivered.
    """
    result = SweepResult(resumed=resume_paused())
    deadline = time.monotonic() + time_budget_seconds
    for entry_id, token in claim_due(limit):
        if time.monotonic() > deadline:
            # Out of time: hand the claimed entry straight back for the next sweep.
            CLAIM.release(_entry(entry_id), token)
            continue
        result.record(deliver_claimed(entry_id, token))
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
    committed before ``watch_until`` is delivered by this call, or by a later one. Entries
    are claimed one at a time so that drains running in several workers share a backlog.
    Started after ``watch_until`` (a queue that was behind), it delivers what is due and returns
    without waiting. Paused entries are left to the sweeper, which resumes them.
    """
    result = SweepResult()
    deadline = time.monotonic() + time_budget_seconds
    while time.monotonic() < deadline:
        claims = claim_due(1)
        if claims:
            [(entry_id, token)] = claims
            result.record(deliver_claimed(entry_id, token))
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
