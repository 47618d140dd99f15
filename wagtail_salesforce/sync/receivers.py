"""What the sync does when another pipeline announces something (connected in ``apps.ready``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.dispatch import receiver

from wagtail_salesforce.core.signals import submission_delivered

from .leads import upsert_lead_from_form
from .models import ErasureTombstone


@receiver(submission_delivered, dispatch_uid="wagtail_salesforce.sync.record_delivered_lead")
def record_delivered_lead(
    sender: Any,
    *,
    site_id: int,
    form_data: Mapping[str, Any],
    mapping_key: str,
    email: str = "",
    **kwargs: Any,
) -> None:
    """A delivered submission with an email upserts the site's local lead. A person erased on
    request who submits again is no longer erased: the sync may bring their records back."""
    ErasureTombstone.objects.clear(email)
    upsert_lead_from_form(site_id, form_data, mapping_key)
