"""Erasure removes every local trace of the person, table by table, and, when chosen and
allowed, their Salesforce records; later syncs do not bring them back, a new submission does;
the audit log knows them by hash only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from wagtail.contrib.forms.models import FormSubmission
from wagtail.models import ModelLogEntry

from tests.sync.conftest import sf_get, sf_records, sync
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.people.erasure import (
    ERASE_ACTION,
    ErasureRefused,
    allowed_choices,
    anonymised_values,
    erase_person,
)
from wagtail_salesforce.sync.models import (
    ErasureTombstone,
    Lead,
    SyncConflict,
    SyncRun,
    person_hash,
)

from .conftest import GRACE, OTHER, Known, submit


@pytest.fixture
def allow(plugin_settings: dict[str, Any], settings: Any) -> Any:
    def allow(choice: str) -> None:
        settings.WAGTAIL_SALESFORCE = {**plugin_settings, "ERASURE_SALESFORCE": choice}

    return allow


def sf_with_email(sandbox: Any, email: str) -> list[dict[str, Any]]:
    return [
        r
        for sobject in ("Lead", "Contact")
        for r in sf_records(sandbox, sobject)
        if str(r.get("Email") or "").lower() == email
    ]


def assert_no_local_trace(grace: Known) -> None:
    """Each table the plugin (and Wagtail's forms) keeps data in, one by one."""
    assert not Lead.objects.filter(email=GRACE).exists()
    assert not SyncConflict.objects.filter(lead_id=grace.lead.pk).exists()
    assert [s.form_data["email"] for s in FormSubmission.objects.all()] == [OTHER]
    entry = OutboxEntry.objects.get(pk=grace.entry.pk)
    assert entry.form_data == {} and entry.payload_cleared_at is not None
    # The history stays: status, ids and times.
    assert entry.state == OutboxState.DELIVERED
    assert entry.salesforce_id == grace.entry.salesforce_id
    assert entry.delivered_at == grace.entry.delivered_at
    assert entry.created_at == grace.entry.created_at
    runs = json.dumps([run.errors for run in SyncRun.objects.all()])
    assert "grace" not in runs.lower() and "[erased]" in runs
    logged = json.dumps(
        [[e.label, e.data] for e in ModelLogEntry.objects.all()], default=str
    ).lower()
    assert "grace" not in logged and "hopper" not in logged
    # Someone else's data is untouched.
    other = OutboxEntry.objects.get(pk=grace.other_entry.pk)
    assert other.form_data["email"] == OTHER
    assert Lead.objects.filter(email=OTHER).exists()


def test_erasure_removes_every_local_trace_and_keeps_salesforce_by_default(
    grace: Known, sandbox: Any, django_user_model: Any
) -> None:
    admin = django_user_model.objects.create_superuser("dpo", "dpo@example.com", "x")

    result = erase_person("Grace.Hopper@example.com", user=admin)

    assert_no_local_trace(grace)
    assert result.removed["leads"] == 1 and result.removed["form_submissions"] == 1
    assert result.removed["outbox_entries"] == 1
    assert result.removed["wagtail_salesforce.syncconflict"] >= 1
    assert len(sf_with_email(sandbox, GRACE)) == 2  # kept in Salesforce
    [tombstone] = ErasureTombstone.objects.all()
    assert tombstone.email_hash == person_hash(GRACE) == result.hash
    [logged] = ModelLogEntry.objects.filter(action=ERASE_ACTION)
    assert logged.user_id == admin.pk
    assert logged.label == result.hash[:16]
    assert logged.data["person"] == result.hash and logged.data["salesforce"] == "keep"

    # The records are still in Salesforce, and a full re-read does not pull the person back.
    run = sync(grace.site, full=True)

    assert run.created == 0
    assert not Lead.objects.filter(email=GRACE).exists()
    assert Lead.objects.filter(email=OTHER).exists()


def test_erasure_deletes_the_salesforce_records_when_chosen(
    grace: Known, sandbox: Any, allow: Any
) -> None:
    allow("delete")

    result = erase_person(GRACE, salesforce="delete")

    assert_no_local_trace(grace)
    assert sf_with_email(sandbox, GRACE) == []
    assert {r.record_id for r in result.salesforce_records} == {
        grace.lead.sf_id,
        grace.duplicate_id,
    }
    assert len(sf_with_email(sandbox, OTHER)) == 1
    sync(grace.site, full=True)
    assert not Lead.objects.filter(email=GRACE).exists()


def test_erasure_anonymises_the_salesforce_records_when_chosen(
    grace: Known, sandbox: Any, allow: Any
) -> None:
    allow("anonymise")

    erase_person(GRACE, salesforce="anonymise")

    assert_no_local_trace(grace)
    for record_id in (grace.lead.sf_id, grace.duplicate_id):
        record = sf_get(sandbox, "Lead", record_id)
        assert record["Email"] is None and record["Phone"] is None
        assert record["FirstName"] is None and record["Title"] is None
        # Required fields cannot be empty.
        assert record["LastName"] == "Erased" and record["Company"] == "Erased"
    assert "hopper" not in json.dumps(sf_records(sandbox, "Lead")).lower()
    sync(grace.site, full=True)
    assert not Lead.objects.filter(email=GRACE).exists()


def test_the_setting_limits_what_erasure_may_do_in_salesforce(
    grace: Known, sandbox: Any, allow: Any
) -> None:
    assert [c.value for c in allowed_choices()] == ["keep"]
    with pytest.raises(ErasureRefused):
        erase_person(GRACE, salesforce="delete")
    allow("anonymise")
    assert [c.value for c in allowed_choices()] == ["keep", "anonymise"]
    with pytest.raises(ErasureRefused):
        erase_person(GRACE, salesforce="delete")
    # Refused: nothing was erased anywhere.
    assert Lead.objects.filter(email=GRACE).exists()
    assert len(sf_with_email(sandbox, GRACE)) == 2
    allow("everything")
    with pytest.raises(ImproperlyConfigured):
        allowed_choices()


def test_a_salesforce_failure_erases_nothing(grace: Known, sandbox: Any, allow: Any) -> None:
    allow("delete")
    SalesforceConnection.objects.filter(site=grace.site).update(enabled=False)

    with pytest.raises(ErasureRefused, match="nothing was erased"):
        erase_person(GRACE, salesforce="delete")

    assert Lead.objects.filter(email=GRACE).exists()
    assert FormSubmission.objects.count() == 2
    assert not ErasureTombstone.objects.exists()


def test_a_new_submission_after_erasure_brings_the_person_back(grace: Known, sandbox: Any) -> None:
    erase_person(GRACE)
    sync(grace.site, full=True)
    assert not Lead.objects.filter(email=GRACE).exists()

    submit(grace.page, GRACE, "Hopper")

    assert not ErasureTombstone.objects.exists()
    assert Lead.objects.filter(email=GRACE).exists()
    sync(grace.site, full=True)
    lead = Lead.objects.get(email=GRACE)
    assert lead.sf_id  # linked again by the pull


def test_anonymised_values_empty_what_may_be_empty_and_fill_what_is_required() -> None:
    fields = [
        {"name": "Email", "type": "email", "updateable": True, "nillable": True},
        {"name": "Other_Email__c", "type": "email", "updateable": True, "nillable": False},
        {"name": "LastName", "type": "string", "updateable": True, "nillable": False},
        {"name": "Key__c", "type": "string", "updateable": True, "nillable": False, "unique": True},
        {"name": "Name", "type": "string", "updateable": False, "nillable": True},
        {"name": "Status", "type": "picklist", "updateable": True, "nillable": True},
        {"name": "HasOptedOutOfEmail", "type": "boolean", "updateable": True},
    ]

    values = anonymised_values(fields, "ab" * 32)

    assert values == {
        "Email": None,
        "Other_Email__c": "erased-abababababab@example.invalid",
        "LastName": "Erased",
        "HasOptedOutOfEmail": True,
    }


def test_an_unknown_erasure_salesforce_value_is_a_system_check_error(settings: Any) -> None:
    from wagtail_salesforce.checks import check_erasure_salesforce

    settings.WAGTAIL_SALESFORCE = {"ERASURE_SALESFORCE": "anonymize"}
    assert [m.id for m in check_erasure_salesforce()] == ["wagtail_salesforce.E004"]
    settings.WAGTAIL_SALESFORCE = {"ERASURE_SALESFORCE": "anonymise"}
    assert check_erasure_salesforce() == []


def test_a_converted_lead_is_erased_through_its_contact(
    grace: Known, sandbox: Any, allow: Any
) -> None:
    converted = sandbox.org.convert_lead(grace.lead.sf_id)
    sync(grace.site)
    grace.lead.refresh_from_db()
    assert grace.lead.sf_id == converted["contactId"]
    allow("anonymise")

    result = erase_person(GRACE, salesforce="anonymise")

    contact = sf_get(sandbox, "Contact", converted["contactId"])
    assert contact["Email"] is None and contact["LastName"] == "Erased"
    handled = {(r.sobject, r.record_id) for r in result.salesforce_records}
    assert ("Contact", converted["contactId"]) in handled
    assert not Lead.objects.filter(email=GRACE).exists()


def test_a_person_found_by_a_former_email_is_erased_under_every_address(
    grace: Known, sandbox: Any
) -> None:
    # Grace changes her address in Salesforce; the sync keeps her as one person.
    new_address = "grace@navy.example"
    sandbox.org.update(grace.lead.sf_object, grace.lead.sf_id, {"Email": new_address})
    sync(grace.site)
    grace.lead.refresh_from_db()
    assert grace.lead.email == new_address and GRACE in grace.lead.former_emails

    # She asks by the address she used on the form.
    result = erase_person(GRACE)

    assert not Lead.objects.filter(pk=grace.lead.pk).exists()
    assert [s.form_data["email"] for s in FormSubmission.objects.all()] == [OTHER]
    assert OutboxEntry.objects.get(pk=grace.entry.pk).form_data == {}
    assert ErasureTombstone.objects.is_erased(GRACE)
    assert ErasureTombstone.objects.is_erased(new_address)
    # The old record that still carries the form's address became a lead of its own once her
    # record let the address go: both are hers by that address, and both go.
    assert result.removed["leads"] == 2
    # Her records stay in Salesforce, under either address; a full re-read brings nobody back.
    run = sync(grace.site, full=True)
    assert run.created == 0
    assert not Lead.objects.filter(email__in=[GRACE, new_address]).exists()
