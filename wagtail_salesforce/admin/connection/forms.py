"""The settings panel's form: one Site's connection settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.utils.translation import gettext_lazy as _

from wagtail_salesforce import conf
from wagtail_salesforce.connection.login_hosts import is_allowed_login_url, is_loopback_host
from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"


def url_needs_https_warning(url: str) -> bool:
    """True when Salesforce would reject ``url`` as a callback (plain HTTP off loopback)."""
    parts = urlsplit(url)
    return parts.scheme != "https" and not is_loopback_host(parts.hostname)


class ConnectionSettingsForm(forms.ModelForm):
    """Edit one connection. The consumer secret is write-only: blank keeps the stored one,
    unless the login URL or consumer key changes: the secret never follows a new host or app, so
    it is cleared then (with the tokens) and must be entered again.

    Saving the credentials is what turns Salesforce on; the model's ``enabled`` flag is shown
    as the opposite, a plain "Pause" box, so there is no second switch to find.
    """

    paused = forms.BooleanField(
        label=_("Pause Salesforce for this site"),
        required=False,
        help_text=_(
            "Keeps the settings but stops delivery and sync: submissions wait in the outbox "
            "until you untick this and save."
        ),
    )

    login_url = forms.URLField(
        label=_("Login URL"),
        assume_scheme="https",
        help_text=_(
            "https://login.salesforce.com for production, https://test.salesforce.com for a "
            "sandbox, or your My Domain URL."
        ),
    )

    consumer_secret = forms.CharField(
        label=_("Consumer secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Stored encrypted and never shown again. Leave empty to keep the current one. "
            "Changing the login URL or the consumer key clears it: enter it again then."
        ),
    )

    class Meta:
        model = SalesforceConnection
        fields = ["login_url", "consumer_key", "api_version"]
        labels = {
            "login_url": _("Login URL"),
            "consumer_key": _("Consumer key"),
            "api_version": _("API version"),
        }
        help_texts = {
            "consumer_key": _("From the connected app: Manage Consumer Details."),
            "api_version": _("The REST API version to call, e.g. 62.0."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial_status = self.instance.status
        # Move the pause box after the credentials it pauses.
        self.fields["paused"] = self.fields.pop("paused")
        self.fields["login_url"].widget.attrs["list"] = "wagtail-salesforce-login-urls"
        self.key_from_settings = SalesforceConnection.consumer_key_from_settings()
        self.secret_from_settings = SalesforceConnection.consumer_secret_from_settings()
        self.initial["paused"] = bool(
            self.instance.pk and not self.instance.enabled and self.has_credentials()
        )
        if self.key_from_settings:
            field = self.fields["consumer_key"]
            field.disabled = True
            field.initial = self.key_from_settings
            self.initial["consumer_key"] = self.key_from_settings
            field.help_text = _("Managed by settings (WAGTAIL_SALESFORCE['CONSUMER_KEY']).")
        if self.secret_from_settings:
            field = self.fields["consumer_secret"]
            field.disabled = True
            field.help_text = _("Managed by settings (WAGTAIL_SALESFORCE['CONSUMER_SECRET']).")
            # A secret from settings goes only where settings say: the login URL is theirs too.
            field = self.fields["login_url"]
            field.disabled = True
            field.initial = self.initial["login_url"] = conf.get("LOGIN_URL")
            field.help_text = _(
                "Managed by settings (WAGTAIL_SALESFORCE['LOGIN_URL']), because the consumer "
                "secret is."
            )

    def clean_login_url(self) -> str:
        value = (self.cleaned_data.get("login_url") or "").strip()
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise forms.ValidationError(_("Enter a URL such as https://login.salesforce.com."))
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise forms.ValidationError(
                _("Salesforce login URLs use HTTPS: use https://%(host)s."),
                params={"host": parts.netloc},
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise forms.ValidationError(
                _("Enter only the scheme and host, e.g. https://mycompany.my.salesforce.com.")
            )
        if not is_allowed_login_url(value):
            raise forms.ValidationError(
                _(
                    "%(host)s is not a Salesforce login host. Use https://login.salesforce.com, "
                    "https://test.salesforce.com or your My Domain URL "
                    "(https://NAME.my.salesforce.com); other hosts must be listed in "
                    "WAGTAIL_SALESFORCE['ALLOWED_LOGIN_HOSTS']."
                ),
                params={"host": parts.netloc},
                code="login_host_not_allowed",
            )
        return f"{parts.scheme}://{parts.netloc}"

    def clean_consumer_key(self) -> str:
        if self.key_from_settings:
            # Keep whatever the panel stored; settings win at use time.
            return self.instance.consumer_key
        return (self.cleaned_data.get("consumer_key") or "").strip()

    def target_changed(self) -> bool:
        """The login URL or the panel's consumer key differs from the stored one.

        The stored secret belongs to that host and app: it must not follow a change.
        """
        if self.instance._state.adding:
            return False
        stored = SalesforceConnection.objects.filter(pk=self.instance.pk).first()
        if stored is None:
            return False
        return bool(
            stored.login_url != self.cleaned_data.get("login_url", stored.login_url)
            or stored.consumer_key != self.cleaned_data.get("consumer_key", stored.consumer_key)
        )

    def has_credentials(self) -> bool:
        """The stored (or settings') consumer key and secret are both present."""
        return bool(
            (self.key_from_settings or self.instance.consumer_key)
            and (self.secret_from_settings or self.instance.consumer_secret_encrypted)
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("paused"):
            if not (self.key_from_settings or cleaned.get("consumer_key")):
                self.add_error("consumer_key", _("Enter the connected app's consumer key."))
            has_secret = (
                self.secret_from_settings
                or cleaned.get("consumer_secret")
                or self.instance.consumer_secret_encrypted
            )
            if not has_secret:
                self.add_error("consumer_secret", _("Enter the connected app's consumer secret."))
        return cleaned

    def secret_was_cleared(self) -> bool:
        """Saving drops the stored secret: the target changed and no new secret was entered."""
        return bool(
            not self.secret_from_settings
            and self.target_changed()
            and not self.cleaned_data.get("consumer_secret")
        )

    def connection_changed(self) -> bool:
        """A new consumer key or login URL makes the stored tokens meaningless."""
        return self.target_changed()

    # Columns this form owns. Tokens are written by refreshes in other processes meanwhile, so a
    # settings save must not write back the token columns it loaded.
    SETTINGS_COLUMNS = (
        "enabled",
        "login_url",
        "consumer_key",
        "api_version",
        "consumer_secret_encrypted",
        "updated_at",
    )

    def save(self, commit: bool = True, *, reset_tokens: bool = False) -> SalesforceConnection:
        """Save the settings; ``reset_tokens`` also writes the (forgotten) token columns."""
        loaded_status = self.initial_status
        connection: SalesforceConnection = super().save(commit=False)
        connection.enabled = not self.cleaned_data.get("paused")
        new_secret = self.cleaned_data.get("consumer_secret")
        if self.secret_was_cleared():
            connection.consumer_secret_encrypted = ""
        if new_secret and not self.secret_from_settings:
            connection.consumer_secret = new_secret
            if connection.status == ConnectionStatus.ERROR and connection.has_tokens:
                # The likely fix of a refused refresh: try the stored grant again on next use.
                connection.status = ConnectionStatus.CONNECTED
                connection.status_detail = ""
        connection.settle_status()
        if commit:
            if connection._state.adding or reset_tokens:
                connection.save()
            else:
                columns = list(self.SETTINGS_COLUMNS)
                if connection.status != loaded_status:
                    columns += ["status", "status_detail"]
                connection.save(update_fields=columns)
        return connection
