"""The outbox: one row per form submission to deliver to Salesforce.

A row commits in the same transaction as its ``FormSubmission`` and keeps its own JSON copy of
the submitted data, so deleting the submission (or the page) never loses what must be delivered.
The payload is built at delivery time from that copy and the *current* mapping, so fixing the
YAML and pressing Retry re-sends corrected data.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import JSONField, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import Page, Site


class OutboxState(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Retrying")
    DELIVERED = "delivered", _("Delivered")
    DEAD = "dead", _("Failed")
    PAUSED = "paused", _("Paused")


# States a worker may pick up (paused rows are resumed by the sweeper first).
DELIVERABLE_STATES = (OutboxState.PENDING, OutboxState.RETRYING)


# Written in the visitor's request; every other column is NULL or has a database default only
# (no Python default), so a plain ``create()`` leaves it to the database.
SUBMISSION_FIELDS = (
    "site",
    "page",
    "submission",
    "form_data",
    "mapping_key",
    "idempotency_token",
    "next_attempt_at",
    "created_at",
    "updated_at",
)


class OutboxEntryManager(models.Manager["OutboxEntry"]):
    def create_for_submission(
        self,
        *,
        site_id: int,
        page_id: int | None,
        submission: Any,
        form_data: dict[str, Any],
        mapping_key: str,
    ) -> OutboxEntry:
        """Insert a pending entry for a form submission (in the caller's transaction).

        The delivery bookkeeping columns are database defaults: this runs in every form POST,
        and what the database fills in costs the visitor nothing to compute or send.
        """
        now = timezone.now()
        return self.create(
            site_id=site_id,
            page_id=page_id,
            submission=submission,
            form_data=form_data,
            mapping_key=mapping_key,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )


class OutboxEntry(models.Model):
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="+", verbose_name=_("site")
    )
    page = models.ForeignKey(
        Page,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("page"),
    )
    submission = models.ForeignKey(
        "wagtailforms.FormSubmission",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="salesforce_outbox_entries",
        verbose_name=_("form submission"),
    )
    form_data = models.JSONField(_("submitted data"), encoder=DjangoJSONEncoder)
    mapping_key = models.CharField(_("mapping"), max_length=255)
    idempotency_token = models.UUIDField(
        _("idempotency token"), default=uuid.uuid4, unique=True, editable=False
    )

    state = models.CharField(
        _("state"),
        max_length=16,
        choices=OutboxState.choices,
        db_default=OutboxState.PENDING.value,
    )
    attempts = models.PositiveIntegerField(_("attempts"), db_default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    # The lease of the worker delivering this row (conditional UPDATE claims it).
    claim_token = models.CharField(max_length=32, blank=True, db_default="", editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Set (and committed) just before a create is sent: whoever delivers next must look the
    # record up before creating again, because the first create may have landed.
    create_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    last_error_code = models.CharField(_("error code"), max_length=64, blank=True, db_default="")
    last_error_message = models.TextField(_("error"), blank=True, db_default="")
    last_error_fields = models.JSONField(
        _("fields in error"), db_default=Value([], JSONField()), blank=True
    )

    salesforce_object = models.CharField(
        _("Salesforce object"), max_length=80, blank=True, db_default=""
    )
    salesforce_id = models.CharField(_("Salesforce ID"), max_length=18, blank=True, db_default="")
    salesforce_action = models.CharField(_("action"), max_length=16, blank=True, db_default="")
    campaign_member_id = models.CharField(
        _("campaign member ID"), max_length=18, blank=True, db_default=""
    )

    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OutboxEntryManager()

    class Meta:
        verbose_name = _("outbox entry")
        verbose_name_plural = _("outbox entries")
        ordering = ["-created_at", "-pk"]
        # "view" is Django's own; correcting is the dead-letter correction screen's.
        default_permissions = ("view",)
        permissions = [
            ("retry_outboxentry", _("Can retry Salesforce deliveries")),
            ("correct_outboxentry", _("Can correct and resend dead letters")),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="wsf_outbox_due")]

    def __str__(self) -> str:
        return f"Outbox entry {self.pk} ({self.mapping_key}, {self.state})"

    def record_url(self, instance_url: str) -> str:
        """The record's page in the org (Lightning's short ``/{Id}`` form), or ""."""
        if not (self.salesforce_id and instance_url):
            return ""
        return f"{instance_url.rstrip('/')}/{self.salesforce_id}"
