"""Keeping each connected site's cached describes fresh (the background task's work)."""

from __future__ import annotations

import logging

from wagtail_salesforce.config import ConfigError, get_config
from wagtail_salesforce.config.metadata import refresh_describes
from wagtail_salesforce.config.online import ClientOrgMetadata
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.exceptions import SalesforceError

logger = logging.getLogger(__name__)


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
                site_id, config, ClientOrgMetadata(client).describe
            )
        except SalesforceError as error:
            logger.warning("Describes for site %s not refreshed: %s", site_id, error)
    return refreshed
