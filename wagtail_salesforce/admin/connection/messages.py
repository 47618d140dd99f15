"""What went wrong while connecting, in words an administrator can act on (cause + fix)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from wagtail_salesforce.connection.crypto import SecretUnreadable
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.exceptions import NetworkError, OAuthError, TLSVerificationFailed


def explain_state_problem() -> str:
    return _(
        "The connection attempt expired or was started in another browser session. "
        "Click Connect to try again."
    )


def explain_oauth_error(error: str, description: str, connection: SalesforceConnection) -> str:
    """Cause and fix for an OAuth ``error`` code, from the authorize redirect or the token call."""
    login = connection.login_url
    callback = connection.callback_url()
    if error in ("access_denied", "access-denied"):
        message = _(
            "You clicked Deny on Salesforce's page, so nothing was connected. "
            "Click Connect to try again and choose Allow."
        )
    elif error == "invalid_client":
        message = _(
            "Salesforce rejected the consumer secret. Paste it again from the connected app "
            "(Manage Consumer Details), save, then click Connect."
        )
    elif error == "invalid_client_id":
        message = _(
            "Salesforce at %(login)s does not know this consumer key. Check the consumer key, and "
            "that the login URL points to the org of the connected app (production or sandbox), "
            "then click Connect. A new connected app can take up to 10 minutes to become "
            "available."
        ) % {"login": login}
    elif error == "redirect_uri_mismatch":
        message = _(
            "The callback URL is not registered on the connected app. Add %(callback)s to its "
            "Callback URL list exactly as shown, save, then click Connect."
        ) % {"callback": callback}
    elif error == "invalid_grant":
        message = _(
            "The authorization code expired or was already used. Click Connect to try again."
        )
    elif error == "invalid_request" and "verifier" in description.lower():
        message = _(
            "Salesforce rejected the PKCE code verifier. Click Connect to try again; if it keeps "
            "failing, check that nothing between the browser and this site drops the session "
            "cookie."
        )
    elif error == "invalid_request" and "challenge" in description.lower():
        message = _(
            "The connected app requires PKCE and the request had no valid code challenge. "
            "Click Connect to try again."
        )
    elif error == "invalid_scope":
        message = _(
            'The connected app does not allow the scopes this site asks for. Add "Manage user '
            'data via APIs (api)" and "Perform requests at any time (refresh_token, '
            'offline_access)" to its Selected OAuth Scopes, then click Connect.'
        )
    elif error == "invalid_signature":
        message = _(
            "The token answer's signature did not match the consumer secret. Check the consumer "
            "secret and the login URL, then click Connect."
        )
    elif error == "login_host_not_allowed":
        return _(
            "The login URL %(login)s is not a Salesforce login host, so the consumer secret is "
            "not sent there. Use https://login.salesforce.com, https://test.salesforce.com or "
            "your My Domain URL, or list the host in WAGTAIL_SALESFORCE['ALLOWED_LOGIN_HOSTS']."
        ) % {"login": login}
    elif error == "no_code":
        message = _(
            "Salesforce sent the browser back without an authorization code. If Salesforce showed "
            "an error about the redirect URI, add %(callback)s to the connected app's Callback "
            "URL list. Then click Connect."
        ) % {"callback": callback}
    else:
        message = _(
            "Salesforce answered “%(error)s”. Check the connected app's settings, then "
            "click Connect to try again."
        ) % {"error": error}
    if description:
        message += " " + _("(Salesforce said: %(description)s)") % {"description": description}
    return message


def explain_exception(error: Exception, connection: SalesforceConnection) -> str:
    if isinstance(error, OAuthError):
        return explain_oauth_error(error.error, error.description, connection)
    if isinstance(error, SecretUnreadable):
        return _(
            "The stored consumer secret or tokens cannot be decrypted with the configured "
            "encryption keys. Enter the consumer secret again and save (or restore the old key "
            "in WAGTAIL_SALESFORCE['OLD_ENCRYPTION_KEYS']), then click Connect."
        )
    if isinstance(error, TLSVerificationFailed):
        return _(
            "The TLS certificate of %(login)s is not trusted by this server. Check the login URL, "
            "or set WAGTAIL_SALESFORCE['CA_FILE'] to the CA bundle to trust."
        ) % {"login": connection.login_url}
    if isinstance(error, NetworkError):
        return _(
            "Could not reach %(login)s. Check the login URL and that this server can make "
            "outgoing HTTPS connections to it, then click Connect."
        ) % {"login": connection.login_url}
    return _("Connecting failed unexpectedly. Click Connect to try again.")
