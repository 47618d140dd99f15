"""What the outbox does when a form page announces a submission (connected in ``apps.ready``)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from wagtail_salesforce.core.signals import submission_received

from .models import OutboxEntry
from .wakeups import enqueue_delivery


@receiver(submission_received, dispatch_uid="wagtail_salesforce.outbox.queue_submission")
def queue_submission(
    sender: Any,
    *,
    page: Any,
    submission: Any,
    form_data: dict[str, Any],
    mapping_key: str,
    site_id: int,
    held_reason: str = "",
    **kwargs: Any,
) -> OutboxEntry:
    """Write the submission's outbox entry in the visitor's transaction, and have it delivered
    after the commit (a coalesced wake-up). An error here rolls the submission back with it.
    A submission held as suspected spam is stored with its reason and nothing is queued."""
    form_submission_model = OutboxEntry._meta.get_field("submission").related_model
    entry = OutboxEntry.objects.create_for_submission(
        site_id=site_id,
        page_id=page.pk,
        submission=submission if isinstance(submission, form_submission_model) else None,
        form_data=form_data,
        mapping_key=mapping_key,
        held_reason=held_reason,
    )
    if not held_reason:
        enqueue_delivery(entry.pk)
    return entry
