"""Settings → Salesforce: the per-Site panel, Connect, the OAuth callback, Test, Disconnect.

Every view requires the connection policy's permission (``admin/permissions.py``: "manage the
Salesforce connection"; superusers have it) and answers 403 otherwise, the callback included.
Wagtail wraps admin URLs in its own "may use the admin" check first, so an anonymous visitor is
sent to the login page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from wagtail.admin import messages
from wagtail.log_actions import log
from wagtail.models import Site

from wagtail_salesforce.admin.sites import request_site
from wagtail_salesforce.connection import service
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.connection.crypto import SecretUnreadable
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection
from wagtail_salesforce.connection.problems import (
    api_disabled_explanation,
    clear_api_disabled,
    explain_status_detail,
    mark_api_disabled,
)
from wagtail_salesforce.exceptions import (
    ApiDisabledForOrg,
    NetworkError,
    NotConnected,
    OAuthError,
    ReauthorizationRequired,
    SalesforceError,
    TLSVerificationFailed,
)
from wagtail_salesforce.observability import get_logger, untrusted

from ..permissions import manage_permission_required
from .access import access_problems
from .forms import (
    PRODUCTION_LOGIN_URL,
    SANDBOX_LOGIN_URL,
    ConnectionSettingsForm,
    url_needs_https_warning,
)
from .messages import (
    explain_exception,
    explain_oauth_error,
    explain_state_problem,
)

logger = get_logger(__name__)

# Wagtail's status tag, coloured by what the state asks of the administrator (admin.css).
STATUS_TONES = {
    ConnectionStatus.CONNECTED: "success",
    ConnectionStatus.NEEDS_REAUTH: "warning",
    ConnectionStatus.ERROR: "critical",
    ConnectionStatus.NOT_CONNECTED: "default",
    ConnectionStatus.NOT_CONFIGURED: "default",
}


def _connection_for(site: Site) -> SalesforceConnection:
    """The site's stored connection, or an unsaved one with the defaults."""
    connection = SalesforceConnection.objects.filter(site=site).select_related("site").first()
    return connection or SalesforceConnection(site=site)


def _edit_url(site_id: int) -> str:
    return reverse("wagtail_salesforce:edit", args=[site_id])


@manage_permission_required
def settings_index(request: HttpRequest) -> HttpResponse:
    """Open the panel on the current request's Site (else the first one)."""
    site = request_site(request)
    if site is None:
        messages.error(
            request, _("Create a site in Settings → Sites before connecting Salesforce.")
        )
        return redirect("wagtailadmin_home")
    return redirect(_edit_url(site.pk))


@manage_permission_required
def settings_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=site_id)
    connection = _connection_for(site)
    old_login_url = connection.login_url
    stored = SalesforceConnection.objects.filter(pk=connection.pk).first()
    if request.method == "POST":
        form = ConnectionSettingsForm(request.POST, instance=connection)
        if form.is_valid():
            reset_tokens = bool(form.connection_changed() and stored and stored.has_tokens)
            secret_cleared = form.secret_was_cleared()
            if reset_tokens and stored is not None:
                # Tokens belong to the old app/org: revoke them there (the revoke call carries
                # the token, never the consumer secret), then forget them.
                revoked = service.disconnect(stored)
                log(instance=stored, action="wagtail_salesforce.disconnect", user=request.user)
                connection.forget_tokens()
                messages.warning(
                    request,
                    _(
                        "The consumer key or login URL changed, so the site was disconnected "
                        "from %(login)s. Click Connect to connect again."
                    )
                    % {"login": old_login_url},
                )
                if not revoked:
                    messages.warning(request, _revoke_failed_message())
            connection = form.save(reset_tokens=reset_tokens)
            log(
                instance=connection,
                action="wagtail_salesforce.settings_saved",
                user=request.user,
                # Names only: a secret's value never enters the audit log.
                data={"changed": sorted(form.changed_data), "secret_cleared": secret_cleared},
            )
            messages.success(request, _("Salesforce settings saved."))
            if secret_cleared:
                messages.warning(request, _secret_cleared_message())
            return redirect(_edit_url(site.pk))
        messages.error(request, _("The settings could not be saved. Please correct the errors."))
    else:
        form = ConnectionSettingsForm(instance=connection)
    return TemplateResponse(
        request,
        "wagtail_salesforce/connection/settings.html",
        _panel_context(request, site, connection, form),
    )


