"""The connected user's object permissions (``objects.X.permissions`` or the control call
``/__sandbox__/object_permissions``) and picklist values per record type (``record_types[].
picklist_values``, served by the UI API's ``object-info/{object}/picklist-values/{id}``)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.ids import MASTER_RECORD_TYPE_ID
from wagtail_salesforce.sandbox.orgfile import OrgFileError, definition_from_mapping

from .conftest import RawApi, assert_error

ORG = {
    "objects": {
        "Lead": {
            "fields": {"Industry": {"restricted": True}},
            "record_types": [
                {"developer_name": "Web_Inquiry", "name": "Web Inquiry", "default": True,
                 "picklist_values": {"Industry": ["Technology", "Finance"]}},
                {"developer_name": "Partner", "name": "Partner"},
            ],
        },
        "Contact": {"permissions": {"create": False}},
    }
}


@pytest.fixture
def sandbox(salesforce_sandbox_factory: Any) -> Any:
    return salesforce_sandbox_factory(org=ORG)


def _api(sandbox: Any) -> RawApi:
    return RawApi(sandbox, sandbox.password_token()["access_token"])


def _record_type_id(api: RawApi, developer_name: str) -> str:
    infos = api.get("/sobjects/Lead/describe").json()["recordTypeInfos"]
    return next(i["recordTypeId"] for i in infos if i["developerName"] == developer_name)


def test_a_user_without_create_sees_createable_false_and_is_refused(sandbox: Any) -> None:
    api = _api(sandbox)
    before = sandbox.org.count("Contact")
    describe = api.get("/sobjects/Contact/describe").json()
    assert describe["createable"] is False and describe["updateable"] is True
    error = assert_error(api.post("/sobjects/Contact/", json={"LastName": "Ng"}), 400,
                         "INSUFFICIENT_ACCESS_OR_READONLY")
    assert error["message"] == "insufficient access rights on object id"
    assert sandbox.org.count("Contact") == before


def test_the_control_call_takes_create_away_until_reset(salesforce_sandbox: Any) -> None:
    api = _api(salesforce_sandbox)
    control = f"{salesforce_sandbox.login_url}/__sandbox__/object_permissions"
    answer = requests.post(control, json={"object": "Lead", "create": False}, timeout=10)
    assert answer.status_code == 204, answer.text
    assert api.get("/sobjects/Lead/describe").json()["createable"] is False
    assert_error(api.post("/sobjects/Lead/", json={"LastName": "Ng", "Company": "Acme"}), 400,
                 "INSUFFICIENT_ACCESS_OR_READONLY")
    assert requests.post(control, json={"object": "Lead", "create": "no"},
                         timeout=10).status_code == 400
    salesforce_sandbox.reset()
    assert _api(salesforce_sandbox).get("/sobjects/Lead/describe").json()["createable"] is True


def test_the_ui_api_gives_the_values_of_a_record_type(sandbox: Any) -> None:
    api = _api(sandbox)
    web = _record_type_id(api, "Web_Inquiry")
    body = api.get(f"/ui-api/object-info/Lead/picklist-values/{web}").json()
    industry = body["picklistFieldValues"]["Industry"]
    assert [v["value"] for v in industry["values"]] == ["Finance", "Technology"]
    assert industry["values"][0] == {
        "attributes": None, "label": "Finance", "validFor": [], "value": "Finance"
    }
    assert industry["controllerValues"] == {} and industry["defaultValue"] is None
    assert isinstance(body["eTag"], str) and body["eTag"]
    # A record type that restricts nothing, and the master record type, offer every value.
    partner = _record_type_id(api, "Partner")
    for record_type in (partner, MASTER_RECORD_TYPE_ID):
        all_values = api.get(f"/ui-api/object-info/Lead/picklist-values/{record_type}").json()
        assert len(all_values["picklistFieldValues"]["Industry"]["values"]) == 12
    assert_error(api.get("/ui-api/object-info/Lead/picklist-values/012000000000001AAA"), 404,
                 "NOT_FOUND")


def test_a_restricted_value_outside_the_record_type_is_refused(sandbox: Any) -> None:
    api = _api(sandbox)
    record = {"LastName": "Ng", "Company": "Acme", "Industry": "Retail",
              "RecordTypeId": _record_type_id(api, "Web_Inquiry")}
    error = assert_error(api.post("/sobjects/Lead/", json=record), 400,
                         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    assert error["fields"] == ["Industry"]
    assert api.post("/sobjects/Lead/", json={**record, "Industry": "Finance"}).status_code == 201
    partner = {**record, "RecordTypeId": _record_type_id(api, "Partner")}
    assert api.post("/sobjects/Lead/", json=partner).status_code == 201


def test_the_org_file_checks_record_type_values_and_permissions() -> None:
    with pytest.raises(OrgFileError, match=r"picklist_values\.Industry.*'Gold'"):
        definition_from_mapping({"objects": {"Lead": {"record_types": [
            {"developer_name": "X", "picklist_values": {"Industry": ["Gold"]}}]}}})
    with pytest.raises(OrgFileError, match=r"picklist_values\.Email"):
        definition_from_mapping({"objects": {"Lead": {"record_types": [
            {"developer_name": "X", "picklist_values": {"Email": ["a"]}}]}}})
    with pytest.raises(OrgFileError, match=r"permissions\.create"):
        definition_from_mapping({"objects": {"Lead": {"permissions": {"create": "never"}}}})
    with pytest.raises(OrgFileError, match=r"permissions\.delete"):
        definition_from_mapping({"objects": {"Lead": {"permissions": {"delete": False}}}})
