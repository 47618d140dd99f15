"""The outbox row a form POST writes: only the submission's columns, the rest from the database."""

from __future__ import annotations

from typing import Any

from django.db import models
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import Site

from wagtail_salesforce.outbox.models import SUBMISSION_FIELDS, OutboxEntry, OutboxState


def test_an_entry_for_a_submission_reads_back_as_a_full_pending_entry(site: Site) -> None:
    submission = FormSubmission.objects.create(form_data={"email": "a@example.com"}, page_id=1)

    entry = OutboxEntry.objects.create_for_submission(
        site_id=site.pk,
        page_id=1,
        submission=submission,
        form_data={"email": "a@example.com"},
        mapping_key="lead-plain",
    )

    stored = OutboxEntry.objects.get(pk=entry.pk)
    assert stored.submission_id == submission.pk and stored.site_id == site.pk
    assert stored.form_data == {"email": "a@example.com"}
    assert stored.idempotency_token == entry.idempotency_token
    assert stored.created_at == stored.next_attempt_at == entry.created_at
    assert stored.state == OutboxState.PENDING
    # Every column the insert leaves out holds its database default (or NULL), on the stored row
    # and on the returned instance alike.
    left_to_the_database = [
        field
        for field in OutboxEntry._meta.concrete_fields
        if field.name not in SUBMISSION_FIELDS and not field.primary_key
    ]
    assert left_to_the_database
    for field in left_to_the_database:
        assert getattr(stored, field.attname) == database_default(field), field.name
        assert getattr(entry, field.attname) == database_default(field), field.name


def database_default(field: models.Field[Any, Any]) -> Any:
    if not field.has_db_default():
        return field.get_default()
    default = field.db_default
    return default.value if isinstance(default, models.Value) else default


def test_every_column_left_out_has_a_database_default_or_allows_null() -> None:
    def covered(field: models.Field[Any, Any]) -> bool:
        return field.null or field.has_db_default()

    missing = [
        field.name
        for field in OutboxEntry._meta.concrete_fields
        if field.name not in SUBMISSION_FIELDS and not field.primary_key and not covered(field)
    ]
    assert missing == []
