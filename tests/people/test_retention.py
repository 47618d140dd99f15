"""Retention: the data of entries delivered longer ago than OUTBOX_RETENTION_DAYS is cleared by
the daily task; status, ids and times stay; undelivered entries keep theirs."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from django_q.models import Schedule
from wagtail.models import Site

from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.tasks import (
    RETENTION_SCHEDULE_NAME,
    RETENTION_TASK,
    clear_outbox_payloads,
    ensure_schedules,
)


def entry(site: Site, state: str, delivered_days_ago: float | None) -> OutboxEntry:
    delivered = (
        timezone.now() - datetime.timedelta(days=delivered_days_ago)
        if delivered_days_ago is not None
        else None
    )
    return OutboxEntry.objects.create(
        site=site,
        mapping_key="contact-us",
        form_data={"email": "kept@example.com", "last_name": "Kept"},
        state=state,
        delivered_at=delivered,
        salesforce_object="Lead" if delivered else "",
        salesforce_id="00Q5g0000000009EAA" if delivered else "",
        salesforce_action="created" if delivered else "",
        last_error_message="Echo: Kept",
    )


def test_old_delivered_payloads_are_cleared_and_the_history_kept(site: Site) -> None:
    old = entry(site, OutboxState.DELIVERED, 91)
    recent = entry(site, OutboxState.DELIVERED, 89)
    waiting = entry(site, OutboxState.RETRYING, None)
    dead = entry(site, OutboxState.DEAD, None)
    OutboxEntry.objects.filter(pk__in=[waiting.pk, dead.pk]).update(
        created_at=timezone.now() - datetime.timedelta(days=400)
    )

    assert clear_outbox_payloads() == {"cleared": 1}

    old_after = OutboxEntry.objects.get(pk=old.pk)
    assert old_after.form_data == {} and old_after.last_error_message == ""
    assert old_after.payload_cleared_at is not None
    assert (old_after.state, old_after.salesforce_id, old_after.salesforce_action) == (
        OutboxState.DELIVERED,
        "00Q5g0000000009EAA",
        "created",
    )
    assert old_after.delivered_at == old.delivered_at
    assert old_after.created_at == old.created_at
    assert old_after.idempotency_token == old.idempotency_token
    for kept in (recent, waiting, dead):
        assert OutboxEntry.objects.get(pk=kept.pk).form_data["last_name"] == "Kept"
    # Cleared once: the next day's run finds nothing new.
    assert clear_outbox_payloads() == {"cleared": 0}


def test_retention_follows_the_setting_and_zero_keeps_everything(
    site: Site, plugin_settings: dict[str, Any], settings: Any
) -> None:
    week_old = entry(site, OutboxState.DELIVERED, 8)
    settings.WAGTAIL_SALESFORCE = {**plugin_settings, "OUTBOX_RETENTION_DAYS": 0}
    assert clear_outbox_payloads() == {"cleared": 0}
    settings.WAGTAIL_SALESFORCE = {**plugin_settings, "OUTBOX_RETENTION_DAYS": None}
    assert clear_outbox_payloads() == {"cleared": 0}
    settings.WAGTAIL_SALESFORCE = {**plugin_settings, "OUTBOX_RETENTION_DAYS": 7}

    assert clear_outbox_payloads() == {"cleared": 1}
    assert OutboxEntry.objects.get(pk=week_old.pk).form_data == {}


def test_retention_runs_daily(db: None) -> None:
    ensure_schedules()

    [schedule] = Schedule.objects.filter(name=RETENTION_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        RETENTION_TASK,
        Schedule.MINUTES,
        24 * 60,
    )


def test_an_entry_waiting_when_its_person_is_erased_is_never_delivered(site: Site) -> None:
    from wagtail_salesforce.outbox.delivery import schedule_retry
    from wagtail_salesforce.outbox.retention import ERASED_ERROR_CODE, clear_payloads

    waiting = entry(site, OutboxState.RETRYING, None)
    held = entry(site, OutboxState.HELD, None)

    assert clear_payloads(OutboxEntry.objects.filter(pk__in=[waiting.pk, held.pk])) == 2

    for pk in (waiting.pk, held.pk):
        cleared = OutboxEntry.objects.get(pk=pk)
        assert (cleared.state, cleared.last_error_code) == (OutboxState.DEAD, ERASED_ERROR_CODE)
        assert cleared.form_data == {}
    # Retry has nothing to send: the entries stay dead letters.
    assert schedule_retry([waiting.pk, held.pk]) == 0
    assert OutboxEntry.objects.get(pk=waiting.pk).state == OutboxState.DEAD
