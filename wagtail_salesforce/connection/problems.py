"""Why a site's connection cannot be used, in the words the connection panel shows.

The panel, "Sync now" and a sync cycle that cannot start all say the same sentence, so an
administrator reads one explanation wherever they meet the problem.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from wagtail_salesforce.exceptions import ApiDisabledForOrg

from .models import ConnectionStatus, SalesforceConnection

# ``status_detail`` of a connection whose org answered API_DISABLED_FOR_ORG: OAuth worked (the
# site is connected) but the org's edition has no API access, so every call is refused.
API_DISABLED_DETAIL = "API_DISABLED_FOR_ORG"


def mark_api_disabled(connection: SalesforceConnection) -> None:
    """Remember that the org refused the API, so the panel and the health panel say why."""
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.ERROR, status_detail=API_DISABLED_DETAIL
    )
    connection.status = ConnectionStatus.ERROR
    connection.status_detail = API_DISABLED_DETAIL


def clear_api_disabled(connection: SalesforceConnection) -> None:
    """The org answered an API call: it has API access (again)."""
    cleared = SalesforceConnection.objects.filter(
        pk=connection.pk, status_detail=API_DISABLED_DETAIL
    ).update(status=ConnectionStatus.CONNECTED, status_detail="")
    if cleared:
        connection.status = ConnectionStatus.CONNECTED
        connection.status_detail = ""


def api_disabled_explanation() -> str:
    """Why an org without API access cannot be used, and the fix (one sentence everywhere)."""
    return str(ApiDisabledForOrg.explanation)


def explain_status_detail(connection: SalesforceConnection) -> str:
    """A sentence for the stored ``status_detail`` of an error or needs-re-authorisation state."""
    detail = connection.status_detail
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        return _(
            "Salesforce no longer accepts this site's refresh token (it expired under the "
            "connected app's refresh token policy, or was revoked). Click Connect to "
            "authorise again."
        )
    if detail == API_DISABLED_DETAIL:
        return api_disabled_explanation()
    if detail == "no_refresh_token":
        return _(
            "Salesforce did not issue a refresh token, so the connection will stop when the "
            'session times out. Add "Perform requests at any time (refresh_token, '
            "offline_access)\" to the connected app's scopes, then click Connect."
        )
    if detail.startswith("invalid_client"):
        return _(
            "Salesforce rejected the consumer key or secret while refreshing the access token. "
            "Paste them again from the connected app and save."
        )
    if detail:
        return _("Salesforce reported: %(detail)s") % {"detail": detail}
    return ""


def connection_problem(connection: SalesforceConnection | None) -> str | None:
    """Why ``connection`` cannot talk to Salesforce now, with the fix; None when it can.

    An error state is not a problem here: it may be passing (a network failure while
    refreshing), so the next call is allowed to try.
    """
    if connection is None or not (
        connection.login_url
        and connection.effective_consumer_key
        and connection.has_consumer_secret
    ):
        return _(
            "Salesforce is not configured for this site: enter the login URL, consumer key and "
            "consumer secret under Settings → Salesforce, save, then click Connect."
        )
    if not connection.enabled:
        return _(
            "Salesforce is paused for this site: untick “Pause Salesforce for this site” under "
            "Settings → Salesforce."
        )
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        return explain_status_detail(connection)
    if not connection.has_tokens:
        return _(
            "This site is not connected to Salesforce: click Connect under Settings → Salesforce."
        )
    return None
