"""Delivery under the API budget: at the budget entries pause (no call, no attempt spent), and
they are all delivered, once each, when the limit's window frees calls or the budget is raised.
Usage that other integrations spend (the sandbox's ``api_usage`` lever) counts."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from wagtail.models import Site

from tests.outbox.conftest import leads_with_email, make_entry
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.exceptions import BudgetExhausted
from wagtail_salesforce.health import WarningCode, site_health
from wagtail_salesforce.outbox.delivery import sweep
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

LIMIT = 1000  # the default budget (50 %) is 500


@pytest.fixture
def spent_budget(site: Site, connection: SalesforceConnection, sandbox: Any) -> Any:
    """Other integrations have spent the plugin's whole budget; the sweeper's usage reading
    (one /limits call, as after an earlier answer) knows it."""
    sandbox.set_daily_limit(LIMIT)
    sandbox.add_api_usage(500)
    client_for(site).limits()
    return sandbox


def _entries(site: Site, count: int) -> list[OutboxEntry]:
    return [
        make_entry(site, "lead-match", email=f"budget{n}@example.com", last_name=f"B{n}")
        for n in range(count)
    ]


def _limits_calls(sandbox: Any) -> int:
    return sum(1 for call in sandbox.calls if call["path"].endswith("/limits"))


def _age_the_usage_reading(connection: SalesforceConnection, minutes: float) -> None:
    """As if the last usage reading were ``minutes`` old (the sweeper runs every minute)."""
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        org_api_usage_at=timezone.now() - datetime.timedelta(minutes=minutes)
    )


def _assert_delivered_once(sandbox: Any, entries: list[OutboxEntry]) -> None:
    for entry in entries:
        entry.refresh_from_db()
        assert entry.state == OutboxState.DELIVERED, (entry.pk, entry.last_error_code)
        assert len(leads_with_email(sandbox, entry.form_data["email"])) == 1


def test_at_the_budget_delivery_pauses_without_a_call_or_an_attempt(
    site: Site, connection: SalesforceConnection, spent_budget: Any
) -> None:
    entries = _entries(site, 3)
    used_before = spent_budget.api_calls_used()

    sweep()

    for entry in entries:
        entry.refresh_from_db()
        assert entry.state == OutboxState.PAUSED
        assert entry.attempts == 0
        assert entry.last_error_code == BudgetExhausted.code
    assert spent_budget.api_calls_used() == used_before
    assert spent_budget.org.count("Lead") == 0
    health = site_health(site)
    assert health.budget_paused_entries == 3 and health.api_budget == 500
    assert WarningCode.API_BUDGET_REACHED in {warning.code for warning in health.warnings}


def test_paused_entries_are_delivered_when_the_window_frees_calls(
    site: Site, connection: SalesforceConnection, spent_budget: Any
) -> None:
    entries = _entries(site, 3)
    sweep()
    spent_budget.set_api_usage(100)  # the rolling 24 hours moved on

    # The reading is fresh: the sweeper does not spend a call to look again yet.
    sweep()
    assert _limits_calls(spent_budget) == 1
    assert all(e.state == OutboxState.PAUSED for e in OutboxEntry.objects.all())

    _age_the_usage_reading(connection, minutes=11)
    sweep()

    assert _limits_calls(spent_budget) == 2
    _assert_delivered_once(spent_budget, entries)
    assert not OutboxEntry.objects.filter(state=OutboxState.DEAD).exists()


def test_a_stale_reading_that_still_says_spent_keeps_the_entries_paused(
    site: Site, connection: SalesforceConnection, spent_budget: Any
) -> None:
    entries = _entries(site, 2)
    sweep()
    _age_the_usage_reading(connection, minutes=11)

    sweep()  # reads the usage again (1 call): still at the budget

    assert _limits_calls(spent_budget) == 2
    for entry in entries:
        entry.refresh_from_db()
        assert entry.state == OutboxState.PAUSED and entry.attempts == 0
    sweep()  # the new reading is fresh: no further call
    assert _limits_calls(spent_budget) == 2


def test_raising_the_budget_resumes_delivery_on_the_next_sweep(
    site: Site, connection: SalesforceConnection, spent_budget: Any, settings: Any
) -> None:
    entries = _entries(site, 3)
    sweep()
    assert all(e.state == OutboxState.PAUSED for e in OutboxEntry.objects.all())

    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "API_BUDGET_PERCENT": 70.0}
    sweep()

    _assert_delivered_once(spent_budget, entries)
    assert _limits_calls(spent_budget) == 1  # no re-read was needed
    assert spent_budget.api_calls_used() <= 700


def test_a_budget_reached_mid_delivery_keeps_what_was_written_and_finishes_later(
    site: Site, connection: SalesforceConnection, sandbox: Any, settings: Any
) -> None:
    sandbox.set_daily_limit(LIMIT)
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "API_BUDGET_CALLS": 2}
    (entry,) = _entries(site, 1)

    # The describe, then the batch's look-ups (campaign and match in one call): the budget of 2
    # is spent before the write call.
    sweep()

    entry.refresh_from_db()
    assert entry.state == OutboxState.PAUSED and entry.attempts == 0
    assert sandbox.api_calls_used() == 2

    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "API_BUDGET_CALLS": None}
    sweep()

    _assert_delivered_once(sandbox, [entry])
    entry.refresh_from_db()
    assert entry.campaign_member_id