def _panel_context(
    request: HttpRequest, site: Site, connection: SalesforceConnection, form: ConnectionSettingsForm
) -> dict[str, Any]:
    callback_url = connection.callback_url()
    callback = urlsplit(callback_url)
    sites = Site.objects.order_by("hostname", "port")
    paused = bool(connection.pk and not connection.enabled and form.has_credentials())
    return {
        "site": site,
        "sites": [(s, _edit_url(s.pk)) for s in sites],
        "current_site_url": _edit_url(site.pk),
        "connection": connection,
        "form": form,
        "status": connection.status,
        "status_label": ConnectionStatus(connection.status).label,
        "status_tone": STATUS_TONES[ConnectionStatus(connection.status)],
        "paused": paused,
        # OAuth's state lives in this browser's session cookie, which is per host: Connect from
        # another host than the callback's ends in "started in another browser session".
        "callback_host": callback.netloc,
        "callback_host_admin_url": (
            f"{callback.scheme}://{callback.netloc}{request.get_full_path()}"
            if callback.netloc and callback.netloc != request.get_host()
            else ""
        ),
        "status_explanation": explain_status_detail(connection),
        "callback_url": callback_url,
        "callback_needs_https": url_needs_https_warning(callback_url),
        "login_url_choices": [
            (PRODUCTION_LOGIN_URL, _("Production")),
            (SANDBOX_LOGIN_URL, _("Sandbox")),
        ],
        "calls_today": connection.calls_today() if connection.pk else 0,
        "can_connect": connection.pk is not None and connection.is_configured,
        "is_connected": connection.has_tokens,
        "key_from_settings": bool(SalesforceConnection.consumer_key_from_settings()),
        "secret_from_settings": bool(SalesforceConnection.consumer_secret_from_settings()),
        "has_secret": connection.has_consumer_secret,
        "secrets_unreadable": not connection.secrets_readable(),
    }


def _secret_cleared_message() -> str:
    return _(
        "The login URL or consumer key changed, so the stored consumer secret was cleared: it is "
        "never sent to another host or app. Enter the consumer secret again and save before "
        "clicking Connect."
    )


def _revoke_failed_message() -> str:
    return _(
        "Salesforce could not be reached to revoke the old token. The tokens were forgotten "
        "here; to be thorough, revoke the grant in Salesforce (Setup → Connected Apps OAuth "
        "Usage)."
    )


@require_POST
@manage_permission_required
def connect(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=site_id)
    connection = SalesforceConnection.objects.filter(site=site).select_related("site").first()
    if connection is None or not connection.is_configured:
        if connection is not None and connection.effective_consumer_key and connection.enabled:
            messages.error(request, _secret_cleared_message())
        else:
            messages.error(
                request,
                _("Save the consumer key and secret first (and untick “Pause”, if ticked)."),
            )
        return redirect(_edit_url(site.pk))
    try:
        connection.effective_consumer_secret  # noqa: B018 - decrypts, or tells the user why not
        authorize_url = service.start_authorization(request.session, connection)
    except (SecretUnreadable, OAuthError) as refused:
        log(
            instance=connection,
            action="wagtail_salesforce.connect_failed",
            user=request.user,
            data={"reason": _failure_reason(refused)},
        )
        messages.error(request, explain_exception(refused, connection))
        return redirect(_edit_url(site.pk))
    log(
        instance=connection,
        action="wagtail_salesforce.connect_started",
        user=request.user,
        data={"login_host": urlsplit(connection.login_url).netloc},
    )
    return HttpResponseRedirect(authorize_url)


def _failure_reason(failure: Exception) -> str:
    """A short, secret-free name of why connecting failed, for the audit log."""
    if isinstance(failure, OAuthError):
        return failure.error
    return type(failure).__name__


@require_GET
@manage_permission_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    try:
        pending = service.pop_state(request.session, request.GET.get("state"))
    except service.StateInvalid as problem:
        logger.info("OAuth callback rejected: state %s", untrusted(problem.reason, "reason"))
        messages.error(request, explain_state_problem())
        return redirect("wagtail_salesforce:index")
    connection = (
        SalesforceConnection.objects.filter(site_id=pending.site_id).select_related("site").first()
    )
    if (
        connection is None
        or not connection.is_configured
        or connection.callback_url() != pending.redirect_uri
    ):
        # The site was deleted, turned off or moved (root URL) since Connect was clicked.
        messages.error(request, explain_state_problem())
        return redirect("wagtail_salesforce:index")
    back = redirect(_edit_url(connection.site_id))

    error = request.GET.get("error")
    if error:
        description = request.GET.get("error_description", "")
        logger.info(
            "Salesforce authorization for site %s ended with %s",
            connection.site_id,
            untrusted(error, "oauth_error"),
        )
        denied = error in ("access_denied", "access-denied")
        log(
            instance=connection,
            action=f"wagtail_salesforce.{'connect_denied' if denied else 'connect_failed'}",
            user=request.user,
            data={"reason": error[:100]},
        )
        messages.error(request, explain_oauth_error(error, description, connection))
        return back
    code = request.GET.get("code")
    if not code:
        log(
            instance=connection,
            action="wagtail_salesforce.connect_failed",
            user=request.user,
            data={"reason": "no_code"},
        )
        messages.error(request, explain_oauth_error("no_code", "", connection))
        return back
    try:
        connection = service.complete_authorization(
            connection, code=code, verifier=pending.verifier
        )
    except (OAuthError, NetworkError, TLSVerificationFailed, SecretUnreadable) as failure:
        logger.warning(
            "Connecting site %s to Salesforce failed: %s",
            connection.site_id,
            untrusted(failure, "error"),
        )
        log(
            instance=connection,
            action="wagtail_salesforce.connect_failed",
            user=request.user,
            data={"reason": _failure_reason(failure)},
        )
        messages.error(request, explain_exception(failure, connection))
        return back
    log(
        instance=connection,
        action="wagtail_salesforce.connect",
        user=request.user,
        data={"org_id": connection.org_id, "username": connection.username},
    )
    status = connection.status
    # OAuth succeeds in an org without API access: the first API call says so. It is the
    # describe of what the mappings write, read afresh for this (perhaps different) user.
    if not _check_api_and_access(request, connection, after_connect=True):
        return back
    if status == ConnectionStatus.CONNECTED:
        messages.success(
            request,
            _("Connected to Salesforce as %(user)s (organisation %(org)s).")
            % {"user": connection.username, "org": connection.org_id},
        )
    else:
        messages.warning(request, explain_status_detail(connection))
    return back


