"""site_health(): what the dashboard shows, and the warnings raised before limits bite."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.utils import timezone
from wagtail.models import Site

from tests.connection.oauth_helpers import default_site
from wagtail_salesforce.admin.health_panel import HealthPanel, add_health_panel
from wagtail_salesforce.config import get_config
from wagtail_salesforce.connection.models import (
    ApiUsageDaily,
    ConnectionStatus,
    SalesforceConnection,
)
from wagtail_salesforce.health import WarningCode, site_health
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import SyncRun, SyncRunStatus

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "example_site" / "salesforce.yaml"
NO_SYNC_CONFIG = """
version: 1
forms:
  lead:
    label: Lead
    object: Lead
    fields:
      LastName: {from: last_name}
      Company: {value: Acme}
"""

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def example_config(settings: Any) -> None:
    """The example site's YAML: sync enabled every 5 minutes."""
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(EXAMPLE_CONFIG)]}
    assert get_config().sync is not None and get_config().sync.interval_minutes == 5


@pytest.fixture
def site() -> Site:
    return default_site()


@pytest.fixture
def connection(site: Site) -> SalesforceConnection:
    now = timezone.now()
    return SalesforceConnection.objects.create(
        site=site,
        enabled=True,
        login_url="https://login.example.com",
        consumer_key="key",
        status=ConnectionStatus.CONNECTED,
        org_api_requests_used=1_200,
        org_api_requests_max=15_000,
        org_api_usage_at=now - datetime.timedelta(minutes=2),
    )


def _entry(site: Site, state: str, age: datetime.timedelta) -> OutboxEntry:
    return OutboxEntry.objects.create(
        site=site,
        mapping_key="landing-lead",
        form_data={"email": "a@example.com"},
        state=state,
        created_at=timezone.now() - age,
    )


def _run(site: Site, age: datetime.timedelta, status: str = SyncRunStatus.SUCCEEDED) -> SyncRun:
    started = timezone.now() - age
    return SyncRun.objects.create(site=site, started_at=started, finished_at=started, status=status)


def _codes(site: Site) -> set[str]:
    return {warning.code for warning in site_health(site).warnings}


def test_a_healthy_connected_site_reports_its_figures_and_no_warning(
    site: Site, connection: SalesforceConnection
) -> None:
    _run(site, datetime.timedelta(minutes=4))
    _entry(site, OutboxState.PENDING, datetime.timedelta(minutes=2))
    _entry(site, OutboxState.DELIVERED, datetime.timedelta(hours=3))
    ApiUsageDaily.add(connection.pk, 37)

    health = site_health(site)

    assert health.ok and health.level == "ok"
    assert health.connection_status == ConnectionStatus.CONNECTED
    assert (health.outbox_backlog, health.dead_letters) == (1, 0)
    assert health.oldest_pending_age is not None
    assert (
        datetime.timedelta(minutes=2) <= health.oldest_pending_age < datetime.timedelta(minutes=3)
    )
    assert health.last_sync_status == SyncRunStatus.SUCCEEDED
    assert health.sync_interval_minutes == 5
    assert (health.api_requests_used, health.api_requests_max, health.api_usage_percent) == (
        1_200,
        15_000,
        8,
    )
    assert health.api_calls_today == 37


def test_api_usage_warns_from_80_percent_and_is_critical_at_the_limit(
    site: Site, connection: SalesforceConnection, settings: Any
) -> None:
    # The org-wide warnings alone: a budget of the whole limit holds nothing back before it.
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "API_BUDGET_PERCENT": 100.0}
    _run(site, datetime.timedelta(minutes=1))
    connection.org_api_requests_used = 11_999
    connection.save()
    assert _codes(site) == set()

    connection.org_api_requests_used = 12_000
    connection.save()
    (warning,) = site_health(site).warnings
    assert (warning.code, warning.level) == (WarningCode.API_USAGE, "warning")
    assert "80%" in str(warning.message)

    connection.org_api_requests_used = 15_000
    connection.save()
    health = site_health(site)
    assert [w.code for w in health.warnings] == [WarningCode.API_LIMIT_REACHED]
    assert health.level == "critical"


