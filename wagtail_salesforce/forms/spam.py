"""Spam defence that costs no API call: it runs before a submission is queued.

A honeypot input and a signed "form shown at" token are added to every Salesforce form; a rate
limit per client and duplicate suppression count in Django's cache; a verification backend
(:mod:`.verification`) may be asked too. What they catch is *held*: stored with its reason and
delivered only when an editor says so, so a false positive loses nothing.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core import signing
from django.core.cache import caches
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest

from wagtail_salesforce import conf
from wagtail_salesforce.config import FormMapping

logger = logging.getLogger(__name__)

FILL_TOKEN_FIELD = "salesforce_form_started"  # noqa: S105 - a field name


class HeldReason:
    """Why a submission is held: the codes the outbox stores (its ``HeldReason`` choices)."""

    HONEYPOT = "honeypot"
    TOO_FAST = "too_fast"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - a reason code
    RATE_LIMITED = "rate_limited"
    DUPLICATE = "duplicate"
    VERIFICATION_FAILED = "verification_failed"
    VERIFICATION_UNAVAILABLE = "verification_unavailable"


_FILL_TOKEN_SALT = "wagtail_salesforce.forms.fill_time"  # noqa: S105 - a signing salt


@dataclass(frozen=True)
class SpamLimits:
    """The limits in force for one form: the mapping's own, else the site-wide settings."""

    rate_limit: int
    rate_window_seconds: int
    duplicate_window_seconds: int
    min_fill_seconds: float
    verification: bool

    @classmethod
    def for_mapping(cls, mapping: FormMapping | None) -> SpamLimits:
        own = mapping.spam if mapping is not None else None

        def pick(name: str, setting: str) -> Any:
            value = getattr(own, name, None) if own is not None else None
            return conf.get(setting) if value is None else value

        verification = own.verification if own is not None else None
        return cls(
            rate_limit=int(pick("rate_limit", "SPAM_RATE_LIMIT")),
            rate_window_seconds=int(pick("rate_window_seconds", "SPAM_RATE_WINDOW_SECONDS")),
            duplicate_window_seconds=int(
                pick("duplicate_window_seconds", "SPAM_DUPLICATE_WINDOW_SECONDS")
            ),
            min_fill_seconds=float(pick("min_fill_seconds", "SPAM_MIN_FILL_SECONDS")),
            verification=conf.get("SPAM_VERIFICATION") is not None and verification is not False,
        )


class HoneypotInput(forms.TextInput):
    """An input people never see or reach: moved off-screen (not ``display: none``, which some
    bots skip), out of the tab order, hidden from screen readers and from autofill."""

    template_name = "wagtail_salesforce/forms/honeypot.html"

    def __init__(self) -> None:
        super().__init__(attrs={"tabindex": "-1", "autocomplete": "off"})


def add_spam_fields(form: forms.Form, page_id: int) -> None:
    """Give ``form`` the honeypot and the signed fill-time token (an unbound form gets a fresh
    token; a bound one reads the posted value)."""
    form.fields[honeypot_name()] = forms.CharField(required=False, label="", widget=HoneypotInput())
    form.fields[FILL_TOKEN_FIELD] = forms.CharField(
        required=False,
        widget=forms.HiddenInput(),
        initial=fill_time_token(page_id),
    )


def fill_time_token(page_id: int, started: float | None = None) -> str:
    """The signed moment (epoch seconds, default now) a visitor opened page ``page_id``'s form."""
    moment = time.time() if started is None else started
    return signing.dumps(moment, salt=f"{_FILL_TOKEN_SALT}:{page_id}")


def honeypot_name() -> str:
    return str(conf.get("SPAM_HONEYPOT_FIELD"))


def spam_field_names() -> tuple[str, str]:
    return honeypot_name(), FILL_TOKEN_FIELD


def fill_time_reason(token: str, page_id: int, minimum: float) -> str:
    """Why the fill-time token holds the submission ("" when it does not). A missing token
    holds nothing: a site template that renders only the visible fields drops it, and an
    ordinary visitor must never be held for that."""
    if minimum <= 0 or not token:
        return ""
    try:
        started = float(signing.loads(token, salt=f"{_FILL_TOKEN_SALT}:{page_id}"))
    except (signing.BadSignature, TypeError, ValueError):
        return HeldReason.TOKEN_INVALID
    return HeldReason.TOO_FAST if time.time() - started < minimum else ""


def _trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in conf.get("TRUSTED_PROXIES")]


def _is_trusted(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


@functools.cache
def _warn_untrusted_forwarding() -> None:
    """Once per process: the header is there but no proxy is trusted (see the W301 check)."""
    logger.warning(
        "Requests carry X-Forwarded-For but WAGTAIL_SALESFORCE['TRUSTED_PROXIES'] is empty: "
        "the form's rate limit counts by REMOTE_ADDR, which may be the proxy's."
    )


def client_address(request: HttpRequest) -> str:
    """The visitor's address: ``REMOTE_ADDR``, or, when that is a trusted proxy, the last
    address in ``X-Forwarded-For`` that is not itself a trusted proxy (the ones before it are
    whatever the client chose to send)."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    networks = _trusted_networks()
    if forwarded and not networks:
        _warn_untrusted_forwarding()
    if not forwarded or not _is_trusted(remote, networks):
        return remote
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _is_trusted(hop, networks):
            return hop
    return remote


def _cache() -> Any:
    return caches[str(conf.get("FORMS_CACHE"))]


def over_rate_limit(client: str, mapping_key: str, limits: SpamLimits) -> bool:
    """Count this submission against the client's window; True once past the allowance."""
    key = f"wagtail_salesforce:rate:{mapping_key}:{client}"
    cache = _cache()
    cache.add(key, 0, timeout=limits.rate_window_seconds)
    try:
        count = int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=limits.rate_window_seconds)
        count = 1
    return count > limits.rate_limit


def is_duplicate(mapping_key: str, form_data: Mapping[str, Any], limits: SpamLimits) -> bool:
    """Whether the same values reached this mapping within the window (the first one wins)."""
    if limits.duplicate_window_seconds <= 0:
        return False
    body = json.dumps(
        [mapping_key, dict(form_data)], sort_keys=True, cls=DjangoJSONEncoder, default=str
    )
    key = f"wagtail_salesforce:duplicate:{hashlib.sha256(body.encode()).hexdigest()}"
    return not _cache().add(key, 1, timeout=limits.duplicate_window_seconds)
