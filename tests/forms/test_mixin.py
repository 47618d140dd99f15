"""SalesforceFormMixin: submissions become outbox entries in the same transaction, delivered
after commit; the visitor's POST never waits on Salesforce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import Site

from tests.outbox.conftest import CONFIG_YAML, landing_page, leads_with_email, write_config
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.core.signals import submission_received
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.tasks import SWEEP_SCHEDULE_NAME, ensure_schedules

FORM = {"email": "visitor@example.com", "last_name": "Visitor", "message": "Hi"}


def post_form(page: Any, data: dict[str, str] | None = None) -> Any:
    return Client().post(page.url, data or FORM)


def test_a_submission_and_its_outbox_entry_are_stored_together(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    page = landing_page(site, "lead-full")

    response = post_form(page)

    assert response.status_code == 200
    submission = FormSubmission.objects.get(page=page)
    entry = OutboxEntry.objects.get()
    assert entry.submission_id == submission.pk and entry.page_id == page.pk
    assert entry.site_id == site.pk and entry.mapping_key == "lead-full"
    assert entry.state == OutboxState.PENDING
    assert entry.form_data["email"] == "visitor@example.com"


def test_the_outbox_entry_keeps_the_data_when_the_submission_is_deleted(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    page = landing_page(site, "lead-full")
    post_form(page)

    FormSubmission.objects.all().delete()

    entry = OutboxEntry.objects.get()
    assert entry.submission_id is None and entry.form_data["last_name"] == "Visitor"


def test_a_page_without_a_mapping_keeps_submissions_in_wagtail_only(site: Site) -> None:
    page = landing_page(site, "")

    assert post_form(page).status_code == 200

    assert FormSubmission.objects.filter(page=page).count() == 1
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize("fault", ["drop_connection", "latency"])
def test_the_visitors_post_never_touches_salesforce(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    fault: str,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # A real queue (the ORM broker) instead of running the task inline: the POST enqueues
    # delivery; a worker would pick it up. Salesforce is broken or slow meanwhile.
    monkeypatch.setattr(Conf, "SYNC", False)
    sandbox.faults.add(fault, latency_ms=3000 if fault == "latency" else None)
    page = landing_page(site, "lead-full")
    calls_before = len(sandbox.calls)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_form(page)

    assert response.status_code == 200
    assert len(sandbox.calls) == calls_before  # no request reached Salesforce
    assert OutboxEntry.objects.get().state == OutboxState.PENDING
    assert OrmQ.objects.count() == 1  # the delivery task waits in the queue


def test_a_submission_whose_transaction_rolls_back_leaves_nothing_to_deliver(
    site: Site,
    connection: SalesforceConnection,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.db import transaction

    monkeypatch.setattr(Conf, "SYNC", False)
    page = landing_page(site, "lead-full")

    class VisitorTransactionFailed(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(VisitorTransactionFailed),
        transaction.atomic(),
    ):
        post_form(page)
        assert OutboxEntry.objects.count() == 1
        assert OrmQ.objects.count() == 1  # the wake-up, in the visitor's transaction
        raise VisitorTransactionFailed

    assert callbacks == []  # nothing was left to run after a commit
    assert not OutboxEntry.objects.exists() and not FormSubmission.objects.exists()
    assert OrmQ.objects.count() == 0


def test_delivery_runs_after_commit_and_lands_in_salesforce(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    page = landing_page(site, "lead-full")

    with django_capture_on_commit_callbacks(execute=True):
        post_form(page)

    entry = OutboxEntry.objects.get()
    assert entry.state == OutboxState.DELIVERED
    [lead] = leads_with_email(sandbox, "visitor@example.com")
    assert entry.salesforce_id == lead["Id"]


def test_the_mapping_must_exist_in_the_config(site: Site, config_file: Path) -> None:
    page = landing_page(site, "lead-full")
    page.salesforce_mapping = "not-a-mapping"

    with pytest.raises(ValidationError) as raised:
        page.full_clean()

    assert "salesforce_mapping" in raised.value.message_dict
    write_config(config_file, CONFIG_YAML.replace("  lead-full:", "  not-a-mapping:"))
    page.full_clean()  # valid once the YAML has it


def test_the_sweeper_schedule_is_registered_once(db: None) -> None:
    ensure_schedules()
    ensure_schedules()

    schedule = Schedule.objects.get(name=SWEEP_SCHEDULE_NAME)
    assert schedule.func == "wagtail_salesforce.tasks.sweep_outbox"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


def test_notification_email_is_sent_after_the_commit(
    site: Site, connection: SalesforceConnection, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core import mail

    page = landing_page(site, "lead-full")
    page.to_address = "sales@example.com"
    page.save()

    with django_capture_on_commit_callbacks(execute=True):
        assert post_form(page).status_code == 200
        assert mail.outbox == []  # not while the transaction is open

    assert [message.to for message in mail.outbox] == [["sales@example.com"]]


def test_a_failing_mail_server_does_not_lose_the_submission(
    site: Site,
    connection: SalesforceConnection,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    import smtplib

    from wagtail.contrib.forms import models as form_models

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise smtplib.SMTPServerDisconnected("mail server went away")

    monkeypatch.setattr(form_models, "send_mail", refuse)
    monkeypatch.setattr(Conf, "SYNC", False)
    page = landing_page(site, "lead-full")
    page.to_address = "sales@example.com"
    page.save()

    with (
        pytest.raises(smtplib.SMTPServerDisconnected),
        django_capture_on_commit_callbacks(execute=True),
    ):
        post_form(page)

    assert FormSubmission.objects.filter(page=page).count() == 1
    assert OutboxEntry.objects.get().state == OutboxState.PENDING
    assert OrmQ.objects.count() == 1  # delivery was queued before the mail was attempted


def test_the_schedule_registration_runs_as_a_post_migrate_handler(db: None) -> None:
    from django.apps import apps
    from django.db.models.signals import post_migrate

    post_migrate.connect(ensure_schedules, dispatch_uid="test-outbox-schedules")
    try:
        post_migrate.send(
            sender=apps.get_app_config("wagtail_salesforce"),
            app_config=apps.get_app_config("wagtail_salesforce"),
            verbosity=0,
            interactive=False,
            using="default",
            apps=apps,
            plan=[],
        )
    finally:
        post_migrate.disconnect(dispatch_uid="test-outbox-schedules")

    assert Schedule.objects.filter(name=SWEEP_SCHEDULE_NAME).count() == 1


def test_the_submission_is_announced_with_its_page_site_and_data(
    site: Site, connection: SalesforceConnection
) -> None:
    page = landing_page(site, "lead-full")
    heard: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        heard.append({"sender": sender, **kwargs})

    submission_received.connect(listener)
    try:
        post_form(page)
    finally:
        submission_received.disconnect(listener)

    [announced] = heard
    assert announced["sender"] is type(announced["page"]) and announced["page"].pk == page.pk
    assert announced["submission"] == FormSubmission.objects.get(page=page)
    assert (announced["site_id"], announced["mapping_key"]) == (site.pk, "lead-full")
    assert announced["form_data"]["email"] == "visitor@example.com"


def test_a_listener_that_fails_rolls_the_submission_back_with_its_entry(
    site: Site, connection: SalesforceConnection
) -> None:
    page = landing_page(site, "lead-full")

    class ListenerFailed(Exception):
        pass

    def broken(sender: Any, **kwargs: Any) -> None:
        raise ListenerFailed

    # Connected after the outbox's receiver: the entry is written, then the failure undoes it.
    submission_received.connect(broken)
    try:
        with pytest.raises(ListenerFailed):
            post_form(page)
    finally:
        submission_received.disconnect(broken)

    assert not FormSubmission.objects.exists() and not OutboxEntry.objects.exists()
