"""The API budget against the org-wide usage the sandbox reports in ``Sforce-Limit-Info``:
calls past it are held back before they are sent, the sync yields before delivery, and what
other integrations spend counts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client.conftest import SandboxCredentials, calls_to, new_lead
from wagtail_salesforce.client import (
    PROBE,
    SYNC,
    SalesforceClient,
    Stage,
    api_priority,
    budget_state,
    bulk_threshold,
)
from wagtail_salesforce.client.budget import BULK_BREAK_EVEN_RECORDS
from wagtail_salesforce.exceptions import ApiLimitExceeded, BudgetExhausted, OutcomeUnknown

LIMIT = 1000  # with the default API_BUDGET_PERCENT (50): a budget of 500, sync up to 475


@pytest.fixture
def org_limit(salesforce_sandbox: Any) -> Any:
    salesforce_sandbox.set_daily_limit(LIMIT)
    return salesforce_sandbox


def test_a_call_that_would_pass_the_budget_is_not_sent(
    credentials: SandboxCredentials, org_limit: Any
) -> None:
    client = SalesforceClient(credentials)
    org_limit.set_api_usage(498)
    client.create("Lead", new_lead())  # 499 after it: still below the budget
    client.create("Lead", new_lead())  # 500: the budget

    with pytest.raises(BudgetExhausted) as caught:
        client.create("Lead", new_lead())

    assert isinstance(caught.value, ApiLimitExceeded)
    assert caught.value.error_code == "API_BUDGET_EXHAUSTED"
    assert caught.value.used == 500 and caught.value.budget == 500
    assert len(calls_to(org_limit, "/sobjects/Lead")) == 2
    assert org_limit.api_calls_used() == 500
    assert org_limit.org.count("Lead") == 2


def test_a_call_whose_answer_was_lost_counts_against_the_budget(
    credentials: SandboxCredentials, org_limit: Any
) -> None:
    client = SalesforceClient(credentials)
    org_limit.set_api_usage(498)
    client.query("SELECT Id FROM Lead LIMIT 1")  # 499, as its answer says
    org_limit.faults.add("lose_response", count=1, path=r"/sobjects/Lead/?$")

    with pytest.raises(OutcomeUnknown):
        client.create("Lead", new_lead())  # Salesforce counted it (500); its answer never came
    with pytest.raises(BudgetExhausted):
        client.query("SELECT Id FROM Lead LIMIT 1")
    # The assumed usage is kept on the connection: the next worker's client starts from it.
    assert credentials.usage_reports[-1] == (500, LIMIT)
    with pytest.raises(BudgetExhausted):
        SalesforceClient(credentials, api_usage=credentials.usage_reports[-1]).query(
            "SELECT Id FROM Lead LIMIT 1"
        )

    assert org_limit.api_calls_used() == 500  # never past the budget


def test_what_other_integrations_spend_counts_against_the_budget(
    credentials: SandboxCredentials, org_limit: Any
) -> None:
    client = SalesforceClient(credentials)
    client.query("SELECT Id FROM Lead LIMIT 1")  # usage 1: far below the budget
    org_limit.add_api_usage(600)  # another integration's afternoon
    client.query("SELECT Id FROM Lead LIMIT 1")  # sent on the old reading; its answer says 602

    with pytest.raises(BudgetExhausted):
        client.query("SELECT Id FROM Lead LIMIT 1")
    assert len(calls_to(org_limit, "/query")) == 2
    assert client.budget.state().stage is Stage.EXHAUSTED


def test_the_sync_yields_before_delivery(credentials: SandboxCredentials, org_limit: Any) -> None:
    org_limit.set_api_usage(480)  # between the sync's ceiling (475) and the budget (500)
    client = SalesforceClient(credentials, api_usage=(480, LIMIT))

    with api_priority(SYNC), pytest.raises(BudgetExhausted) as caught:
        client.query("SELECT Id FROM Lead LIMIT 1")
    assert caught.value.priority == SYNC and caught.value.budget == 475
    assert calls_to(org_limit, "/query") == []

    client.create("Lead", new_lead())  # delivery still spends
    assert org_limit.org.count("Lead") == 1


def test_a_bulk_job_the_sync_started_is_finished_past_the_syncs_share(
    credentials: SandboxCredentials, org_limit: Any
) -> None:
    org_limit.set_api_usage(474)  # one call below the sync's ceiling (475)
    client = SalesforceClient(credentials, api_usage=(474, LIMIT))

    with api_priority(SYNC):
        results = client.bulk_ingest("Lead", "insert", [new_lead(), new_lead()])
        with pytest.raises(BudgetExhausted):
            client.bulk_ingest("Lead", "insert", [new_lead()])  # a new job is not started

    assert [result.success for result in results] == [True, True]
    assert org_limit.org.count("Lead") == 2
    assert len(calls_to(org_limit, "/jobs/ingest")) > 1  # upload, close, polls, results
    assert org_limit.api_calls_used() <= 500


def test_reading_the_limits_is_never_held_back(
    credentials: SandboxCredentials, org_limit: Any
) -> None:
    org_limit.set_api_usage(700)
    client = SalesforceClient(credentials, api_usage=(700, LIMIT))

    limits = client.limits()

    assert limits["DailyApiRequests"] == {"Max": LIMIT, "Remaining": LIMIT - 701}
    assert client.budget.state().used == 701


def test_an_absolute_budget_wins_over_the_percentage(
    credentials: SandboxCredentials, org_limit: Any, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "API_BUDGET_CALLS": 800}
    org_limit.set_api_usage(700)
    client = SalesforceClient(credentials, api_usage=(700, LIMIT))

    client.create("Lead", new_lead())  # the 50 % budget would refuse this

    assert org_limit.org.count("Lead") == 1
    assert client.budget.state().budget == 800


def test_raising_the_budget_lets_held_back_calls_through(
    credentials: SandboxCredentials, org_limit: Any, settings: Any
) -> None:
    org_limit.set_api_usage(500)
    client = SalesforceClient(credentials, api_usage=(500, LIMIT))
    with pytest.raises(BudgetExhausted):
        client.create("Lead", new_lead())

    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "API_BUDGET_PERCENT": 60.0}
    client.create("Lead", new_lead())

    assert org_limit.org.count("Lead") == 1


def test_stages_follow_the_share_of_the_budget(settings: Any) -> None:
    assert budget_state(None, None).stage is Stage.UNKNOWN
    assert budget_state(399, LIMIT).stage is Stage.NORMAL
    assert budget_state(400, LIMIT).stage is Stage.SLOW  # 80 % of 500
    assert budget_state(475, LIMIT).stage is Stage.YIELD  # 95 % of 500
    assert budget_state(500, LIMIT).stage is Stage.EXHAUSTED
    assert budget_state(500, LIMIT).allows(PROBE)
    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "API_BUDGET_SYNC_SLOW_PERCENT": 50.0,
        "API_BUDGET_SYNC_YIELD_PERCENT": 60.0,
    }
    assert budget_state(250, LIMIT).stage is Stage.SLOW
    assert budget_state(300, LIMIT).stage is Stage.YIELD


def test_the_sync_prefers_bulk_only_while_held_back() -> None:
    assert bulk_threshold(10_000, budget_state(100, LIMIT)) == 10_000
    assert bulk_threshold(10_000, budget_state(450, LIMIT)) == BULK_BREAK_EVEN_RECORDS
    assert bulk_threshold(2_000, budget_state(450, LIMIT)) == 2_000
