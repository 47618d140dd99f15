"""Correcting a dead letter: new values for what Salesforce refused, then one more delivery.

Only a failed entry (``dead``) whose lease is free can be corrected. The correction takes the
delivery lease itself (:data:`~wagtail_salesforce.outbox.attempt.CLAIM`), so of two editors
pressing "Correct and deliver" at once, or one pressing it twice, one wins and the other is
refused; a worker never holds a dead entry, and one that is being delivered is not dead. Under
the lease, in one transaction: the entry's stored values, the Wagtail form submission's (editors
see what was delivered), the caller's audit-log entry, and the re-queue with fresh attempts
(:func:`~wagtail_salesforce.outbox.delivery.schedule_retry`), which the delivery that follows
sends exactly once like any other entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.contrib.forms.models import FormSubmission

from wagtail_salesforce.core.lease import new_token

from .attempt import CLAIM, lease_duration
from .delivery import schedule_retry
from .models import OutboxEntry, OutboxState
from .wakeups import enqueue_delivery

NOT_CORRECTABLE = _(
    "Only a failed delivery can be corrected, and not while it is being delivered or corrected "
    "by someone else. Reload the outbox to see where this entry is now."
)
NOTHING_CHANGED = _("Nothing changed: correct at least one value before delivering again.")


class CorrectionRefused(Exception):
    """The entry cannot be corrected now (the message says why, for the editor)."""

    def __init__(self, message: Any) -> None:
        self.message = message
        super().__init__(str(message))


@dataclass(frozen=True)
class Correction:
    """What a correction changed: the values before and after, of the changed fields only."""

    entry: OutboxEntry
    original: dict[str, Any]
    corrected: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        return list(self.corrected)


def is_correctable(entry: OutboxEntry) -> bool:
    """A dead letter that nobody holds (what the outbox report offers "Correct" for)."""
    free = (
        not entry.claim_token
        or entry.claimed_until is None
        or entry.claimed_until <= timezone.now()
    )
    return entry.state == OutboxState.DEAD and free


def correct_dead_letter(
    entry_id: int,
    values: Mapping[str, Any],
    *,
    record: Callable[[Correction], None] | None = None,
) -> Correction:
    """Store ``values`` (form field clean name -> value) on the dead letter ``entry_id`` and its
    form submission, call ``record`` (the audit log) in the same transaction, and queue the entry
    for delivery with fresh attempts.

    Raises :class:`CorrectionRefused` when the entry is not a free dead letter, or when no value
    differs from the stored one (nothing would change Salesforce's answer).
    """
    token = new_token()
    rows = OutboxEntry.objects.filter(pk=entry_id)
    # The conditional UPDATE decides: one of several concurrent corrections takes the lease.
    if not CLAIM.take(rows.filter(state=OutboxState.DEAD), token, duration=lease_duration()):
        raise CorrectionRefused(NOT_CORRECTABLE)
    try:
        with transaction.atomic():
            entry = OutboxEntry.objects.select_related("submission").get(pk=entry_id)
            stored = dict(entry.form_data)
            corrected = {name: value for name, value in values.items() if stored.get(name) != value}
            if not corrected:
                raise CorrectionRefused(NOTHING_CHANGED)
            original = {name: stored.get(name) for name in corrected}
            entry.form_data = {**stored, **corrected}
            CLAIM.renew(rows, token, values={"form_data": entry.form_data})
            if entry.submission is not None:
                FormSubmission.objects.filter(pk=entry.submission.pk).update(
                    form_data={**entry.submission.form_data, **corrected}
                )
            correction = Correction(entry=entry, original=original, corrected=corrected)
            if record is not None:
                record(correction)
            CLAIM.release(rows, token, must_hold=True)
            if schedule_retry([entry_id]) != 1:
                raise CorrectionRefused(NOT_CORRECTABLE)
            enqueue_delivery(entry_id)
    except BaseException:
        # Hand the entry back as it was (the transaction's writes are rolled back).
        CLAIM.release(rows, token)
        raise
    return correction
