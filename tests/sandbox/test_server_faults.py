"""Injected faults, each observably doing what it says, and the HTTP control API."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.faults import FaultSpecError

from .conftest import RawApi, assert_error

LEAD = {"LastName": "Ng", "Company": "Acme"}


def test_latency_delays_only_the_matching_calls(api: RawApi, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.faults.add("latency", latency_ms=300, count=1, path=r"/limits$")
    started = time.monotonic()
    assert api.get("/limits").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert api.get("/limits").status_code == 200
    assert time.monotonic() - started < 0.3


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("http_500", 500, "UNKNOWN_EXCEPTION"),
    ("http_503", 503, "SERVER_UNAVAILABLE"),
    ("request_limit_exceeded", 403, "REQUEST_LIMIT_EXCEEDED"),
    ("unable_to_lock_row", 400, "UNABLE_TO_LOCK_ROW"),
])
def test_error_faults_answer_without_doing_the_work(
    api: RawApi, salesforce_sandbox: Any, kind: str, status: int, code: str
) -> None:
    salesforce_sandbox.faults.add(kind, count=1, method="POST")
    assert_error(api.post("/sobjects/Lead/", json=LEAD), status, code)
    assert salesforce_sandbox.org.count("Lead") == 0
    assert api.post("/sobjects/Lead/", json=LEAD).status_code == 201
    assert salesforce_sandbox.org.count("Lead") == 1


def test_drop_connection_closes_before_doing_the_work(api: RawApi, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.faults.add("drop_connection", count=1)
    with pytest.raises(requests.ConnectionError):
        api.post("/sobjects/Lead/", json=LEAD)
    assert salesforce_sandbox.org.count("Lead") == 0
    assert salesforce_sandbox.api_calls_used() == 0


def test_lose_response_commits_the_work_then_drops_the_connection(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    salesforce_sandbox.faults.add("lose_response", count=1, path=r"/sobjects/Lead/?$")
    with pytest.raises(requests.ConnectionError):
        api.post("/sobjects/Lead/", json=LEAD)
    assert salesforce_sandbox.org.count("Lead") == 1
    logged = salesforce_sandbox.calls[-1]
    assert logged["counted_as_api_call"] is True and logged["status"] is None


def test_expire_session_really_expires_the_token(api: RawApi, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.faults.add("expire_session", count=1)
    assert_error(api.get("/limits"), 401, "INVALID_SESSION_ID")
    assert_error(api.get("/limits"), 401, "INVALID_SESSION_ID")  # the fault is spent, token gone
    fresh = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    assert fresh.get("/limits").status_code == 200


def test_rate_faults_are_reproducible_with_the_seeded_rng(
    api: RawApi, salesforce_sandbox: Any
) -> None:
    def run() -> list[int]:
        salesforce_sandbox.faults.clear()
        salesforce_sandbox.faults.add("http_503", rate=0.5, path=r"/limits$")
        return [api.get("/limits").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(503) < 30
    assert set(first) == {200, 503}


def test_method_and_path_restrict_a_fault(api: RawApi, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.faults.add("http_500", method="PATCH", path=r"/sobjects/Lead/")
    lead_id = api.post("/sobjects/Lead/", json=LEAD).json()["id"]
    assert api.get(f"/sobjects/Lead/{lead_id}").status_code == 200
    assert_error(api.patch(f"/sobjects/Lead/{lead_id}", json={"Title": "x"}), 500,
                 "UNKNOWN_EXCEPTION")


def test_bad_fault_descriptions_are_refused(salesforce_sandbox: Any) -> None:
    with pytest.raises(FaultSpecError):
        salesforce_sandbox.faults.add("meteor_strike")
    with pytest.raises(FaultSpecError):
        salesforce_sandbox.faults.add("http_500", rate=1.5)
    with pytest.raises(FaultSpecError):
        salesforce_sandbox.faults.add("latency")


def test_control_api_adds_lists_and_clears_faults(api: RawApi, salesforce_sandbox: Any) -> None:
    control = f"{salesforce_sandbox.login_url}/__sandbox__/faults"
    added = requests.post(control, json={"kind": "http_503", "count": 1}, timeout=10)
    assert added.status_code == 201 and added.json()["kind"] == "http_503"
    assert [f["kind"] for f in requests.get(control, timeout=10).json()] == ["http_503"]
    assert_error(api.get("/limits"), 503, "SERVER_UNAVAILABLE")
    assert requests.get(control, timeout=10).json() == []  # a spent count fault is gone
    requests.post(control, json={"kind": "http_500"}, timeout=10)
    assert requests.delete(control, json={}, timeout=10).status_code == 204
    assert api.get("/limits").status_code == 200
    refused = requests.post(control, json={"kind": "nope"}, timeout=10)
    assert refused.status_code == 400


def test_control_api_lives_on_the_login_host_only(api: RawApi) -> None:
    response = api.session.get(f"{api.sandbox.instance_url}/__sandbox__/faults", timeout=10)
    assert response.status_code == 404


def test_call_log_and_reset_through_http(api: RawApi, salesforce_sandbox: Any) -> None:
    api.get("/limits")
    calls = requests.get(f"{salesforce_sandbox.login_url}/__sandbox__/calls", timeout=10).json()
    assert calls[-1]["path"].endswith("/limits")
    assert {"method", "path", "status", "counted_as_api_call", "time"} <= set(calls[-1])
    api.post("/sobjects/Lead/", json=LEAD)
    reset = requests.post(f"{salesforce_sandbox.login_url}/__sandbox__/reset", json={},
                          timeout=10)
    assert reset.status_code == 204
    assert salesforce_sandbox.org.count("Lead") == 0
    assert salesforce_sandbox.calls == [] and salesforce_sandbox.api_calls_used() == 0
