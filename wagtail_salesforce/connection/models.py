"""The per-Site Salesforce connection and its per-day API call counter."""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import Site

from wagtail_salesforce import conf

from . import crypto

API_VERSION_PATTERN = re.compile(r"^\d{2,3}\.0$")
# The usage header is a rolling 24-hour count; an older reading says nothing of today.
API_USAGE_STALE_AFTER = datetime.timedelta(hours=24)


def default_login_url() -> str:
    return str(conf.get("LOGIN_URL"))


def default_api_version() -> str:
    return str(conf.get("API_VERSION"))


def validate_api_version(value: str) -> None:
    if not API_VERSION_PATTERN.match(value or ""):
        raise ValidationError(
            _("Enter an API version such as %(example)s."),
            params={"example": conf.DEFAULTS["API_VERSION"]},
            code="invalid_api_version",
        )


class ConnectionStatus(models.TextChoices):
    NOT_CONFIGURED = "not_configured", _("Not configured")
    NOT_CONNECTED = "not_connected", _("Not connected")
    CONNECTED = "connected", _("Connected")
    NEEDS_REAUTH = "needs_reauth", _("Needs re-authorisation")
    ERROR = "error", _("Error")


class SalesforceConnection(models.Model):
    """One Wagtail Site's link to a Salesforce org through a connected app.

    Secrets are stored encrypted (``*_encrypted`` columns) and read through properties.
    ``token_version`` increases with every token change; refreshes write with a
    compare-and-swap on it so two processes never overwrite each other's rotated tokens.
    """

    site = models.OneToOneField(
        Site,
        on_delete=models.CASCADE,
        related_name="salesforce_connection",
        verbose_name=_("site"),
    )
    enabled = models.BooleanField(_("use Salesforce"), default=False)
    login_url = models.URLField(
        _("login URL"),
        default=default_login_url,
        help_text=_(
            "https://login.salesforce.com for production, https://test.salesforce.com for a "
            "sandbox, or your My Domain URL."
        ),
    )
    consumer_key = models.CharField(_("consumer key"), max_length=255, blank=True)
    consumer_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    api_version = models.CharField(
        _("API version"),
        max_length=8,
        default=default_api_version,
        validators=[validate_api_version],
    )

    access_token_encrypted = models.TextField(blank=True, default="", editable=False)
    refresh_token_encrypted = models.TextField(blank=True, default="", editable=False)
    instance_url = models.URLField(_("instance URL"), blank=True, default="", editable=False)
    identity_url = models.URLField(_("identity URL"), blank=True, default="", editable=False)
    org_id = models.CharField(_("organisation ID"), max_length=18, blank=True, default="")
    org_name = models.CharField(_("organisation"), max_length=255, blank=True, default="")
    user_id = models.CharField(_("Salesforce user ID"), max_length=18, blank=True, default="")
    username = models.CharField(_("Salesforce username"), max_length=255, blank=True, default="")
    user_display_name = models.CharField(
        _("Salesforce user"), max_length=255, blank=True, default=""
    )

    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ConnectionStatus.choices,
        default=ConnectionStatus.NOT_CONFIGURED,
    )
    status_detail = models.TextField(_("status detail"), blank=True, default="")
    connected_at = models.DateTimeField(_("connected at"), null=True, blank=True)
    last_refresh_at = models.DateTimeField(_("last refreshed at"), null=True, blank=True)
    token_version = models.PositiveIntegerField(default=0, editable=False)
    # Cross-process refresh claim where rows cannot be locked (SQLite): who refreshes, until when.
    refresh_claim = models.CharField(max_length=32, blank=True, default="", editable=False)
    refresh_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    # The org's daily usage from the last Sforce-Limit-Info header or /limits call.
    org_api_requests_used = models.PositiveIntegerField(null=True, blank=True)
    org_api_requests_max = models.PositiveIntegerField(null=True, blank=True)
    org_api_usage_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Salesforce connection")
        verbose_name_plural = _("Salesforce connections")
        default_permissions = ()
        permissions = [("manage_connection", _("Can manage the connection to Salesforce"))]

    def __str__(self) -> str:
        return f"Salesforce connection for {self.site}"

    # --- secrets -----------------------------------------------------------------------

    @property
    def consumer_secret(self) -> str:
        return crypto.decrypt(self.consumer_secret_encrypted)

    @consumer_secret.setter
    def consumer_secret(self, value: str) -> None:
        self.consumer_secret_encrypted = crypto.encrypt(value)

    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_encrypted = crypto.encrypt(value)

    @property
    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted)

    @refresh_token.setter
    def refresh_token(self, value: str) -> None:
        self.refresh_token_encrypted = crypto.encrypt(value)

    def secrets_readable(self) -> bool:
        """False when a stored secret cannot be decrypted (the encryption key changed)."""
        try:
            for token in (
                self.consumer_secret_encrypted,
                self.access_token_encrypted,
                self.refresh_token_encrypted,
            ):
                crypto.decrypt(token)
        except crypto.SecretUnreadable:
            return False
        return True

    # --- configuration as code ---------------------------------------------------------

    @staticmethod
    def consumer_key_from_settings() -> str:
        return str(conf.get("CONSUMER_KEY") or "")

    @staticmethod
    def consumer_secret_from_settings() -> str:
        return str(conf.get("CONSUMER_SECRET") or "")

    @property
    def effective_consumer_key(self) -> str:
        """The consumer key in use: ``WAGTAIL_SALESFORCE["CONSUMER_KEY"]`` wins over the panel's."""
        return self.consumer_key_from_settings() or self.consumer_key

    @property
    def effective_consumer_secret(self) -> str:
        return self.consumer_secret_from_settings() or self.consumer_secret

    @property
    def has_consumer_secret(self) -> bool:
        return bool(self.consumer_secret_from_settings() or self.consumer_secret_encrypted)

    @property
    def is_configured(self) -> bool:
        return bool(
            self.enabled
            and self.login_url
            and self.effective_consumer_key
            and self.has_consumer_secret
        )

    @property
    def has_tokens(self) -> bool:
        return bool(self.refresh_token_encrypted or self.access_token_encrypted)

    @property
    def authorization_base_url(self) -> str:
        """The login URL without a trailing slash (OAuth endpoints hang off it)."""
        return self.login_url.rstrip("/")

    def callback_url(self) -> str:
        """The redirect URI to register on the connected app: the Site's root URL + callback path.

        Built from ``Site.root_url`` (scheme, hostname and port as set in Settings → Sites) so it
        is the same in every request and every process.
        """
        return self.site.root_url + reverse("wagtail_salesforce:oauth_callback")

    # --- state changes -----------------------------------------------------------------

    def settle_status(self) -> None:
        """Bring ``status`` in line with the settings after an edit (the caller saves)."""
        if not self.is_configured:
            self.status = ConnectionStatus.NOT_CONFIGURED
        elif not self.has_tokens:
            self.status = ConnectionStatus.NOT_CONNECTED
        elif self.status in (ConnectionStatus.NOT_CONFIGURED, ConnectionStatus.NOT_CONNECTED):
            self.status = ConnectionStatus.CONNECTED

    def forget_tokens(self) -> None:
        """Drop tokens and identity (the caller saves; revoking is ``oauth.revoke``'s job)."""
        self.access_token_encrypted = ""
        self.refresh_token_encrypted = ""
        self.instance_url = ""
        self.identity_url = ""
        self.org_id = ""
        self.org_name = ""
        self.user_id = ""
        self.username = ""
        self.user_display_name = ""
        self.connected_at = None
        self.last_refresh_at = None
        self.org_api_requests_used = None
        self.org_api_requests_max = None
        self.org_api_usage_at = None
        # A refresh in flight compares token_version, so it will not write its token back.
        self.token_version += 1
        self.status_detail = ""
        self.settle_status()

    def stored_api_usage(self, now: datetime.datetime | None = None) -> tuple[int, int] | None:
        """``(used, max)`` of the org's daily API requests as last read, or None when unknown
        or older than a day (the count is a rolling 24 hours)."""
        used, maximum, at = (
            self.org_api_requests_used,
            self.org_api_requests_max,
            self.org_api_usage_at,
        )
        if used is None or not maximum or at is None:
            return None
        if (now or timezone.now()) - at > API_USAGE_STALE_AFTER:
            return None
        return int(used), int(maximum)

    def calls_today(self) -> int:
        today = timezone.localdate()
        usage = self.api_usage_days.filter(date=today).first()
        return usage.calls if usage else 0


