"""Describes answer If-Modified-Since as Salesforce's REST API does, and metadata can change:
through the control API (a picklist's values) or a changed org definition."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from wagtail_salesforce.sandbox.engine import Org
from wagtail_salesforce.sandbox.orgfile import definition_from_mapping

from .conftest import RawApi, assert_error

DESCRIBE = "/sobjects/Lead/describe"


def _picklist(salesforce_sandbox: Any, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{salesforce_sandbox.login_url}/__sandbox__/picklist", json=body,
                         timeout=10)


def _values(describe: dict[str, Any], field: str) -> list[str]:
    found = next(f for f in describe["fields"] if f["name"] == field)
    return [value["value"] for value in found["picklistValues"]]


def test_a_describe_carries_last_modified(api: RawApi) -> None:
    response = api.get(DESCRIBE)
    assert response.status_code == 200
    assert email.utils.parsedate_to_datetime(response.headers["Last-Modified"]).tzinfo


def test_an_unchanged_describe_answers_304_without_a_body(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    last_modified = api.get(DESCRIBE).headers["Last-Modified"]
    used = salesforce_sandbox.api_calls_used()
    response = api.get(DESCRIBE, headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["Last-Modified"] == last_modified
    # Salesforce exempts only the Versions resource from the limit: a 304 is an API call.
    assert salesforce_sandbox.api_calls_used() == used + 1


def test_a_date_after_the_change_also_answers_304(api: RawApi) -> None:
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    assert api.get(DESCRIBE, headers={"If-Modified-Since": later}).status_code == 304


def test_a_date_before_the_change_or_no_date_answers_the_describe(api: RawApi) -> None:
    last_modified = email.utils.parsedate_to_datetime(api.get(DESCRIBE).headers["Last-Modified"])
    earlier = email.utils.format_datetime(last_modified - timedelta(seconds=1), usegmt=True)
    assert api.get(DESCRIBE, headers={"If-Modified-Since": earlier}).status_code == 200
    assert api.get(DESCRIBE, headers={"If-Modified-Since": "not a date"}).status_code == 200


def test_changed_picklist_values_answer_200_with_the_new_describe(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    before = api.get(DESCRIBE)
    assert _picklist(salesforce_sandbox, {
        "object": "Lead", "field": "LeadSource",
        "values": ["Web", {"value": "Webinar", "label": "Webinar (online)"}],
    }).status_code == 204
    after = api.get(DESCRIBE, headers={"If-Modified-Since": before.headers["Last-Modified"]})
    assert after.status_code == 200
    assert _values(after.json(), "LeadSource") == ["Web", "Webinar"]
    labels = {v["value"]: v["label"]
              for f in after.json()["fields"] if f["name"] == "LeadSource"
              for v in f["picklistValues"]}
    assert labels["Webinar"] == "Webinar (online)"
    assert (email.utils.parsedate_to_datetime(after.headers["Last-Modified"])
            > email.utils.parsedate_to_datetime(before.headers["Last-Modified"]))
    unchanged = api.get(DESCRIBE, headers={"If-Modified-Since": after.headers["Last-Modified"]})
    assert unchanged.status_code == 304


def test_two_changes_in_one_second_each_move_last_modified(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    _picklist(salesforce_sandbox, {"object": "Lead", "field": "Rating", "values": ["Hot"]})
    first = api.get(DESCRIBE).headers["Last-Modified"]
    _picklist(salesforce_sandbox, {"object": "Lead", "field": "Rating", "values": ["Cold"]})
    response = api.get(DESCRIBE, headers={"If-Modified-Since": first})
    assert response.status_code == 200 and _values(response.json(), "Rating") == ["Cold"]


def test_a_restricted_picklist_refuses_a_value_the_org_no_longer_has(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    _picklist(salesforce_sandbox, {"object": "Lead", "field": "LeadSource",
                                   "values": ["Web"], "restricted": True})
    refused = api.post("/sobjects/Lead/", json={"LastName": "Ng", "Company": "Acme",
                                                "LeadSource": "Phone Inquiry"})
    assert_error(refused, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")


def test_another_objects_describe_is_not_changed(api: RawApi, salesforce_sandbox: Any) -> None:
    contact = api.get("/sobjects/Contact/describe").headers["Last-Modified"]
    _picklist(salesforce_sandbox, {"object": "Lead", "field": "LeadSource", "values": ["Web"]})
    response = api.get("/sobjects/Contact/describe", headers={"If-Modified-Since": contact})
    assert response.status_code == 304


def test_reset_brings_the_definitions_values_back_as_a_change(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    _picklist(salesforce_sandbox, {"object": "Lead", "field": "LeadSource", "values": ["Web"]})
    changed = api.get(DESCRIBE).headers["Last-Modified"]
    salesforce_sandbox.reset()
    fresh = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    response = fresh.get(DESCRIBE, headers={"If-Modified-Since": changed})
    assert response.status_code == 200
    assert "Phone Inquiry" in _values(response.json(), "LeadSource")


def test_a_picklist_change_names_a_picklist_field(salesforce_sandbox: Any) -> None:
    response = _picklist(salesforce_sandbox, {"object": "Lead", "field": "Email",
                                              "values": ["x"]})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_FIELD"
    missing = _picklist(salesforce_sandbox, {"object": "Nope__c", "field": "A", "values": ["x"]})
    assert missing.status_code == 404
    empty = _picklist(salesforce_sandbox, {"object": "Lead", "field": "LeadSource", "values": []})
    assert empty.status_code == 400


class _Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 29, 1, 24, 2, 500000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment


def test_a_data_file_keeps_the_metadata_time_until_the_definition_changes(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "org.sqlite")
    clock = _Clock()
    plain = definition_from_mapping({})
    first = Org(plain, data_path=path, clock=clock)
    started = first.metadata_changed("Lead")
    assert started == clock.moment.replace(microsecond=0)
    first.close()
    clock.moment += timedelta(hours=1)
    same = Org(plain, data_path=path, clock=clock)
    assert same.metadata_changed("Lead") == started
    same.close()
    clock.moment += timedelta(hours=1)
    extended = definition_from_mapping(
        {"objects": {"Lead": {"fields": {"Webinar__c": {"type": "string", "length": 40}}}}}
    )
    grown = Org(extended, data_path=path, clock=clock)
    assert grown.metadata_changed("Lead") == clock.moment.replace(microsecond=0)
    assert grown.metadata_changed("Contact") == started
    grown.close()


def test_the_global_describe_answers_304_until_any_object_changes(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    last_modified = api.get("/sobjects").headers["Last-Modified"]
    assert api.get("/sobjects", headers={"If-Modified-Since": last_modified}).status_code == 304
    _picklist(salesforce_sandbox, {"object": "Contact", "field": "LeadSource", "values": ["Web"]})
    changed = api.get("/sobjects", headers={"If-Modified-Since": last_modified})
    assert changed.status_code == 200 and changed.json()["sobjects"]
