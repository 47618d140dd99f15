"""Writing local leads from outside the sync: form submissions and editors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce.config import ConfigError, Direction, get_config
from wagtail_salesforce.config.payload import build_payload, submission_email
from wagtail_salesforce.observability import get_logger

from .models import Lead, LeadOrigin

logger = get_logger(__name__)


def upsert_lead_from_form(
    site: Site | int, data: Mapping[str, Any], mapping_key: str
) -> Lead | None:
    """Create or update the local lead a form submission describes; None without an email.

    The mapping's Salesforce fields are translated to sync fields through the YAML ``sync``
    section (a sync field whose ``{object: field}`` names the same field gets the value). When
    the form itself delivers to a ``match``/``create_as`` object, the outbox creates the
    Salesforce record and the next pull links it, so a new lead is not pushed by the sync too
    (that would race the outbox into a duplicate); a lead already linked pushes its changes.

    Safe to call inside the submission's transaction: an invalid YAML is logged, not raised, so
    it can never roll a visitor's submission back.
    """
    try:
        config = get_config()
    except ConfigError:
        logger.exception("Form lead not stored: the Salesforce config is invalid")
        return None
    mapping = config.forms.get(mapping_key)
    if config.sync is None or mapping is None:
        return None
    mapped = build_payload(mapping, data)
    email = submission_email(mapped, data)
    payload = {name.lower(): value for name, value in mapped.items()}
    if not email:
        return None
    values: dict[str, Any] = {}
    for sync_field in config.sync.fields.values():
        sf_name = sync_field.salesforce.get(mapping.object)
        pushes = sync_field.direction is not Direction.FROM_SALESFORCE
        if sf_name and pushes and sf_name.lower() in payload:
            values[sync_field.name] = payload[sf_name.lower()]
    delivered_by_outbox = mapping.object in {*config.sync.match, config.sync.create_as}
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert(site, email, values, delivered_by_outbox)
        except IntegrityError:
            # Another request created the same email at the same moment: update that one.
            if attempt:
                raise
    return None


def _upsert(
    site: Site | int, email: str, values: dict[str, Any], delivered_by_outbox: bool
) -> Lead:
    site_id = site if isinstance(site, int) else site.pk
    lead = Lead.objects.select_for_update().filter(site_id=site_id, email=email).first()
    if lead is None:
        lead = Lead(site_id=site_id, email=email, source=LeadOrigin.FORM)
    waiting = lead.needs_push
    when = timezone.now()
    for name, value in values.items():
        lead.set_local_value(name, value, when)
    if not lead.sf_id:
        lead.needs_push = waiting or not delivered_by_outbox
    lead.save()
    return lead
