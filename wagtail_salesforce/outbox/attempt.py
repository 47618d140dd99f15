"""One claimed outbox entry's attempt: the lease it is held under, the progress it learns from
Salesforce, and the outcome written for it (delivered and announced, paused, retried or a dead
letter). The batch (:mod:`.batch`) works on these; :mod:`.delivery` claims and hands them out.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from wagtail_salesforce import conf
from wagtail_salesforce.config import ConfigError, FormMapping, get_config
from wagtail_salesforce.config.payload import (
    submission_email,
)
from wagtail_salesforce.core.backoff import backoff_delay
from wagtail_salesforce.core.lease import Lease, LeaseLost
from wagtail_salesforce.core.signals import submission_delivered
from wagtail_salesforce.exceptions import (
    ApiError,
    ApiLimitExceeded,
    BudgetExhausted,
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

from .models import OutboxEntry, OutboxState

logger = get_logger(__name__)


class DeliveryRejected(Exception):
    """A permanent problem found by the plugin itself (unknown mapping, record type, campaign)."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        self.code = code
        self.message = message
        self.fields = fields or []
        super().__init__(f"{code}: {message}")


# The lease a worker holds on the entry it is delivering.
CLAIM = Lease(owner_field="claim_token", expiry_field="claimed_until")


def lease_duration() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(conf.get("OUTBOX_LEASE_SECONDS")))


def entry_rows(entry_id: int) -> QuerySet[OutboxEntry]:
    return OutboxEntry.objects.filter(pk=entry_id)


def save_progress(entry: OutboxEntry, token: str, **values: Any) -> None:
    """Write ``values`` only while we still hold the lease (LeaseLost otherwise)."""
    CLAIM.renew(entry_rows(entry.pk), token, values={"updated_at": timezone.now(), **values})
    for name, value in values.items():
        setattr(entry, name, value)


def finish(entry: OutboxEntry, token: str, **values: Any) -> None:
    """Final write of an attempt: the outcome, and the lease released (LeaseLost if not ours)."""
    CLAIM.release(
        entry_rows(entry.pk), token, values={"updated_at": timezone.now(), **values}, must_hold=True
    )
    entry.claim_token, entry.claimed_until = "", None
    for name, value in values.items():
        setattr(entry, name, value)


def announce_delivery(entry: OutboxEntry, payload: Mapping[str, Any]) -> None:
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


@dataclass(eq=False)
class Work:
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


def written_values(
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


def settle(work: Work, error: Exception | None = None) -> None:
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
                finish(
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
                announce_delivery(entry, work.announced())
                return
            if progress:
                # What was written stays recorded: the next attempt does not write it again.
                save_progress(entry, token, **progress)
            record_failure(entry, token, error)
            work.state = entry.state
        except LeaseLost:
            lease_lost(work)


def lease_lost(work: Work) -> None:
    work.settled, work.state = True, None
    logger.warning("Outbox entry %s: lease lost mid-delivery; left to its new owner", work.entry.pk)


def keep(work: Work, **values: Any) -> None:
    """Note progress of one entry (its record, campaign member or Task); it is committed with
    the entry's outcome. (Were the worker to die first, the next attempt's look-ups find it.)"""
    work.pending.update(values)
    for name, value in values.items():
        setattr(work.entry, name, value)


def keep_now(work: Work, **values: Any) -> None:
    """Commit ``values`` on the entry now, with its lease (lost: left to its new owner)."""
    try:
        save_progress(work.entry, work.token, **values)
    except LeaseLost:
        lease_lost(work)


def commit_now(works: list[Work], **values: Any) -> list[Work]:
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
                lease_lost(work)
    kept = [work for work in works if not work.settled]
    for work in kept:
        for name, value in values.items():
            setattr(work.entry, name, value)
    return kept


def hand_back(work: Work) -> None:
    """Release an entry unattempted (no attempt spent): it is due again for the next batch."""
    work.settled, work.state = True, None
    progress, work.pending = work.pending, {}
    CLAIM.release(entry_rows(work.entry.pk), work.token, values=progress)


def record_failure(entry: OutboxEntry, token: str, error: Exception) -> None:
    if isinstance(error, LeaseLost):
        raise error
    if isinstance(error, NotConnected | ApiLimitExceeded):
        pause(entry, token, error)
    elif isinstance(error, DeliveryRejected):
        fail(entry, token, error.code, error.message, error.fields, attempts=entry.attempts + 1)
    elif isinstance(
        error, RecordRejected | MultipleMatches | InsufficientAccess | QueryError | NotFound
    ):
        fail(
            entry, token, error.error_code, error.message, error.fields, attempts=entry.attempts + 1
        )
    elif isinstance(error, TLSVerificationFailed):
        # A certificate problem is fixed on the server (CA_FILE); keep the entry meanwhile.
        retry(entry, token, "TLS_VERIFICATION_FAILED", str(error), [])
    elif isinstance(error, TransientError | OutcomeUnknown | ApiError):
        retry(entry, token, _error_code(error), _error_message(error), _error_fields(error))
    else:
        logger.error("Outbox entry %s: unexpected error during delivery", entry.pk, exc_info=error)
        retry(entry, token, "INTERNAL_ERROR", f"{type(error).__name__}: {error}", [])


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


def pause(entry: OutboxEntry, token: str, error: Exception) -> None:
    # Attempts are not spent: nothing is wrong with the entry, the connection is.
    wait = 0.0
    if isinstance(error, ApiLimitExceeded) and not isinstance(error, BudgetExhausted):
        wait = float(conf.get("OUTBOX_API_LIMIT_PAUSE_SECONDS"))
    # Held back by the API budget: due at once, and resume_paused lets it go when the budget
    # allows delivery again (usage fell, or the budget was raised).
    finish(
        entry,
        token,
        state=OutboxState.PAUSED,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=wait),
        last_error_code=_error_code(error) if isinstance(error, ApiError) else type(error).__name__,
        last_error_message=_error_message(error),
        last_error_fields=[],
    )
    logger.warning("Outbox entry %s paused: %s", entry.pk, untrusted(error, "error"))


def fail(
    entry: OutboxEntry, token: str, code: str, message: str, fields: list[str], *, attempts: int
) -> None:
    finish(
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


def retry(entry: OutboxEntry, token: str, code: str, message: str, fields: list[str]) -> None:
    attempts = entry.attempts + 1
    if attempts >= int(conf.get("OUTBOX_MAX_ATTEMPTS")):
        fail(entry, token, code, message, fields, attempts=attempts)
        return
    delay = retry_delay(attempts)
    finish(
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


def mapping_of(entry: OutboxEntry) -> FormMapping:
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
