"""Keeping history against the sandbox over real HTTPS: a second submission by the same person
adds to what the first one wrote, and each submission is recorded once as a completed Task."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.core.signals import submission_delivered
from wagtail_salesforce.outbox.delivery import deliver_entry
from wagtail_salesforce.outbox.history import history_header
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

from .conftest import CONFIG_YAML, leads_with_email, make_entry

HISTORY_YAML = """
  landing:
    label: Landing page form
    object: Lead
    match_on: Email
    activity: {subject: "Form: {label} / {topic}"}
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company, default: "(not provided)"}
      Title: {from: title, on_update: keep}
      Phone: {from: phone}
      Description: {from: message}
  landing-overwrite:
    label: Overwriting form
    object: Lead
    match_on: Email
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {value: Acme}
      Description: {from: message, on_update: overwrite}
  landing-upsert:
    label: Upserting form
    object: Lead
    external_id: Submission_Id__c
    activity: true
    fields:
      Submission_Id__c: {from: reference}
      Email: {from: email}
      LastName: {from: last_name}
      Company: {value: Acme}
      Description: {from: message}
"""


@pytest.fixture
def config_yaml() -> str:
    return CONFIG_YAML + HISTORY_YAML


def submit(site: Site, mapping_key: str = "landing", **form_data: Any) -> OutboxEntry:
    entry = make_entry(site, mapping_key, **form_data)
    assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    entry.refresh_from_db()
    return entry


def tasks_of(sandbox: Any, who_id: str) -> list[dict[str, Any]]:
    return [task for task in sandbox.org.records("Task") if task["WhoId"] == who_id]


def block(entry: OutboxEntry, label: str, text: str) -> str:
    return f"{history_header(entry.created_at, label)}\n{text}"


def test_a_second_submission_appends_its_message_below_the_first(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    first = submit(site, email="ada@example.com", last_name="Lovelace", message="First question")
    second = submit(site, email="Ada@Example.com", last_name="Lovelace", message="Follow-up")

    [lead] = leads_with_email(sandbox, "ada@example.com")
    assert first.salesforce_action == "created" and second.salesforce_action == "updated"
    assert second.salesforce_id == lead["Id"]
    assert lead["Description"] == (
        f"First question\n\n{block(second, 'Landing page form', 'Follow-up')}"
    )


def test_each_submission_is_recorded_once_as_a_completed_task_on_the_lead(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    first = submit(site, email="kay@example.com", last_name="Kay", message="Hi", topic="Pricing")
    second = submit(site, email="kay@example.com", last_name="Kay", message="Again", topic="Demo")

    tasks = sorted(tasks_of(sandbox, first.salesforce_id), key=lambda task: task["Subject"])
    assert {task["Id"] for task in tasks} == {first.activity_task_id, second.activity_task_id}
    assert tasks[0]["Id"] == second.activity_task_id  # "... / Demo" sorts first
    assert [task["Subject"] for task in tasks] == [
        "Form: Landing page form / Demo",
        "Form: Landing page form / Pricing",
    ]
    assert all(task["Status"] == "Completed" and task["IsClosed"] for task in tasks)
    day = timezone.localtime(first.created_at).date().isoformat()
    assert all(task["ActivityDate"] == day for task in tasks)
    assert "message: Again" in tasks[0]["Description"]
    assert "email: kay@example.com" in tasks[1]["Description"]


def test_keep_leaves_a_value_alone_and_overwrite_replaces_one(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    existing = sandbox.org.create(
        "Lead",
        {
            "LastName": "Hopper",
            "Company": "Navy",
            "Email": "grace@example.com",
            "Title": "Rear Admiral",
            "Phone": "555-0100",
        },
    )
    submit(site, email="grace@example.com", last_name="Hopper", title="Intern", phone="555-0199")

    [lead] = leads_with_email(sandbox, "grace@example.com")
    assert lead["Id"] == existing
    assert lead["Title"] == "Rear Admiral"  # keep: not blank, left alone
    assert lead["Phone"] == "555-0199"  # overwrite (the default for a phone)


def test_keep_fills_a_blank_value(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    sandbox.org.create("Lead", {"LastName": "Liskov", "Company": "MIT", "Email": "bl@example.com"})
    submit(site, email="bl@example.com", last_name="Liskov", title="Professor")

    [lead] = leads_with_email(sandbox, "bl@example.com")
    assert lead["Title"] == "Professor"


def test_overwrite_on_a_long_text_area_replaces_the_old_message(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    submit(site, "landing-overwrite", email="ow@example.com", last_name="O", message="Old")
    submit(site, "landing-overwrite", email="ow@example.com", last_name="O", message="New")

    [lead] = leads_with_email(sandbox, "ow@example.com")
    assert lead["Description"] == "New"
    assert sandbox.org.records("Task") == []  # no activity on this mapping


def test_a_lost_task_answer_is_looked_up_instead_of_recording_the_task_twice(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    # The Task is created in the write call (one /composite with the record): lose its answer.
    sandbox.faults.add("lose_response", count=1, method="POST", path=r"/composite$")

    entry = submit(site, email="lost@example.com", last_name="Lost", message="Hello")

    assert sandbox.faults.list() == []  # the fault fired
    [task] = tasks_of(sandbox, entry.salesforce_id)
    assert entry.activity_task_id == task["Id"] and entry.attempts == 1


def test_a_redelivered_submission_neither_appends_again_nor_records_a_second_task(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    submit(site, email="twice@example.com", last_name="Twice", message="One")
    entry = submit(site, email="twice@example.com", last_name="Twice", message="Two")
    [lead] = leads_with_email(sandbox, "twice@example.com")
    description = lead["Description"]

    # As if the worker died after both writes but before recording them: the Task create was
    # sent (activity_sent_at is set) and nothing else is known.
    OutboxEntry.objects.filter(pk=entry.pk).update(
        state=OutboxState.PENDING, salesforce_id="", salesforce_object="", activity_task_id=""
    )
    assert deliver_entry(entry.pk) == OutboxState.DELIVERED

    entry.refresh_from_db()
    [lead] = leads_with_email(sandbox, "twice@example.com")
    assert lead["Description"] == description
    assert description.count("Two") == 1
    tasks = tasks_of(sandbox, lead["Id"])
    assert len(tasks) == 2 and entry.activity_task_id in {task["Id"] for task in tasks}


def test_a_lost_update_answer_is_retried_without_appending_twice(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    submit(site, email="patch@example.com", last_name="Patch", message="One")
    # The update travels in the write call (one /composite with the Task): lose its answer.
    # The attempt looks the record up again (the block is there) before sending anything.
    sandbox.faults.add("lose_response", count=1, method="POST", path=r"/composite$")
    entry = make_entry(site, "landing", email="patch@example.com", last_name="Patch", message="Two")

    assert deliver_entry(entry.pk) == OutboxState.DELIVERED
    assert sandbox.faults.list() == []  # the fault fired

    [lead] = leads_with_email(sandbox, "patch@example.com")
    assert lead["Description"] == f"One\n\n{block(entry, 'Landing page form', 'Two')}"
    assert len(tasks_of(sandbox, lead["Id"])) == 2


def test_an_upserted_record_keeps_its_history_and_gets_a_task_per_submission(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    common = {"reference": "REF-1", "email": "up@example.com", "last_name": "Upsert"}
    first = submit(site, "landing-upsert", message="First", **common)
    second = submit(site, "landing-upsert", message="Second", **common)

    [lead] = leads_with_email(sandbox, "up@example.com")
    assert (first.salesforce_action, second.salesforce_action) == ("created", "updated")
    assert lead["Description"] == f"First\n\n{block(second, 'Upserting form', 'Second')}"
    subjects = [task["Subject"] for task in tasks_of(sandbox, lead["Id"])]
    assert subjects == ["Form: Upserting form", "Form: Upserting form"]


def test_a_converted_lead_gets_the_history_and_the_task_on_its_contact(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    lead_id = sandbox.org.create(
        "Lead",
        {
            "LastName": "Turing",
            "Company": "Bletchley",
            "Email": "alan@example.com",
            "Description": "Met at the conference",
        },
    )
    contact_id = sandbox.org.convert_lead(lead_id)["contactId"]

    entry = submit(site, email="alan@example.com", last_name="Turing", message="Call me")

    assert (entry.salesforce_object, entry.salesforce_id) == ("Contact", contact_id)
    contact = next(c for c in sandbox.org.records("Contact") if c["Id"] == contact_id)
    expected = f"Met at the conference\n\n{block(entry, 'Landing page form', 'Call me')}"
    assert contact["Description"] == expected
    [task] = tasks_of(sandbox, contact_id)
    assert task["Id"] == entry.activity_task_id


def test_two_submissions_in_one_batch_both_append_and_both_are_recorded(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    from wagtail_salesforce.outbox.delivery import claim_due, deliver_batch

    first = make_entry(site, "landing", email="pair@example.com", last_name="Pair", message="A")
    second = make_entry(site, "landing", email="pair@example.com", last_name="Pair", message="B")

    assert deliver_batch(claim_due(200)) == [OutboxState.DELIVERED] * 2

    [lead] = leads_with_email(sandbox, "pair@example.com")
    second.refresh_from_db()
    assert lead["Description"] == f"A\n\n{block(second, 'Landing page form', 'B')}"
    first.refresh_from_db()
    tasks = {task["Id"] for task in tasks_of(sandbox, lead["Id"])}
    assert tasks == {first.activity_task_id, second.activity_task_id} and len(tasks) == 2


def test_listeners_are_told_the_records_values_after_the_write(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    """The sync's local lead takes what was announced: the whole appended history and the kept
    value, so a later push cannot replace either with the latest submission's text."""
    sandbox.org.create(
        "Lead",
        {"LastName": "Hopper", "Company": "Navy", "Email": "grace@example.com", "Title": "Admiral"},
    )
    announced: list[dict[str, Any]] = []

    def listen(**kwargs: Any) -> None:
        announced.append(kwargs["values"])

    submission_delivered.connect(listen, sender=OutboxEntry, weak=False)
    try:
        first = submit(site, email="grace@example.com", last_name="Hopper", message="Hello")
        second = submit(
            site, email="grace@example.com", last_name="Hopper", message="Again", title="Intern"
        )
    finally:
        submission_delivered.disconnect(listen, sender=OutboxEntry)

    [lead] = leads_with_email(sandbox, "grace@example.com")
    assert announced[-1]["Description"] == lead["Description"]
    assert lead["Description"] == (
        f"{block(first, 'Landing page form', 'Hello')}\n\n"
        f"{block(second, 'Landing page form', 'Again')}"
    )
    assert announced[-1]["Title"] == "Admiral" == lead["Title"]  # kept, not the form's
