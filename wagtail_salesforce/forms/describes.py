"""Keeping each connected site's cached describes fresh (the background task's work)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.config import ConfigError, get_config
from wagtail_salesforce.config.metadata import refresh_describes
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.exceptions import NotFound, SalesforceError

logger = logging.getLogger(__name__)


def _current_describe(client: SalesforceClient) -> Callable[[str], dict[str, Any] | None]:
    """The org's describe now, not the process's copy of it (which is revalidated only every
    few minutes): an unchanged object costs one call answered 304."""

    def describe(sobject: str) -> dict[str, Any] | None:
        try:
            return client.describe(sobject, refresh=True)
        except NotFound:
            return None  # an object the org lacks: salesforce_check reports it

    return describe


def refresh_all_sites() -> dict[int, list[str]]:
    """Re-read the mapped objects' describes for every connected site; a site whose org
    cannot be asked keeps its last describes (logged once, retried next run)."""
    try:
        config = get_config()
    except ConfigError:
        return {}
    if not config.forms:
        return {}
    refreshed: dict[int, list[str]] = {}
    for site_id in SalesforceConnection.objects.values_list("site_id", flat=True):
        try:
            client = client_for(site_id)
            refreshed[site_id] = refresh_describes(
                site_id,
                config,
                _current_describe(client),
                picklist_values=client.picklist_values,
            )
        except SalesforceError as error:
            logger.warning("Describes for site %s not refreshed: %s", site_id, error)
    return refreshed
