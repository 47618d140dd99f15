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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from wagtail_salesforce import conf
from wagtail_salesforce.client import (
    COLLECTION_CHUNK_SIZE,
    DELIVERY,
)
from wagtail_salesforce.connection.credentials import credentials_for
from wagtail_salesforce.connection.usage import refresh_if_held_back
from wagtail_salesforce.core.lease import new_token
from wagtail_salesforce.exceptions import (
    BudgetExhausted,
    NotConnected,
)
from wagtail_salesforce.observability import get_logger

from .attempt import CLAIM, Work, entry_rows, lease_duration, settle
from .batch import deliver_group
from .models import DELIVERABLE_STATES, OutboxEntry, OutboxState

logger = get_logger(__name__)


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


# --- claiming ----------------------------------------------------------------------------


def claim(entry_id: int, *, now: datetime.datetime | None = None) -> str | None:
    """Take the lease on a due entry; returns the claim token, or None if it is not ours to do.

    One conditional UPDATE: on every database only one of several concurrent callers matches.
    """
    now = now or timezone.now()
    token = new_token()
    due = entry_rows(entry_id).filter(state__in=DELIVERABLE_STATES, next_attempt_at__lte=now)
    claimed = CLAIM.take(
        due, token, duration=lease_duration(), now=now, values={"last_attempt_at": now}
    )
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


def deliver_batch(claims: Sequence[tuple[int, str]]) -> list[str | None]:
    """Run one delivery attempt of each claimed ``(entry_id, token)`` together; returns their
    new states in order (None: skipped, handed back to the queue, or the lease was lost).

    Entries are grouped by site and mapping; each group costs one ``/composite`` call of
    look-ups (when it has any to make) and one of writes (see the module docstring).
    """
    entries = OutboxEntry.objects.select_related("site").in_bulk(
        [entry_id for entry_id, _token in claims]
    )
    works = [Work(entries[entry_id], token) for entry_id, token in claims if entry_id in entries]
    groups: dict[tuple[int, str], list[Work]] = {}
    for work in works:
        groups.setdefault((work.entry.site_id, work.entry.mapping_key), []).append(work)
    for group in groups.values():
        try:
            deliver_group(group)
        except Exception as error:
            # A bug or an unexpected library error: keep the entries and try again later.
            logger.exception("Outbox batch: unexpected error during delivery")
            for work in group:
                settle(work, error)
    states = {work.entry.pk: work.state for work in works}
    return [states.get(entry_id) for entry_id, _token in claims]


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
