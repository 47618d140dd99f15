"""The access export holds each kind of data the plugin keeps about the person, and nothing of
anyone else."""

from __future__ import annotations

import json

from wagtail_salesforce.people.access import JSON_ENCODER, export_document, find_person

from .conftest import GRACE, OTHER, Known


def test_the_export_holds_every_kind_of_data_about_the_person(grace: Known) -> None:
    document = export_document("  GRACE.hopper@example.com")

    assert document["email"] == GRACE
    [lead] = document["leads"]
    assert lead["id"] == grace.lead.pk and lead["sf_id"] == grace.lead.sf_id
    assert lead["values"]["last_name"].startswith("Hopper")
    assert lead["former_emails"] == [] and lead["consent"] == {}
    [conflict] = lead["wagtail_salesforce.syncconflict"]
    assert conflict["field"] == "title"
    [submission] = document["form_submissions"]
    assert submission["form_data"]["message"] == "Call me"
    [entry] = document["outbox_entries"]
    assert entry["id"] == grace.entry.pk and entry["state"] == "delivered"
    assert entry["form_data"]["last_name"] == "Hopper"
    assert entry["salesforce_id"] == grace.entry.salesforce_id
    assert any(item["problem"].get("id") == grace.duplicate_id for item in document["sync_history"])
    text = json.dumps(document, cls=JSON_ENCODER)
    assert OTHER not in text and "Lovelace" not in text


def test_someone_the_plugin_never_saw_has_an_empty_export(grace: Known) -> None:
    person = find_person("nobody@example.com")

    assert person.is_empty
    assert person.counts() == {
        "leads": 0,
        "form_submissions": 0,
        "outbox_entries": 0,
        "sync_runs": 0,
    }
