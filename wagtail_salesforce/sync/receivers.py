"""What the sync does when another pipeline announces something (connected in ``apps.ready``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.dispatch import receiver
from wagtail.models import Page

from wagtail_salesforce.config import ConfigError, get_config
from wagtail_salesforce.core.signals import submission_delivered

from . import consent
from .leads import upsert_lead_from_form
from .models import ErasureTombstone, Lead


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


@receiver(submission_delivered, dispatch_uid="wagtail_salesforce.sync.record_form_consent")
def record_form_consent(
    sender: Any,
    *,
    site_id: int,
    form_data: Mapping[str, Any],
    mapping_key: str,
    email: str = "",
    page_id: int | None = None,
    submitted_at: Any = None,
    **kwargs: Any,
) -> None:
    """The consent the form's checkboxes gave, timed by the submission and placed on its page
    (connected after ``record_delivered_lead``, so the lead exists)."""
    try:
        config = get_config()
    except ConfigError:
        return  # the lead receiver has logged it
    mapping = config.forms.get(mapping_key)
    if config.sync is None or mapping is None or not mapping.consent or not email:
        return
    lead = Lead.objects.filter(site_id=site_id, email=email).first()
    if lead is None:
        return
    page = Page.objects.filter(pk=page_id).first() if page_id else None
    consent.record_form_consent(
        config.sync,
        lead,
        mapping.consent.values(),
        form_data,
        at=submitted_at,
        page_id=page.pk if page else None,
        page_url=(page.full_url or page.url or "") if page else "",
    )
