"""Fixtures for the online check: a sandbox org with the field kinds each mismatch needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from wagtail_salesforce.exceptions import ReauthorizationRequired
from wagtail_salesforce.sandbox.errors import SfApiError
from wagtail_salesforce.sandbox.pytest_plugin import SandboxFactory
from wagtail_salesforce.sandbox.server import SandboxHandle

# The built-in sandbox org (Lead record type Web_Inquiry, active campaign "Autumn Webinar" with
# member statuses Sent and Responded), plus Lead fields of the kinds the checks care about.
ORG_EXTENSIONS: dict[str, Any] = {
    "objects": {
        "Lead": {
            "fields": {
                "Newsletter__c": {"type": "boolean"},
                "Employees__c": {"type": "int"},
                "Score__c": {"type": "double"},
                "Event_Date__c": {"type": "date"},
                "Region__c": {"type": "picklist", "values": ["EMEA", "APAC"], "restricted": True},
                "Legacy_Code__c": {"type": "string", "length": 10, "updateable": False},
                "Submission_Id__c": {"type": "string", "length": 36, "external_id": True},
            },
            "record_types": [
                {"developer_name": "Web_Inquiry", "name": "Web Inquiry", "default": True},
                {"developer_name": "Trade_Show", "name": "Trade Show", "active": False},
            ],
        }
    }
}


class EngineOrgMetadata:
    """``OrgMetadata`` read straight from a sandbox engine (``Org``), without HTTP."""

    def __init__(self, org: Any) -> None:
        self.org = org

    def describe(self, sobject: str) -> dict[str, Any] | None:
        try:
            return self.org.describe(sobject)
        except SfApiError as error:
            if error.status == 404:
                return None
            raise

    def _records(self, soql: str) -> list[dict[str, Any]]:
        result = self.org.query(soql, False, "62.0")
        return result.page(0, result.total_size)

    def campaign(self, name: str | None = None, id: str | None = None) -> dict[str, Any] | None:
        column, value = ("Name", name) if name is not None else ("Id", id)
        escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
        records = self._records(
            f"SELECT Id, Name, IsActive FROM Campaign WHERE {column} = '{escaped}'"
        )
        return records[0] if records else None

    def campaign_member_statuses(self, campaign_id: str) -> list[str]:
        records = self._records(
            f"SELECT Label FROM CampaignMemberStatus WHERE CampaignId = '{campaign_id}'"
        )
        return [record["Label"] for record in records]


@dataclass
class TokenCredentials:
    """The client's Credentials protocol over one password-grant token (no refresh)."""

    token: dict[str, Any]
    connection_key: str = "config-tests"
    api_version: str = "62.0"

    @property
    def instance_url(self) -> str:
        return str(self.token["instance_url"])

    @property
    def access_token(self) -> str:
        return str(self.token["access_token"])

    def refresh(self, stale_access_token: str) -> None:
        raise ReauthorizationRequired("the test token cannot be refreshed")

    def record_api_usage(self, used: int, limit: int) -> None:
        """Usage is not recorded in these tests."""


@pytest.fixture
def custom_org(salesforce_sandbox_factory: SandboxFactory) -> SandboxHandle:
    """A sandbox whose Lead has the extra fields and record types above, reset for the test."""
    return salesforce_sandbox_factory(ORG_EXTENSIONS)


@pytest.fixture
def engine_metadata(custom_org: SandboxHandle) -> EngineOrgMetadata:
    return EngineOrgMetadata(custom_org.org)
