"""The describe cache keeps Last-Modified and revalidates with If-Modified-Since: a 304 keeps
the cached describe, a metadata change brings the new one."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from wagtail_salesforce.client import SalesforceClient, operations

from .conftest import calls_to


def _lead_sources(describe: dict[str, Any]) -> list[str]:
    field = next(f for f in describe["fields"] if f["name"] == "LeadSource")
    return [value["value"] for value in field["picklistValues"]]


def _set_lead_sources(sandbox: Any, values: list[str]) -> None:
    response = requests.post(f"{sandbox.login_url}/__sandbox__/picklist", timeout=10,
                             json={"object": "Lead", "field": "LeadSource", "values": values})
    assert response.status_code == 204, response.text


def test_a_refresh_of_an_unchanged_describe_is_a_304_that_keeps_it(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    first = client.describe("Lead")
    again = client.describe("Lead", refresh=True)
    assert again == first and again["fields"]
    assert [call["status"] for call in calls_to(salesforce_sandbox, "/describe")] == [200, 304]
    assert client.api_calls == 2  # Salesforce counts the 304 too


def test_a_refresh_after_a_picklist_change_brings_the_new_values(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    assert "Phone Inquiry" in _lead_sources(client.describe("Lead"))
    _set_lead_sources(salesforce_sandbox, ["Web", "Webinar"])
    assert "Phone Inquiry" in _lead_sources(client.describe("Lead"))  # this client's copy
    assert _lead_sources(client.describe("Lead", refresh=True)) == ["Web", "Webinar"]
    assert client.describe("Lead", refresh=True)["name"] == "Lead"
    assert [call["status"] for call in calls_to(salesforce_sandbox, "/describe")] == [200, 200,
                                                                                       304]


def test_past_the_cache_window_a_new_client_revalidates(
    credentials: Any, salesforce_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    SalesforceClient(credentials).describe("Lead")
    monkeypatch.setattr(operations, "DESCRIBE_CACHE_SECONDS", 0.0)
    later = SalesforceClient(credentials)
    assert later.describe("Lead")["name"] == "Lead"
    assert later.api_calls == 1
    _set_lead_sources(salesforce_sandbox, ["Web"])
    assert _lead_sources(SalesforceClient(credentials).describe("Lead")) == ["Web"]
    assert [call["status"] for call in calls_to(salesforce_sandbox, "/describe")] == [200, 304,
                                                                                       200]


def test_within_the_cache_window_no_call_is_made(credentials: Any) -> None:
    SalesforceClient(credentials).describe("Lead")
    other = SalesforceClient(credentials)
    other.describe("Lead")
    assert other.api_calls == 0
