"""The package's pytest plugin: org files, sandboxes serving a custom org (in this process and as
a subprocess), and ``salesforce_org`` overridden the way a user's conftest.py would."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.orgfile import OrgFileError, load_org_definition
from wagtail_salesforce.sandbox.pytest_plugin import (
    OrgFileWriter,
    SandboxFactory,
    SandboxProcessFactory,
)
from wagtail_salesforce.sandbox.server import SandboxHandle

TIER_ORG: dict[str, Any] = {
    "objects": {"Lead": {"fields": {"Tier__c": {"type": "picklist", "values": ["Gold", "Silver"]}}}}
}


def lead_field_names(session: requests.Session, instance_url: str, token: str) -> set[str]:
    response = session.get(
        f"{instance_url}/services/data/v62.0/sobjects/Lead/describe",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {field["name"] for field in response.json()["fields"]}


def test_an_org_file_from_a_mapping_is_what_the_sandbox_loads(
    salesforce_org_file: OrgFileWriter,
) -> None:
    path = salesforce_org_file(TIER_ORG)

    tier = load_org_definition(path).objects["Lead"].field("Tier__c")
    assert tier is not None
    assert [value.value for value in tier.picklist_values] == ["Gold", "Silver"]


def test_an_org_file_from_yaml_text_keeps_the_text(salesforce_org_file: OrgFileWriter) -> None:
    text = "org: {name: Text Org}\n"

    path = salesforce_org_file(text, name="text-org.yaml")

    assert path.name == "text-org.yaml"
    assert path.read_text(encoding="utf-8") == text
    assert load_org_definition(path).org_name == "Text Org"


def test_an_invalid_org_definition_fails_where_it_is_written_naming_the_key(
    salesforce_org_file: OrgFileWriter,
) -> None:
    with pytest.raises(OrgFileError, match=r"objects\.Lead\.fields\.Tier__c\.type"):
        salesforce_org_file({"objects": {"Lead": {"fields": {"Tier__c": {"type": "colour"}}}}})


def test_the_factory_serves_the_org_over_https_beside_the_built_in_one(
    salesforce_sandbox_factory: SandboxFactory, salesforce_sandbox: SandboxHandle
) -> None:
    custom = salesforce_sandbox_factory(TIER_ORG)

    assert custom.instance_url != salesforce_sandbox.instance_url
    custom_fields = lead_field_names(
        custom.requests_session(), custom.instance_url, custom.password_token()["access_token"]
    )
    built_in_fields = lead_field_names(
        salesforce_sandbox.requests_session(),
        salesforce_sandbox.instance_url,
        salesforce_sandbox.password_token()["access_token"],
    )
    assert "Tier__c" in custom_fields
    assert "Tier__c" not in built_in_fields


def test_an_equal_org_gets_the_same_sandbox_back_reset(
    salesforce_sandbox_factory: SandboxFactory,
) -> None:
    first = salesforce_sandbox_factory(TIER_ORG)
    lead_id = first.org.create("Lead", {"LastName": "Ng", "Company": "Acme", "Tier__c": "Gold"})
    same_definition = {"objects": {"Lead": {"fields": dict(TIER_ORG["objects"]["Lead"]["fields"])}}}

    again = salesforce_sandbox_factory(same_definition)

    assert again is first
    assert lead_id not in {record["Id"] for record in again.org.records("Lead")}


def test_an_org_files_path_is_an_org_too(
    salesforce_sandbox_factory: SandboxFactory, salesforce_org_file: OrgFileWriter
) -> None:
    path = salesforce_org_file(TIER_ORG)

    sandbox = salesforce_sandbox_factory(path)

    assert "Tier__c" in {field["name"] for field in sandbox.org.describe("Lead")["fields"]}


def test_the_process_factory_runs_the_cli_on_the_org(
    salesforce_sandbox_process_factory: SandboxProcessFactory,
) -> None:
    process = salesforce_sandbox_process_factory(TIER_ORG)

    session = requests.Session()
    session.trust_env = False
    session.verify = process.ca_file
    token = session.post(
        f"{process.login_url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": process.client_id,
            "client_secret": process.client_secret,
            "username": process.username,
            "password": process.password,
        },
        timeout=10,
    ).json()
    assert "Tier__c" in lead_field_names(session, process.instance_url, token["access_token"])


def test_a_users_conftest_and_parametrize_choose_the_org(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def salesforce_org():
            return {"objects": {"Lead": {"fields": {"Tier__c": {"type": "string", "length": 8}}}}}
        """
    )
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest

            def lead_fields(sandbox):
                return {f["name"] for f in sandbox.simple_salesforce().Lead.describe()["fields"]}

            def test_conftest_org(salesforce_sandbox):
                assert "Tier__c" in lead_fields(salesforce_sandbox)

            @pytest.mark.parametrize("salesforce_org", [None, "org: {name: Other}"])
            def test_parametrized_org(salesforce_sandbox, salesforce_org):
                assert "Tier__c" not in lead_fields(salesforce_sandbox)

            def test_org_file(salesforce_org_file):
                assert salesforce_org_file("org: {name: Filed}").read_text() == "org: {name: Filed}"
            """
        )
    )

    result = pytester.runpytest_subprocess("-p", "no:django", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=4)
