"""System checks for the form's spam defence: a proxy set-up that would make every visitor one
client (or let a client choose its own address)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core import checks

from wagtail_salesforce import conf

TRUSTED_PROXY_INVALID_ID = "wagtail_salesforce.E301"
PROXY_WITHOUT_TRUSTED_PROXIES_ID = "wagtail_salesforce.W301"


@checks.register()
def check_trusted_proxies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    proxies = conf.get("TRUSTED_PROXIES")
    if not isinstance(proxies, list | tuple):
        return []  # E001 reports the type
    messages: list[checks.CheckMessage] = []
    for entry in proxies:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            messages.append(
                checks.Error(
                    f"WAGTAIL_SALESFORCE['TRUSTED_PROXIES'] has {entry!r}, which is not an IP "
                    "address or network.",
                    hint="Write addresses or CIDR networks, such as '10.0.0.0/8'.",
                    id=TRUSTED_PROXY_INVALID_ID,
                )
            )
    behind_a_proxy = bool(
        getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        or getattr(settings, "USE_X_FORWARDED_HOST", False)
    )
    if behind_a_proxy and not proxies:
        messages.append(
            checks.Warning(
                "The site is set up behind a reverse proxy (SECURE_PROXY_SSL_HEADER or "
                "USE_X_FORWARDED_HOST) but WAGTAIL_SALESFORCE['TRUSTED_PROXIES'] is empty: the "
                "form's rate limit counts every visitor as the proxy, one client.",
                hint="List the proxies' addresses in WAGTAIL_SALESFORCE['TRUSTED_PROXIES'].",
                id=PROXY_WITHOUT_TRUSTED_PROXIES_ID,
            )
        )
    return messages
