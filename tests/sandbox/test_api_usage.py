"""The org's API usage as other integrations spend it: ``/__sandbox__/api_usage`` adds calls
(``{"add": N}``) or sets the count (``{"used": N}``, the rolling window freeing calls), and every
REST answer's ``Sforce-Limit-Info`` and ``/limits`` report the new count."""

from __future__ import annotations

from typing import Any

import requests

from .conftest import RawApi, assert_error


def _control(sandbox: Any) -> str:
    return f"{sandbox.login_url}/__sandbox__/api_usage"


def test_calls_spent_elsewhere_show_in_every_answer(salesforce_sandbox: Any) -> None:
    api = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    salesforce_sandbox.set_daily_limit(1000)

    added = requests.post(_control(salesforce_sandbox), json={"add": 600}, timeout=10)

    assert added.status_code == 200 and added.json() == {"used": 600, "max": 1000}
    answer = api.get("/limits")
    assert answer.headers["Sforce-Limit-Info"] == "api-usage=601/1000"
    assert answer.json()["DailyApiRequests"] == {"Max": 1000, "Remaining": 399}


def test_the_window_freeing_calls_lowers_the_count(salesforce_sandbox: Any) -> None:
    api = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    salesforce_sandbox.set_daily_limit(10)
    salesforce_sandbox.add_api_usage(10)
    assert_error(api.get("/limits"), 403, "REQUEST_LIMIT_EXCEEDED")

    lowered = requests.post(_control(salesforce_sandbox), json={"used": 2}, timeout=10)

    assert lowered.json() == {"used": 2, "max": 10}
    assert api.get("/limits").headers["Sforce-Limit-Info"] == "api-usage=3/10"
    usage = requests.get(_control(salesforce_sandbox), timeout=10)
    assert usage.json() == {"used": 3, "max": 10}


def test_a_malformed_usage_change_is_refused(salesforce_sandbox: Any) -> None:
    for body in ({"add": -1}, {"used": "5"}, {"add": 1, "used": 2}, {}, [1], {"add": True}):
        answer = requests.post(_control(salesforce_sandbox), json=body, timeout=10)
        assert_error(answer, 400, "INVALID_ARGUMENT")
    plain = requests.post(
        _control(salesforce_sandbox), data='{"add": 5}', timeout=10,
        headers={"Content-Type": "text/plain"},
    )
    assert plain.status_code == 415
    assert salesforce_sandbox.api_calls_used() == 0


def test_reset_forgets_what_others_spent(salesforce_sandbox: Any) -> None:
    salesforce_sandbox.add_api_usage(50)
    salesforce_sandbox.reset()
    assert salesforce_sandbox.api_calls_used() == 0
