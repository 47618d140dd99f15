"""Verification backends (a challenge the visitor's browser solves, checked server-side).

Chosen by ``WAGTAIL_SALESFORCE["SPAM_VERIFICATION"] = {"BACKEND": dotted path, "OPTIONS":
{"site_key", "secret_key", "verify_url"?, "timeout"?}}`` and resolved when a form is served.
Each vendor's siteverify takes a form-encoded POST of ``secret``, ``response`` (the widget's
token) and ``remoteip``, and answers JSON with ``success`` and ``error-codes``. A failed or
unreachable check holds the submission; it never refuses the visitor.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import requests
from django import forms
from django.utils.module_loading import import_string

from wagtail_salesforce import conf

logger = logging.getLogger(__name__)


class VerificationUnavailable(Exception):
    """The verification service could not be asked or answered nonsense."""


class VerificationBackend:
    """Base: a widget for the form, and ``verify()`` against the vendor's siteverify."""

    verify_url: ClassVar[str]
    response_field: ClassVar[str]  # the POST field the vendor's widget fills with its token
    script_url: ClassVar[str]
    widget_class: ClassVar[str]

    def __init__(
        self,
        site_key: str,
        secret_key: str,
        verify_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.site_key = site_key
        self.secret_key = secret_key
        self.url = verify_url or self.verify_url
        self.timeout = timeout

    def request_data(self, token: str, remote_ip: str) -> dict[str, str]:
        data = {"secret": self.secret_key, "response": token}
        if remote_ip:
            data["remoteip"] = remote_ip
        return data

    def verify(self, token: str, remote_ip: str) -> bool:
        """Whether the vendor accepts ``token``; VerificationUnavailable when it cannot say."""
        if not token:
            return False
        try:
            response = requests.post(
                self.url, data=self.request_data(token, remote_ip), timeout=self.timeout
            )
            response.raise_for_status()
            answer = response.json()
        except (requests.RequestException, ValueError) as error:
            logger.warning("Verification service %s unavailable: %s", self.url, error)
            raise VerificationUnavailable(str(error)) from error
        if not answer.get("success"):
            logger.info("Verification refused: %s", answer.get("error-codes"))
        return bool(answer.get("success"))

    def widget(self) -> forms.Widget:
        return ChallengeWidget(self)


class Turnstile(VerificationBackend):
    """Cloudflare Turnstile."""

    verify_url = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    response_field = "cf-turnstile-response"
    script_url = "https://challenges.cloudflare.com/turnstile/v0/api.js"
    widget_class = "cf-turnstile"


class ReCaptcha(VerificationBackend):
    """Google reCAPTCHA (v2 checkbox or invisible)."""

    verify_url = "https://www.google.com/recaptcha/api/siteverify"
    response_field = "g-recaptcha-response"
    script_url = "https://www.google.com/recaptcha/api.js"
    widget_class = "g-recaptcha"


class HCaptcha(VerificationBackend):
    """hCaptcha (its siteverify also takes the ``sitekey`` the token was issued for)."""

    verify_url = "https://api.hcaptcha.com/siteverify"
    response_field = "h-captcha-response"
    script_url = "https://js.hcaptcha.com/1/api.js"
    widget_class = "h-captcha"

    def request_data(self, token: str, remote_ip: str) -> dict[str, str]:
        return {**super().request_data(token, remote_ip), "sitekey": self.site_key}


class ChallengeWidget(forms.Widget):
    """The vendor's script and placeholder; the vendor's script adds the token input."""

    template_name = "wagtail_salesforce/forms/challenge.html"

    def __init__(self, backend: VerificationBackend) -> None:
        super().__init__()
        self.backend = backend

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["backend"] = self.backend
        return context


def configured_backend() -> VerificationBackend | None:
    """The backend ``SPAM_VERIFICATION`` names, or None."""
    setting = conf.get("SPAM_VERIFICATION")
    if not setting:
        return None
    backend_class = import_string(setting["BACKEND"])
    return backend_class(**dict(setting.get("OPTIONS") or {}))
