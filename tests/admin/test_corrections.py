"""Correcting a dead letter (issue 13): an editor with the permission edits the values Salesforce
refused, judged by the org's rules, and the entry is delivered once; the audit log keeps the
original values. Against the sandbox: the dead letters are real refusals of real submissions."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import ModelLogEntry, Page, Site

from tests.outbox import conftest as outbox_fixtures
from tests.outbox.conftest import leads_with_email
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.core.lease import new_token
from wagtail_salesforce.outbox.delivery import CLAIM, claim, deliver_entry, schedule_retry
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

salesforce_org = outbox_fixtures.salesforce_org
salesforce_settings = outbox_fixtures.salesforce_settings
outbox_settings = outbox_fixtures.outbox_settings

NAMES_YAML = """
version: 1
forms:
  lead-names:
    label: Lead with a first name
    object: Lead
    fields:
      Email: {from: email}
      FirstName: {from: first_name}
      LastName: {from: last_name}
      Company: {value: Acme}
      LeadSource: {value: Web}
"""
CORRECT_ACTION = "wagtail_salesforce.correct"


@pytest.fixture
def config_yaml() -> str:
    return NAMES_YAML


def names_page(site: Site) -> Any:
    """A published form page sending email, first and last name to ``lead-names``."""
    from home.models import FormField, LandingPage

    root = site.root_page or Page.get_first_root_node()
    page = root.add_child(
        instance=LandingPage(title="Names", slug="names", salesforce_mapping="lead-names")
    )
    for order, (label, field_type) in enumerate(
        [("Email", "email"), ("First name", "singleline"), ("Last name", "singleline")]
    ):
        FormField.objects.create(
            page=page, sort_order=order, label=label, field_type=field_type, required=True
        )
    return page


def submit(page: Any, capture: Any, **values: str) -> OutboxEntry:
    """A visitor's submission (no describe cached yet, so the form accepts what the org will
    refuse), delivered after the commit as in production; returns its entry."""
    data = {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", **values}
    with capture(execute=True):
        response = Client().post(page.url, data)
    assert response.status_code == 200
    return OutboxEntry.objects.latest("pk")


@pytest.fixture
def dead_letter(
    site: Site, connection: SalesforceConnection, django_capture_on_commit_callbacks: Any
) -> OutboxEntry:
    """A 100-character first name: thanked, then refused by Salesforce (STRING_TOO_LONG)."""
    entry = submit(names_page(site), django_capture_on_commit_callbacks, first_name="x" * 100)
    assert entry.state == OutboxState.DEAD
    assert entry.last_error_code == "STRING_TOO_LONG"
    assert entry.last_error_fields == ["FirstName"]
    return entry


def user_client(django_user_model: Any, *codenames: str) -> Client:
    user = django_user_model.objects.create_user("editor", "editor@example.com", "pw")
    group = Group.objects.create(name="Outbox people")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        *Permission.objects.filter(
            content_type__app_label="wagtail_salesforce", codename__in=codenames
        ),
    )
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def corrector(django_user_model: Any) -> Client:
    return user_client(django_user_model, "view_outboxentry", "correct_outboxentry")


def correct_url(entry: OutboxEntry) -> str:
    return reverse("wagtail_salesforce:outbox_correct", args=[entry.pk])


def correction_log(entry: OutboxEntry) -> list[ModelLogEntry]:
    return list(
        ModelLogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(OutboxEntry),
            object_id=str(entry.pk),
            action=CORRECT_ACTION,
        )
    )


def post_correction(client: Client, entry: OutboxEntry, capture: Any, **changes: str) -> Any:
    values = {name: str(value) for name, value in entry.form_data.items()}
    with capture(execute=True):
        return client.post(correct_url(entry), {**values, **changes})


def test_correcting_needs_the_correct_permission(
    dead_letter: OutboxEntry, django_user_model: Any
) -> None:
    viewer = user_client(django_user_model, "view_outboxentry", "retry_outboxentry")

    response = viewer.get(correct_url(dead_letter))
    assert response.status_code == 403
    assert b"salesforce-forbidden" in response.content
    refused = viewer.post(correct_url(dead_letter), {"first_name": "Grace"})
    assert refused.status_code == 403
    dead_letter.refresh_from_db()
    assert dead_letter.state == OutboxState.DEAD
    assert dead_letter.form_data["first_name"] == "x" * 100
    report = viewer.get(reverse("wagtail_salesforce:outbox")).content.decode()
    assert f'data-outbox-entry="{dead_letter.pk}"' in report
    assert "data-correct-entry" not in report


def test_the_report_links_a_dead_letter_to_its_correction(
    dead_letter: OutboxEntry, corrector: Client
) -> None:
    report = corrector.get(reverse("wagtail_salesforce:outbox")).content.decode()

    assert f'data-correct-entry="{dead_letter.pk}"' in report
    assert correct_url(dead_letter) in report


def test_the_correction_screen_shows_salesforce_s_message_beside_the_field_it_named(
    dead_letter: OutboxEntry, corrector: Client
) -> None:
    response = corrector.get(correct_url(dead_letter))

    assert response.status_code == 200
    html = response.content.decode()
    assert "STRING_TOO_LONG" in html and dead_letter.last_error_message in html
    # Lead.FirstName is fed by the form field "First name": that one is marked, not the others.
    assert 'data-correction-field="first_name" data-refused' in html
    assert 'data-correction-field="email" data-refused' not in html
    assert "Sent to Lead.FirstName" in html
    # Breadcrumbs lead back to the outbox.
    assert reverse("wagtail_salesforce:outbox") in html


def test_a_corrected_dead_letter_is_delivered_exactly_once(
    dead_letter: OutboxEntry,
    corrector: Client,
    sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    response = post_correction(
        corrector, dead_letter, django_capture_on_commit_callbacks, first_name="Grace"
    )

    assert response.status_code == 302
    dead_letter.refresh_from_db()
    assert dead_letter.state == OutboxState.DELIVERED
    assert dead_letter.attempts == 1  # fresh attempts, one delivery
    [lead] = leads_with_email(sandbox, "grace@example.com")
    assert lead["FirstName"] == "Grace" and lead["Id"] == dead_letter.salesforce_id

    # The same form sent again (a double click, a second tab) changes nothing.
    again = post_correction(
        corrector, dead_letter, django_capture_on_commit_callbacks, first_name="Grace2"
    )
    assert again.status_code == 302
    assert len(leads_with_email(sandbox, "grace@example.com")) == 1
    dead_letter.refresh_from_db()
    assert dead_letter.form_data["first_name"] == "Grace"
    assert len(correction_log(dead_letter)) == 1


def test_the_audit_log_keeps_the_original_values_and_the_submission_shows_the_delivered_ones(
    dead_letter: OutboxEntry, corrector: Client, django_capture_on_commit_callbacks: Any
) -> None:
    post_correction(corrector, dead_letter, django_capture_on_commit_callbacks, first_name="Grace")

    [entry] = correction_log(dead_letter)
    assert entry.user.username == "editor"
    assert entry.data["original"] == {"first_name": "x" * 100}
    assert entry.data["corrected"] == {"first_name": "Grace"}
    assert entry.data["error_code"] == "STRING_TOO_LONG"
    # The message names the field, never a value (the values are personal data).
    message = entry.message
    assert "first_name" in message and "Grace" not in message and "x" * 40 not in message
    submission = FormSubmission.objects.get(pk=dead_letter.submission_id)
    assert submission.form_data["first_name"] == "Grace"
    assert submission.form_data["email"] == "grace@example.com"


def test_a_correction_salesforce_would_still_refuse_is_refused_with_the_form_error(
    site: Site,
    connection: SalesforceConnection,
    corrector: Client,
    sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    entry = submit(names_page(site), django_capture_on_commit_callbacks, email="grace@localhost")
    assert entry.last_error_code == "INVALID_EMAIL_ADDRESS"

    response = post_correction(
        corrector, entry, django_capture_on_commit_callbacks, email="grace@still-localhost"
    )

    assert response.status_code == 200
    assert "full domain" in response.content.decode()
    entry.refresh_from_db()
    assert entry.state == OutboxState.DEAD and entry.form_data["email"] == "grace@localhost"
    assert correction_log(entry) == []

    # Full-width input is folded as at the form, and then Salesforce takes it.
    full_width = "ｇｒａｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    accepted = post_correction(
        corrector, entry, django_capture_on_commit_callbacks, email=full_width
    )
    assert accepted.status_code == 302
    entry.refresh_from_db()
    assert entry.state == OutboxState.DELIVERED
    assert entry.form_data["email"] == "grace@example.com"
    assert len(leads_with_email(sandbox, "grace@example.com")) == 1


def test_a_length_the_org_refuses_is_refused_at_the_correction_too(
    dead_letter: OutboxEntry, corrector: Client, django_capture_on_commit_callbacks: Any
) -> None:
    response = post_correction(
        corrector, dead_letter, django_capture_on_commit_callbacks, first_name="y" * 41
    )

    assert response.status_code == 200
    assert "at most 40 characters" in response.content.decode()
    dead_letter.refresh_from_db()
    assert dead_letter.state == OutboxState.DEAD


def test_a_correction_that_changes_nothing_is_refused(
    site: Site,
    connection: SalesforceConnection,
    corrector: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Failed for a reason outside its values (say, a validation rule since relaxed): sending
    # the same values is Retry's job, not a correction.
    entry = OutboxEntry.objects.create(
        site=site,
        mapping_key="lead-names",
        form_data={"email": "same@example.com", "first_name": "Same", "last_name": "Same"},
        state=OutboxState.DEAD,
        last_error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
    )

    response = post_correction(corrector, entry, django_capture_on_commit_callbacks)

    assert response.status_code == 200
    assert "Nothing changed" in response.content.decode()
    entry.refresh_from_db()
    assert entry.state == OutboxState.DEAD and not entry.claim_token
    assert correction_log(entry) == []


def test_a_delivered_entry_cannot_be_corrected(
    site: Site,
    connection: SalesforceConnection,
    corrector: Client,
    sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    entry = submit(names_page(site), django_capture_on_commit_callbacks)
    assert entry.state == OutboxState.DELIVERED

    shown = corrector.get(correct_url(entry))
    sent = post_correction(corrector, entry, django_capture_on_commit_callbacks, first_name="Ada")

    assert shown.status_code == 302 and sent.status_code == 302
    entry.refresh_from_db()
    assert entry.form_data["first_name"] == "Grace"
    assert correction_log(entry) == []
    [lead] = leads_with_email(sandbox, "grace@example.com")
    assert lead["FirstName"] == "Grace"


def test_an_entry_held_by_a_correction_in_progress_cannot_be_corrected(
    dead_letter: OutboxEntry,
    corrector: Client,
    sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    rows = OutboxEntry.objects.filter(pk=dead_letter.pk)
    assert CLAIM.take(rows, new_token(), duration=datetime.timedelta(minutes=5))

    shown = corrector.get(correct_url(dead_letter))
    sent = post_correction(
        corrector, dead_letter, django_capture_on_commit_callbacks, first_name="Grace"
    )

    assert shown.status_code == 302 and sent.status_code == 302
    dead_letter.refresh_from_db()
    assert dead_letter.state == OutboxState.DEAD
    assert dead_letter.form_data["first_name"] == "x" * 100
    assert correction_log(dead_letter) == []
    assert leads_with_email(sandbox, "grace@example.com") == []


def test_an_entry_a_worker_has_claimed_cannot_be_corrected(
    dead_letter: OutboxEntry, corrector: Client, django_capture_on_commit_callbacks: Any
) -> None:
    assert schedule_retry([dead_letter.pk]) == 1
    assert claim(dead_letter.pk, now=timezone.now()) is not None

    sent = post_correction(
        corrector, dead_letter, django_capture_on_commit_callbacks, first_name="Grace"
    )

    assert sent.status_code == 302
    dead_letter.refresh_from_db()
    assert dead_letter.form_data["first_name"] == "x" * 100
    assert correction_log(dead_letter) == []


def test_a_lapsed_lease_frees_the_dead_letter_for_correction(
    dead_letter: OutboxEntry,
    corrector: Client,
    sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # A correction whose process died keeps the entry only until its lease expires.
    rows = OutboxEntry.objects.filter(pk=dead_letter.pk)
    past = timezone.now() - datetime.timedelta(hours=1)
    assert CLAIM.take(rows, new_token(), duration=datetime.timedelta(minutes=5), now=past)

    sent = post_correction(
        corrector, dead_letter, django_capture_on_commit_callbacks, first_name="Grace"
    )

    assert sent.status_code == 302
    dead_letter.refresh_from_db()
    assert dead_letter.state == OutboxState.DELIVERED
    assert len(leads_with_email(sandbox, "grace@example.com")) == 1


def test_retrying_alone_sends_the_dead_letter_into_the_same_failure(
    dead_letter: OutboxEntry,
) -> None:
    """Why corrections exist: the stored values fail again, however often they are retried."""
    assert schedule_retry([dead_letter.pk]) == 1
    assert deliver_entry(dead_letter.pk) == OutboxState.DEAD