def test_usage_recorded_more_than_a_day_ago_is_not_reported_as_today(
    site: Site, connection: SalesforceConnection
) -> None:
    connection.org_api_requests_used = 15_000
    connection.org_api_usage_at = timezone.now() - datetime.timedelta(hours=25)
    connection.save()
    _run(site, datetime.timedelta(minutes=1))

    health = site_health(site)
    assert health.api_usage_ratio is None
    assert health.ok


def test_a_submission_waiting_over_15_minutes_warns(
    site: Site, connection: SalesforceConnection
) -> None:
    _run(site, datetime.timedelta(minutes=1))
    _entry(site, OutboxState.RETRYING, datetime.timedelta(minutes=14))
    assert _codes(site) == set()

    _entry(site, OutboxState.PAUSED, datetime.timedelta(minutes=16))
    (warning,) = site_health(site).warnings
    assert warning.code == WarningCode.OUTBOX_BACKLOG_OLD
    assert "16 minutes" in str(warning.message) and "2 waiting" in str(warning.message)


def test_the_outbox_threshold_comes_from_settings(
    site: Site, connection: SalesforceConnection, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {
        "CONFIG_FILES": [str(EXAMPLE_CONFIG)],
        "HEALTH_OUTBOX_MAX_AGE_MINUTES": 5,
    }
    _run(site, datetime.timedelta(minutes=1))
    _entry(site, OutboxState.PENDING, datetime.timedelta(minutes=6))
    assert _codes(site) == {WarningCode.OUTBOX_BACKLOG_OLD}

    settings.WAGTAIL_SALESFORCE = {"HEALTH_OUTBOX_MAX_AGE_MINUTES": "soon"}
    with pytest.raises(ValueError, match="must be a number"):
        site_health(site)


def test_any_dead_letter_warns_with_the_count(site: Site, connection: SalesforceConnection) -> None:
    _run(site, datetime.timedelta(minutes=1))
    _entry(site, OutboxState.DEAD, datetime.timedelta(days=2))
    _entry(site, OutboxState.DEAD, datetime.timedelta(days=1))

    (warning,) = site_health(site).warnings
    assert warning.code == WarningCode.DEAD_LETTERS
    assert str(warning.message).startswith("2 submissions failed permanently")


def test_sync_older_than_three_intervals_or_never_run_or_failed_warns(
    site: Site, connection: SalesforceConnection
) -> None:
    assert _codes(site) == {WarningCode.SYNC_NEVER_RAN}

    _run(site, datetime.timedelta(minutes=14))
    assert _codes(site) == set()

    SyncRun.objects.all().delete()
    _run(site, datetime.timedelta(minutes=16))
    assert _codes(site) == {WarningCode.SYNC_LATE}

    _run(site, datetime.timedelta(minutes=1), status=SyncRunStatus.FAILED)
    assert _codes(site) == {WarningCode.SYNC_FAILED}


def test_without_a_sync_section_sync_is_not_watched(
    site: Site, connection: SalesforceConnection, settings: Any, tmp_path: Path
) -> None:
    config = tmp_path / "salesforce.yaml"
    config.write_text(NO_SYNC_CONFIG, encoding="utf-8")
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(config)]}

    health = site_health(site)
    assert health.sync_interval_minutes is None
    assert health.ok


def test_an_invalid_config_is_a_critical_warning(
    site: Site, connection: SalesforceConnection, settings: Any, tmp_path: Path
) -> None:
    config = tmp_path / "salesforce.yaml"
    config.write_text("version: 1\nforms: [oops\n", encoding="utf-8")
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(config)]}

    assert _codes(site) == {WarningCode.CONFIG_INVALID}
    assert site_health(site).level == "critical"


