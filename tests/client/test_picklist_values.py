"""``picklist_values``: a record type's picklist values through the UI API, in one call."""

from __future__ import annotations

from typing import Any

import pytest

from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.exceptions import NotFound

from .conftest import calls_to


def test_the_values_of_a_record_type_come_in_one_call(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    record_type_id = client.record_type_id("Lead", "Web_Inquiry")
    values = client.picklist_values("Lead", record_type_id)
    assert list(values["Rating"]) == ["Hot", "Warm", "Cold"]
    assert values["LeadSource"]["Phone Inquiry"] == "Phone Inquiry"
    assert len(calls_to(salesforce_sandbox, "/ui-api/object-info/Lead/picklist-values/")) == 1


def test_an_unknown_record_type_is_not_found_and_a_bad_id_is_never_sent(
    client: SalesforceClient,
) -> None:
    with pytest.raises(NotFound):
        client.picklist_values("Lead", "012000000000009AAA")
    with pytest.raises(ValueError, match="record Id"):
        client.picklist_values("Lead", "../../limits")
