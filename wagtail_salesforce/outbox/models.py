"""The outbox: one row per form submission to deliver to Salesforce.

A row commits in the same transaction as its ``FormSubmission`` and keeps its own JSON copy of
the submitted data, so deleting the submission (or the page) never loses what must be delivered.
The payload is built at delivery time from that copy and the *current* mapping, so fixing the
YAML and pressing Retry re-sends corrected data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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
    # Suspected spam: stored, never delivered automatically ("Deliver anyway" releases it).
    HELD = "held", _("Held as spam")


class HeldReason(models.TextChoices):
    """Why a submission was held (the spam check that caught it)."""

    HONEYPOT = "honeypot", _("The hidden honeypot field was filled in")
    TOO_FAST = "too_fast", _("Sent back faster than a person fills in the form")
    TOKEN_INVALID = "token_invalid", _("The form's timing token was tampered with")
    RATE_LIMITED = "rate_limited", _("Too many submissions from the same client")
    DUPLICATE = "duplicate", _("The same values were submitted a moment before")
    VERIFICATION_FAILED = "verification_failed", _("The verification challenge was not passed")
    VERIFICATION_UNAVAILABLE = (
        "verification_unavailable",
        _("The verification service could not be reached"),
    )


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
        held_reason: str = "",
    ) -> OutboxEntry:
        """Insert a pending entry for a form submission (in the caller's transaction), or a
        held one when ``held_reason`` names the spam check that caught it.

        The delivery bookkeeping columns are database defaults: this runs in every form POST,
        and what the database fills in costs the visitor nothing to compute or send.
        """
        now = timezone.now()
        held = {"state": OutboxState.HELD, "held_reason": held_reason} if held_reason else {}
        return self.create(
            **held,
            site_id=site_id,
            page_id=page_id,
            submission=submission,
            form_data=form_data,
            mapping_key=mapping_key,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )

    def release_held(self, ids: Iterable[int]) -> list[int]:
        """Put the held entries among ``ids`` in line for normal delivery ("Deliver anyway");
        returns the ids released. The reason stays recorded."""
        now = timezone.now()
        held = self.filter(pk__in=list(ids), state=OutboxState.HELD)
        released = list(held.values_list("pk", flat=True))
        self.filter(pk__in=released, state=OutboxState.HELD).update(
            state=OutboxState.PENDING, next_attempt_at=now, updated_at=now
        )
        return released


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

    held_reason = models.CharField(
        _("held because"), max_length=64, blank=True, choices=HeldReason.choices, db_default=""
    )
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
    # The Task an ``activity:`` recorded for this submission. ``activity_sent_at`` is committed
    # just before the Task is created: an attempt that finds it set (and no Id) looks the Task
    # up before creating one, because the first create may have landed.
    activity_task_id = models.CharField(
        _("activity task ID"), max_length=18, blank=True, db_default=""
    )
    activity_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

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