def _check_api_and_access(
    request: HttpRequest, connection: SalesforceConnection, *, after_connect: bool
) -> bool:
    """Tell the administrator, in plain words, when the org has no API access or the user may
    not write what the mappings deliver. False when the org refused the API."""
    try:
        client = client_for(connection.site_id)
        if after_connect:
            # Right after Connect: one call that every org with API access answers, so an org
            # without it is found even when no mapping needs a describe.
            client.limits()
        clear_api_disabled(connection)  # answered: the org has API access (now)
        problems = access_problems(
            connection.site_id, client, connection.username, reread=after_connect
        )
    except ApiDisabledForOrg:
        mark_api_disabled(connection)
        messages.error(request, api_disabled_explanation())
        return False
    except SalesforceError as error:
        logger.warning(
            "Checking the mapped objects of site %s failed: %s",
            connection.site_id,
            untrusted(error, "error"),
        )
        messages.warning(
            request,
            _("The mapped objects could not be checked: %(error)s") % {"error": error},
        )
        return True
    for problem in problems:
        messages.warning(request, problem)
    return True


@require_POST
@manage_permission_required
def test_connection(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=site_id)
    connection = SalesforceConnection.objects.filter(site=site).first()
    try:
        limits = client_for(site).limits()
    except SalesforceError as error:
        _log_test(request, connection or site, ok=False, reason=type(error).__name__)
        if isinstance(error, ApiDisabledForOrg) and connection is not None:
            mark_api_disabled(connection)
            messages.error(request, api_disabled_explanation())
        elif isinstance(error, ReauthorizationRequired):
            messages.error(request, _("Salesforce needs you to authorise again: click Connect."))
        elif isinstance(error, NotConnected):
            messages.error(request, _("Not connected: %(reason)s") % {"reason": error})
        else:
            logger.warning(
                "Test connection for site %s failed: %s", site.pk, untrusted(error, "error")
            )
            messages.error(request, _("The test call failed: %(error)s") % {"error": error})
        return redirect(_edit_url(site.pk))
    daily = limits.get("DailyApiRequests") or {}
    maximum = int(daily.get("Max", 0))
    remaining = int(daily.get("Remaining", 0))
    SalesforceConnection.objects.filter(site=site).update(
        org_api_requests_used=maximum - remaining, org_api_requests_max=maximum
    )
    _log_test(request, connection or site, ok=True)
    messages.success(
        request,
        _(
            "The connection works. Daily API requests: %(used)s used, %(remaining)s remaining "
            "(of %(max)s)."
        )
        % {"used": maximum - remaining, "remaining": remaining, "max": maximum},
    )
    if connection is not None:
        # From the describe cache when it is fresh: no call beyond the limits one.
        _check_api_and_access(request, connection, after_connect=False)
    return redirect(_edit_url(site.pk))


def _log_test(
    request: HttpRequest, subject: SalesforceConnection | Site, *, ok: bool, reason: str = ""
) -> None:
    """Audit a Test connection on the connection (or the Site, when it has none yet)."""
    log(
        instance=subject,
        action="wagtail_salesforce.test_connection",
        user=request.user,
        data={"ok": ok, **({"reason": reason} if reason else {})},
    )


@require_http_methods(["GET", "POST"])
@manage_permission_required
def disconnect(request: HttpRequest, site_id: int) -> HttpResponse:
    """GET asks for confirmation (what disconnecting does); POST disconnects."""
    site = get_object_or_404(Site, pk=site_id)
    connection = get_object_or_404(SalesforceConnection, site=site)
    if not connection.has_tokens:
        messages.warning(request, _("This site is not connected."))
        return redirect(_edit_url(site.pk))
    if request.method == "GET":
        return TemplateResponse(
            request,
            "wagtail_salesforce/connection/confirm_disconnect.html",
            {"site": site, "connection": connection, "cancel_url": _edit_url(site.pk)},
        )
    revoked = service.disconnect(connection)
    log(instance=connection, action="wagtail_salesforce.disconnect", user=request.user)
    messages.success(request, _("Disconnected from Salesforce."))
    if not revoked:
        messages.warning(request, _revoke_failed_message())
    return redirect(_edit_url(site.pk))
