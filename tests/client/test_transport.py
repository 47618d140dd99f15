"""TLS trust, API-call counting and Sforce-Limit-Info."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from tests.client.conftest import SandboxCredentials, new_lead
from wagtail_salesforce.client import SalesforceClient, parse_limit_info
from wagtail_salesforce.client.transport import (
    SalesforceAdapter,
    TLSVerificationError,
    configured_session,
    loggable_path,
)
from wagtail_salesforce.exceptions import TLSVerificationFailed


@pytest.mark.parametrize(
    ("header", "usage"),
    [
        ("api-usage=18/15000", (18, 15000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app)", (25, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("", None),
        (None, None),
        ("api-usage=lots/many", None),
    ],
)
def test_parse_limit_info(header: str | None, usage: tuple[int, int] | None):
    assert parse_limit_info(header) == usage


def test_every_answer_updates_api_usage_and_tells_the_credentials(
    client: SalesforceClient, credentials: SandboxCredentials, salesforce_sandbox: Any
):
    client.query("SELECT Id FROM Lead")
    client.create("Lead", new_lead())

    limit = salesforce_sandbox.sandbox.daily_api_limit
    used = salesforce_sandbox.api_calls_used()
    assert client.api_usage == (used, limit)
    assert len(credentials.usage_reports) == 2
    assert credentials.usage_reports[-1] == (used, limit)


def test_api_calls_match_what_the_sandbox_counted(
    client: SalesforceClient, salesforce_sandbox: Any
):
    used_before = salesforce_sandbox.api_calls_used()
    lead_id = client.create("Lead", new_lead())
    client.get("Lead", lead_id)
    client.query("SELECT Id FROM Lead")
    client.collection_create("Lead", [new_lead() for _ in range(5)])
    client.limits()

    assert client.api_calls == 5
    assert salesforce_sandbox.api_calls_used() - used_before == client.api_calls


def test_on_api_call_hook_sees_each_call_and_cannot_break_one(
    credentials: SandboxCredentials, caplog: pytest.LogCaptureFixture
):
    seen: list[int] = []

    def counter(calls: int) -> None:
        seen.append(calls)
        raise RuntimeError("counter storage is down")

    client = SalesforceClient(credentials, on_api_call=counter)
    with caplog.at_level(logging.ERROR):
        lead_id = client.create("Lead", new_lead())

    assert lead_id
    assert seen == [1]
    assert "counter hook failed" in caplog.text


def test_the_configured_ca_file_is_trusted(client: SalesforceClient):
    assert client.query("SELECT Id FROM Lead")["done"] is True


def test_a_server_with_an_untrusted_certificate_is_refused(
    credentials: SandboxCredentials, settings: Any
):
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "CA_FILE": None}
    client = SalesforceClient(credentials)  # system trust store: the sandbox's CA is not in it

    with pytest.raises(TLSVerificationFailed):
        client.query("SELECT Id FROM Lead")
    assert client.api_calls == 0


def test_a_session_asking_not_to_verify_still_verifies(credentials: SandboxCredentials):
    session = requests.Session()
    session.verify = False
    client = SalesforceClient(credentials, session=session, ca_file=requests.certs.where())

    # A real CA bundle without the sandbox's CA: were verification off, the call would succeed.
    with pytest.raises(TLSVerificationFailed):
        client.query("SELECT Id FROM Lead")


def test_the_adapter_refuses_to_disable_verification():
    with pytest.raises(ValueError, match="cannot be turned off"):
        SalesforceAdapter(verify=False, timeout=1.0)


def test_plain_http_instance_urls_are_refused(credentials: SandboxCredentials):
    credentials.instance_url = credentials.instance_url.replace("https://", "http://")
    with pytest.raises(ValueError, match="https"):
        SalesforceClient(credentials).query("SELECT Id FROM Lead")


def test_the_environment_cannot_replace_the_configured_ca(
    client: SalesforceClient, monkeypatch: pytest.MonkeyPatch
):
    # requests would let REQUESTS_CA_BUNDLE override Session.verify; the transport does not.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", requests.certs.where())

    assert client.query("SELECT Id FROM Lead")["done"] is True


def test_the_configured_session_trusts_ca_file_and_not_the_environment(
    salesforce_sandbox: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
):
    # What the OAuth endpoints are called through: the environment cannot add trust either.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", salesforce_sandbox.ca_file)
    url = f"{salesforce_sandbox.instance_url}/services/data/"
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "CA_FILE": None}
    with configured_session() as session, pytest.raises(TLSVerificationError):
        session.get(url)

    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "CA_FILE": salesforce_sandbox.ca_file,
    }
    with configured_session() as session:
        assert session.get(url).status_code == 200


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/services/data/v62.0/query/", "/services/data/v62.0/query/"),
        ("/services/data/v62.0/sobjects/Lead/00Q5g000001AbCdEAF", None),
        ("/services/data/v62.0/sobjects/Lead/describe", None),
        (
            "/services/data/v62.0/sobjects/Lead/Email__c/ada%40example.com",
            "/services/data/v62.0/sobjects/Lead/Email__c/...",
        ),
        (
            "/services/data/v62.0/composite/sobjects/Lead/Email__c",
            "/services/data/v62.0/composite/sobjects/Lead/Email__c",
        ),
    ],
)
def test_loggable_path_hides_external_id_values(path: str, logged: str | None):
    assert loggable_path(path) == (logged or path)


def test_lookups_and_upserts_keep_personal_data_out_of_the_clients_logs(
    client: SalesforceClient, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="wagtail_salesforce.client")
    client.upsert("Lead", "External_Key__c", "grace@example.com", new_lead())
    client.lookup("Lead", "Email", ["grace@example.com"], ["Id"])

    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("wagtail_salesforce.client")
    )
    assert "Salesforce PATCH" in ours and "Salesforce GET" in ours
    assert "grace" not in ours
