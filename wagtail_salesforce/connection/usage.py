"""The org's API usage as stored for a connection, the budget state it gives, and re-reading it.

The client writes the org-wide usage of every answer's ``Sforce-Limit-Info`` onto the connection
(``org_api_requests_used``, ``org_api_requests_max``, ``org_api_usage_at``). While the budget
holds work back nothing may be calling, so nothing would ever notice the limit's rolling window
freeing calls: :func:`refresh_if_held_back` then re-reads the usage with one ``GET /limits``
(a counted call) when the stored reading is older than ``API_USAGE_CHECK_MINUTES``. The outbox
sweeper and the sync's schedule call it; it costs nothing while nothing is held back.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from wagtail_salesforce import conf
from wagtail_salesforce.client import BudgetState, budget_state
from wagtail_salesforce.exceptions import SalesforceError
from wagtail_salesforce.observability import get_logger

from .credentials import client_for
from .models import SalesforceConnection

logger = get_logger(__name__)


def connection_budget(connection: SalesforceConnection | None) -> BudgetState:
    """The budget state of ``connection``'s stored usage (settings as they are now)."""
    usage = connection.stored_api_usage() if connection is not None else None
    return budget_state(*usage) if usage is not None else budget_state(None, None)


def site_budget(site_id: int) -> BudgetState:
    return connection_budget(SalesforceConnection.objects.filter(site_id=site_id).first())


def _check_interval() -> datetime.timedelta:
    return datetime.timedelta(minutes=conf.get_number("API_USAGE_CHECK_MINUTES", positive=True))


def refresh_if_held_back(
    site_id: int, priority: str, *, now: datetime.datetime | None = None
) -> BudgetState:
    """The site's budget state, after re-reading the org's usage if the budget holds back
    work of ``priority`` (``DELIVERY`` or ``SYNC``) and the stored reading is older than
    ``API_USAGE_CHECK_MINUTES`` (one ``/limits`` call).

    A failed re-read is logged and the stored state returned: the work stays held back.
    """
    now = now or timezone.now()
    connection = SalesforceConnection.objects.filter(site_id=site_id).first()
    state = connection_budget(connection)
    if connection is None or state.allows(priority):
        return state
    read_at = connection.org_api_usage_at
    if read_at is not None and now - read_at < _check_interval():
        return state
    try:
        limits = client_for(site_id).limits()
    except SalesforceError as error:
        logger.warning("Re-reading the API usage of site %s failed: %s", site_id, error)
        return state
    daily = limits.get("DailyApiRequests") or {}
    maximum = int(daily.get("Max") or 0)
    if maximum:
        used = max(0, maximum - int(daily.get("Remaining") or 0))
        SalesforceConnection.objects.filter(pk=connection.pk).update(
            org_api_requests_used=used, org_api_requests_max=maximum, org_api_usage_at=now
        )
        state = budget_state(used, maximum)
        logger.info(
            "API usage of site %s re-read: %s of %s (budget %s, %s)",
            site_id,
            used,
            maximum,
            state.budget,
            state.stage,
        )
    return state
