"""The pure rules of keeping history: which fields an update reads, the body it sends, and the
Task an activity records (no Salesforce here; delivery against the sandbox is in
test_history_delivery.py)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import override_settings

from wagtail_salesforce.config import FormMapping, loads
from wagtail_salesforce.outbox.history import (
    activity_task,
    appended,
    fields_to_read,
    history_header,
    update_body,
)

DESCRIBE: dict[str, Any] = {
    "name": "Lead",
    "fields": [
        {"name": "Email", "type": "email", "length": 80},
        {"name": "LastName", "type": "string", "length": 80},
        {"name": "Title", "type": "string", "length": 128},
        {"name": "Description", "type": "textarea", "length": 32000},
        {"name": "Short_Note__c", "type": "textarea", "length": 255},
        {"name": "LeadSource", "type": "picklist", "length": 255},
    ],
}
NOW = datetime.datetime(2026, 12, 2, 1, 15, tzinfo=datetime.UTC)  # 10:15 in Tokyo


def mapping(fields: str, extra: str = "") -> FormMapping:
    text = f"""
version: 1
forms:
  landing:
    label: Landing page form
    object: Lead
    match_on: Email
{extra}
    fields:
{fields}
"""
    return loads(text).forms["landing"]


DEFAULTS = mapping(
    """      Email: {from: email}
      LastName: {from: last_name}
      Description: {from: message}
      Short_Note__c: {from: note}
      LeadSource: {value: Web}"""
)


def test_long_text_areas_are_read_and_everything_else_is_overwritten_by_default():
    assert fields_to_read(DEFAULTS, DESCRIBE) == ["Description"]


def test_keep_and_append_fields_are_read_and_fields_the_object_lacks_are_not():
    chosen = mapping(
        """      Email: {from: email}
      Title: {from: title, on_update: keep}
      Description: {from: message, on_update: overwrite}
      Short_Note__c: {from: note, on_update: append}
      Missing__c: {from: other, on_update: keep}"""
    )
    assert fields_to_read(chosen, DESCRIBE) == ["Title", "Short_Note__c"]


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_append_writes_the_new_text_under_a_dated_line_below_the_old():
    body = update_body(
        DEFAULTS,
        {"Email": "a@example.com", "Description": "Second message"},
        {"Description": "First message"},
        DESCRIBE,
        NOW,
        source_label="Landing page form",
    )
    assert body == {
        "Email": "a@example.com",
        "Description": "First message\n\n--- 2026-12-02 10:15 (Landing page form)\nSecond message",
    }


def test_append_to_a_blank_field_writes_the_dated_block_alone():
    body = update_body(
        DEFAULTS, {"Description": "Hello"}, {"Description": None}, DESCRIBE, NOW, source_label="F"
    )
    assert body["Description"] == f"{history_header(NOW, 'F')}\nHello"


def test_append_is_idempotent_for_the_same_submission():
    first = update_body(
        DEFAULTS, {"Description": "Again"}, {"Description": "Old"}, DESCRIBE, NOW, source_label="F"
    )
    repeat = update_body(DEFAULTS, {"Description": "Again"}, first, DESCRIBE, NOW, source_label="F")
    assert "Description" not in repeat


def test_append_past_the_fields_length_trims_the_oldest_text_and_keeps_the_newest():
    old = "old-" * 100  # 400 characters, the oldest first
    body = update_body(
        DEFAULTS, {"Short_Note__c": "x"}, {"Short_Note__c": old}, DESCRIBE, NOW, source_label="F"
    )
    # Short_Note__c is a 255-character textarea: not appended by default.
    assert body == {"Short_Note__c": "x"}
    appending = mapping(
        """      Email: {from: email}
      Short_Note__c: {from: note, on_update: append}"""
    )
    body = update_body(
        appending, {"Short_Note__c": "newest"}, {"Short_Note__c": old}, DESCRIBE, NOW,
        source_label="F",
    )  # fmt: skip
    note = body["Short_Note__c"]
    assert len(note) == 255
    assert note.startswith("…")
    assert note.endswith(f"{history_header(NOW, 'F')}\nnewest")
    assert old.endswith(note.split("\n\n")[0].removeprefix("…"))


def test_a_block_longer_than_the_field_is_cut_at_its_end():
    assert appended("old", "y" * 50, "--- head", 20) == ("--- head\n" + "y" * 50)[:20]


def test_keep_leaves_a_value_alone_and_fills_a_blank_one():
    keeping = mapping(
        """      Email: {from: email}
      Title: {from: title, on_update: keep}"""
    )
    payload = {"Email": "a@example.com", "Title": "CTO"}
    kept = update_body(keeping, payload, {"Title": "CEO"}, DESCRIBE, NOW, source_label="F")
    filled = update_body(keeping, payload, {"Title": "  "}, DESCRIBE, NOW, source_label="F")
    assert kept == {"Email": "a@example.com"}
    assert filled == payload


def test_overwrite_sends_the_value_whatever_the_record_holds():
    overwriting = mapping(
        """      Email: {from: email}
      Description: {from: message, on_update: overwrite}"""
    )
    body = update_body(
        overwriting, {"Description": "New"}, {"Description": "Old"}, DESCRIBE, NOW,
        source_label="F",
    )  # fmt: skip
    assert body == {"Description": "New"}


def test_no_current_record_sends_the_payload_as_it_is():
    payload = {"Description": "New", "RecordTypeId": "012000000000000AAA"}
    assert update_body(DEFAULTS, payload, None, DESCRIBE, NOW, source_label="F") == payload


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_activity_task_is_a_completed_task_on_the_record_with_the_submitted_values():
    with_activity = mapping(
        "      Email: {from: email}", extra='    activity: {subject: "Web: {label} / {topic}"}'
    )
    task = activity_task(
        with_activity,
        "00Q5g0000000001AAA",
        {"email": "a@example.com", "topic": ["Pricing", "Demo"], "phone": ""},
        {"Email": "a@example.com"},
        datetime.datetime(2026, 12, 2, 16, 0, tzinfo=datetime.UTC),  # Dec 3rd in Tokyo
    )
    assert task == {
        "WhoId": "00Q5g0000000001AAA",
        "Subject": "Web: Landing page form / Pricing, Demo",
        "Status": "Completed",
        "ActivityDate": "2026-12-03",
        "Description": "email: a@example.com\ntopic: Pricing, Demo",
    }


def test_activity_true_takes_the_default_subject():
    task = activity_task(
        mapping("      Email: {from: email}", extra="    activity: true"),
        "00Q5g0000000001AAA",
        {"email": "a@example.com"},
        {},
        NOW,
    )
    assert task is not None
    assert task["Subject"] == "Form: Landing page form"


@pytest.mark.parametrize("extra", ["", "    activity: false"])
def test_no_activity_gives_no_task(extra: str):
    plain = mapping("      Email: {from: email}", extra=extra)
    assert activity_task(plain, "00Q5g0000000001AAA", {"email": "a@b.co"}, {}, NOW) is None