class ApiUsageDaily(models.Model):
    """API calls made through one connection on one day (as Salesforce counts them)."""

    connection = models.ForeignKey(
        SalesforceConnection,
        on_delete=models.CASCADE,
        related_name="api_usage_days",
        verbose_name=_("connection"),
    )
    date = models.DateField(_("date"))
    calls = models.PositiveIntegerField(_("API calls"), default=0)

    class Meta:
        verbose_name = _("daily API usage")
        verbose_name_plural = _("daily API usage")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "date"], name="wagtail_salesforce_api_usage_one_row_per_day"
            )
        ]
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.date}: {self.calls}"

    @classmethod
    def add(cls, connection_id: int, calls: int, day: datetime.date | None = None) -> None:
        """Add ``calls`` to the day's counter atomically (safe with many workers)."""
        if calls <= 0:
            return
        day = day or timezone.localdate()
        updated = cls.objects.filter(connection_id=connection_id, date=day).update(
            calls=F("calls") + calls
        )
        if updated:
            return
        try:
            with transaction.atomic():
                cls.objects.create(connection_id=connection_id, date=day, calls=calls)
        except IntegrityError:
            # Another worker created today's row between our UPDATE and INSERT.
            cls.objects.filter(connection_id=connection_id, date=day).update(
                calls=F("calls") + calls
            )
