"""Transient failures are retried within the bound; lost creates are never repeated blindly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.client.conftest import calls_to, new_lead
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.client.transport import retry_delay
from wagtail_salesforce.exceptions import NetworkError, OutcomeUnknown, TransientError


@pytest.mark.parametrize("kind", ["http_503", "http_500", "drop_connection", "unable_to_lock_row"])
def test_transient_faults_on_a_query_are_retried_to_success(
    client: SalesforceClient, salesforce_sandbox: Any, kind: str
):
    salesforce_sandbox.org.create("Lead", new_lead())
    salesforce_sandbox.faults.add(kind, count=3, path="/query")

    assert client.query("SELECT Id FROM Lead")["totalSize"] == 1


@pytest.mark.parametrize("kind", ["http_503", "http_500", "unable_to_lock_row"])
def test_transient_answers_to_a_create_are_retried_without_duplicates(
    client: SalesforceClient, salesforce_sandbox: Any, kind: str
):
    salesforce_sandbox.faults.add(kind, count=2, method="POST", path="/sobjects/Lead")

    lead_id = client.create("Lead", new_lead(Email="retry@example.com"))

    assert salesforce_sandbox.org.get("Lead", lead_id, None, "62.0")["Email"] == "retry@example.com"
    assert salesforce_sandbox.org.count("Lead") == 1


@pytest.mark.parametrize(
    ("kind", "error_code"),
    [("http_503", None), ("unable_to_lock_row", "UNABLE_TO_LOCK_ROW"), ("drop_connection", None)],
)
def test_persistent_transient_faults_surface_as_transient_error_past_the_bound(
    client: SalesforceClient, salesforce_sandbox: Any, kind: str, error_code: str | None
):
    salesforce_sandbox.faults.add(kind, path="/query")

    with pytest.raises(TransientError) as caught:
        client.query("SELECT Id FROM Lead")

    if error_code is not None:
        assert caught.value.error_code == error_code
    assert len(calls_to(salesforce_sandbox, "/query")) == 4  # MAX_RETRIES=3 -> four attempts


def test_a_create_whose_answer_is_lost_raises_outcome_unknown_and_the_record_exists(
    client: SalesforceClient, salesforce_sandbox: Any
):
    salesforce_sandbox.faults.add("lose_response", count=1, method="POST", path="/sobjects/Lead")

    with pytest.raises(OutcomeUnknown):
        client.create("Lead", new_lead(Email="lost@example.com"))

    # Not repeated: exactly one record, which the caller can find by its email.
    assert salesforce_sandbox.org.count("Lead") == 1
    found = client.lookup("Lead", "Email", ["LOST@example.com"], ["Id"])
    assert len(found["lost@example.com"]) == 1


def test_a_create_whose_connection_drops_is_not_repeated_blindly(
    client: SalesforceClient, salesforce_sandbox: Any
):
    salesforce_sandbox.faults.add("drop_connection", count=1, method="POST", path="/sobjects/Lead")

    with pytest.raises(OutcomeUnknown):
        client.create("Lead", new_lead())

    # The request had left this machine, so the client cannot know whether it was saved and
    # does not send it again. (This sandbox fault drops it unsaved: the caller's look-up finds
    # nothing and it can create the record safely.)
    assert len(calls_to(salesforce_sandbox, "/sobjects/Lead")) == 1
    assert salesforce_sandbox.org.count("Lead") == 0


def test_an_update_whose_answer_is_lost_is_repeated(
    client: SalesforceClient, salesforce_sandbox: Any
):
    lead_id = client.create("Lead", new_lead())
    salesforce_sandbox.faults.add("lose_response", count=1, method="PATCH")

    client.update("Lead", lead_id, {"LastName": "Idempotent"})

    assert salesforce_sandbox.org.get("Lead", lead_id, None, "62.0")["LastName"] == "Idempotent"


def test_an_unreachable_server_is_a_network_error_after_bounded_retries(
    credentials: Any, unused_tcp_port: int
):
    credentials.instance_url = f"https://127.0.0.1:{unused_tcp_port}"
    client = SalesforceClient(credentials)

    with pytest.raises(NetworkError) as caught:
        client.create("Lead", new_lead())

    # Never sent, so even a create may be retried (and then reported as a network error).
    assert caught.value.error_code == "CONNECTION_FAILED"
    assert client.api_calls == 0


def test_a_create_that_times_out_is_outcome_unknown_and_the_record_exists(
    credentials: Any, salesforce_sandbox: Any
):
    client = SalesforceClient(credentials, timeout=(2.0, 0.2))
    salesforce_sandbox.faults.add(
        "latency", latency_ms=600, count=1, method="POST", path="/sobjects/Lead"
    )

    with pytest.raises(OutcomeUnknown):
        client.create("Lead", new_lead(Email="slow@example.com"))

    # The sandbox finishes the save after the client stopped waiting; nothing was resent.
    wait_for(lambda: calls_to(salesforce_sandbox, "/sobjects/Lead"))
    assert len(calls_to(salesforce_sandbox, "/sobjects/Lead")) == 1
    assert salesforce_sandbox.org.count("Lead") == 1


def test_a_query_that_times_out_once_is_repeated(credentials: Any, salesforce_sandbox: Any):
    client = SalesforceClient(credentials, timeout=(2.0, 0.2))
    salesforce_sandbox.faults.add("latency", latency_ms=600, count=1, path="/query")

    assert client.query("SELECT Id FROM Lead")["totalSize"] == 0
    # The slow first attempt is logged when the sandbox finishes it.
    wait_for(lambda: len(calls_to(salesforce_sandbox, "/query")) >= 2)
    assert len(calls_to(salesforce_sandbox, "/query")) == 2


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_backoff_is_full_jitter_under_an_exponential_cap(settings: Any):
    settings.WAGTAIL_SALESFORCE = {"RETRY_BACKOFF_SECONDS": 0.5, "RETRY_BACKOFF_MAX_SECONDS": 3.0}
    for retry, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        delays = [retry_delay(retry) for _ in range(200)]
        assert all(0.0 <= delay <= cap for delay in delays)
        assert max(delays) > cap / 2  # spread over the whole window, not a fixed delay