def test_a_connection_needing_reauthorisation_is_critical(
    site: Site, connection: SalesforceConnection
) -> None:
    _run(site, datetime.timedelta(minutes=1))
    connection.status = ConnectionStatus.NEEDS_REAUTH
    connection.save()

    health = site_health(site)
    assert [w.code for w in health.warnings] == [WarningCode.CONNECTION]
    assert health.level == "critical"


def test_a_site_without_salesforce_has_nothing_to_warn_about(site: Site) -> None:
    health = site_health(site.pk)
    assert health.connection_status == ConnectionStatus.NOT_CONFIGURED
    assert health.ok and health.outbox_backlog == 0


def test_the_budget_and_what_it_holds_back_are_reported_and_shown(
    site: Site, connection: SalesforceConnection
) -> None:
    _run(site, datetime.timedelta(minutes=30))  # late, but because the sync yields
    connection.org_api_requests_used = 7_600  # past the default budget: 50 % of 15,000
    connection.save()
    OutboxEntry.objects.create(
        site=site,
        mapping_key="landing-lead",
        form_data={"email": "held@example.com"},
        state=OutboxState.PAUSED,
        last_error_code="API_BUDGET_EXHAUSTED",
    )

    health = site_health(site)

    assert (health.api_budget, health.api_budget_percent) == (7_500, 50)
    assert (health.api_budget_stage, health.sync_held_back) == ("exhausted", "yielding")
    assert health.budget_paused_entries == 1
    assert _codes(site) == {WarningCode.API_BUDGET_REACHED, WarningCode.SYNC_YIELDING}
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    request = RequestFactory().get("/admin/")
    request.user = admin
    panels: list[Any] = []
    add_health_panel(request, panels)
    html = panels[0].render_html({"request": request})
    assert 'data-budget-stage="exhausted"' in html
    assert "Usage up to 7500 (50% of the limit)." in html
    assert "Sync is yielding to form delivery." in html
    assert "1 submission waits for the budget." in html


def test_a_slowed_sync_is_shown_without_a_warning(
    site: Site, connection: SalesforceConnection
) -> None:
    _run(site, datetime.timedelta(minutes=1))
    connection.org_api_requests_used = 6_500  # past 80 % of the 7,500 budget
    connection.save()

    health = site_health(site)

    assert health.sync_held_back == "slowed" and health.ok


def test_the_dashboard_panel_shows_figures_and_warnings_to_managers_only(
    site: Site, connection: SalesforceConnection
) -> None:
    _entry(site, OutboxState.DEAD, datetime.timedelta(days=1))
    _run(site, datetime.timedelta(minutes=2))
    user_model = get_user_model()
    admin = user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    editor = user_model.objects.create_user("editor", "editor@example.com", "pw")

    request = RequestFactory().get("/admin/")
    request.user = editor
    panels: list[Any] = []
    add_health_panel(request, panels)
    assert panels == []

    request.user = admin
    add_health_panel(request, panels)
    (panel,) = panels
    assert isinstance(panel, HealthPanel)
    html = panel.render_html({"request": request})
    assert 'id="salesforce-health"' in html
    assert 'data-warning="dead_letters"' in html
    assert "1200 of 15000 (8%)" in html
    assert "Connected" in html


def test_the_panel_renders_on_the_wagtail_dashboard_through_the_hook(
    site: Site, connection: SalesforceConnection, client: Any
) -> None:
    from wagtail import hooks

    _entry(site, OutboxState.PAUSED, datetime.timedelta(minutes=40))
    _run(site, datetime.timedelta(minutes=2))
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)

    with hooks.register_temporarily("construct_homepage_panels", add_health_panel):
        response = client.get("/admin/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="salesforce-health"' in html
    assert 'data-warning="outbox_backlog_old"' in html
    assert "A submission has waited 40 minutes for delivery (1 waiting)." in html
