"""Clearing the submitted data outbox entries keep: after the retention period, or on request.

An entry's ``form_data`` is the visitor's own words; once the submission is in Salesforce the
outbox needs it no more. What stays is the history: the state, attempts, the Salesforce ids and
action, the error code and every time, so the outbox listing and the health figures still count
the entry.
"""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from wagtail_salesforce import conf

from .models import OutboxEntry, OutboxState

# The error code of an entry that was waiting when its person was erased: it is never delivered
# (its data is gone), and the outbox shows why.
ERASED_ERROR_CODE = "ERASED"


def clear_payloads(entries: QuerySet[OutboxEntry], now: datetime.datetime | None = None) -> int:
    """Clear the personal data of ``entries``; returns how many were cleared.

    Entries not delivered yet become dead letters with the code ``ERASED``: delivering an empty
    payload would fail, or worse, create a record without the person's consent to keep it.
    """
    now = now or timezone.now()
    cleared = {
        "form_data": {},
        # A Salesforce error message may quote the submitted values.
        "last_error_message": "",
        "payload_cleared_at": now,
        "updated_at": now,
    }
    chosen = OutboxEntry.objects.filter(pk__in=list(entries.values_list("pk", flat=True)))
    # A worker holding one of them loses its lease, so it cannot write the old state back.
    chosen.exclude(state__in=[OutboxState.DELIVERED, OutboxState.DEAD]).update(
        state=OutboxState.DEAD,
        last_error_code=ERASED_ERROR_CODE,
        claim_token="",
        claimed_until=None,
    )
    return chosen.update(**cleared)


def retention_days() -> int:
    """``OUTBOX_RETENTION_DAYS``, 0 for "keep forever" (None too)."""
    days = conf.get("OUTBOX_RETENTION_DAYS")
    return max(int(days or 0), 0)


def clear_expired_payloads(now: datetime.datetime | None = None) -> int:
    """Clear the data of entries delivered more than ``OUTBOX_RETENTION_DAYS`` ago (the daily
    task); returns how many were cleared. Undelivered entries are kept whatever their age:
    their data is still needed to deliver or correct them."""
    days = retention_days()
    if not days:
        return 0
    now = now or timezone.now()
    expired = OutboxEntry.objects.filter(
        state=OutboxState.DELIVERED,
        delivered_at__lt=now - datetime.timedelta(days=days),
        payload_cleared_at__isnull=True,
    )
    return clear_payloads(expired, now)
