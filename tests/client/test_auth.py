"""Session expiry, refresh, revoked refresh tokens, concurrent refresh and secrets in logs."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from tests.client.conftest import CALLBACK, SandboxCredentials, issue_token, new_lead
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.exceptions import ReauthorizationRequired, RecordRejected, SessionExpired


def test_expired_access_token_is_refreshed_and_the_call_repeated(
    client: SalesforceClient, credentials: SandboxCredentials, salesforce_sandbox: Any
):
    old_token = credentials.access_token
    salesforce_sandbox.expire_access_tokens()

    lead_id = client.create("Lead", new_lead(Email="refresh@example.com"))

    assert credentials.token_endpoint_calls == 1
    assert credentials.access_token != old_token
    assert (
        salesforce_sandbox.org.get("Lead", lead_id, None, "62.0")["Email"] == "refresh@example.com"
    )


def test_a_second_401_after_refreshing_is_an_error_not_a_loop(
    client: SalesforceClient, credentials: SandboxCredentials, salesforce_sandbox: Any
):
    salesforce_sandbox.faults.add("expire_session", count=5, path="/query")

    with pytest.raises(SessionExpired) as caught:
        client.query("SELECT Id FROM Lead")

    assert caught.value.error_code == "INVALID_SESSION_ID"
    assert credentials.refresh_requests == 1


def test_revoked_refresh_token_requires_reauthorisation(
    client: SalesforceClient, credentials: SandboxCredentials, salesforce_sandbox: Any
):
    salesforce_sandbox.revoke_all_tokens()

    with pytest.raises(ReauthorizationRequired):
        client.query("SELECT Id FROM Lead")

    assert credentials.needs_reauthorisation is True
    assert credentials.token_endpoint_calls == 1


@pytest.mark.usefixtures("trust_sandbox")
def test_concurrent_refreshes_use_one_token_request_and_lose_no_rotated_token(
    salesforce_sandbox: Any,
):
    rotating = {"client_id": "rotating-app", "client_secret": "rotating-secret"}
    salesforce_sandbox.add_connected_app(
        **rotating, callback_urls=[CALLBACK], rotate_refresh_tokens=True
    )
    credentials = SandboxCredentials(
        salesforce_sandbox,
        issue_token(salesforce_sandbox, **rotating),
        **rotating,
    )
    first_refresh_token = credentials.refresh_token
    clients = [SalesforceClient(credentials) for _ in range(6)]
    salesforce_sandbox.expire_access_tokens()
    start = threading.Barrier(len(clients))
    outcomes: list[object] = []

    def work(client: SalesforceClient) -> None:
        start.wait(timeout=10)
        try:
            outcomes.append(client.query("SELECT Id FROM Lead")["totalSize"])
        except Exception as error:  # collected and asserted below
            outcomes.append(error)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == [0] * len(clients)
    assert credentials.token_endpoint_calls == 1
    assert credentials.refresh_token != first_refresh_token  # rotated, and we kept the new one
    # The rotated refresh token we kept is the live one: a later expiry refreshes again.
    salesforce_sandbox.expire_access_tokens()
    assert clients[0].query("SELECT Id FROM Lead")["totalSize"] == 0
    assert credentials.token_endpoint_calls == 2


def test_tokens_never_reach_the_logs_even_on_errors(
    client: SalesforceClient,
    credentials: SandboxCredentials,
    salesforce_sandbox: Any,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    first_token = credentials.access_token
    refresh_token = credentials.refresh_token
    salesforce_sandbox.expire_access_tokens()
    client.create("Lead", new_lead(Email="private@example.com"))
    salesforce_sandbox.faults.add("http_503", count=1, path="/query")
    client.query("SELECT Id FROM Lead")
    with pytest.raises(RecordRejected) as rejected:
        client.create("Lead", {"LastName": "NoCompany"})
    salesforce_sandbox.revoke_all_tokens()
    with pytest.raises(ReauthorizationRequired) as revoked:
        client.query("SELECT Id FROM Lead")

    secrets = [
        first_token,
        credentials.access_token,
        refresh_token,
        salesforce_sandbox.client_secret,
    ]
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records, "the client should have logged something to check"
    for secret in secrets:
        assert secret and secret not in logged
        assert secret not in str(rejected.value) and secret not in repr(rejected.value.content)
        assert secret not in str(revoked.value)
    # Records' personal data stays out of the client's logs too.
    client_logs = [
        r.getMessage() for r in caplog.records if r.name.startswith("wagtail_salesforce.client")
    ]
    assert client_logs
    assert not any("private@example.com" in message for message in client_logs)
