"""Django system checks for wagtail-salesforce (ids ``wagtail_salesforce.E0xx``/``W0xx``)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from . import conf
from .config import checks as config_checks  # noqa: F401 - registers the YAML config checks


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    unknown = conf.unknown_settings()
    if unknown:
        messages.append(
            checks.Warning(
                f"Unknown WAGTAIL_SALESFORCE keys: {', '.join(sorted(unknown))}.",
                hint=f"Known keys: {', '.join(sorted(conf.DEFAULTS))}.",
                id="wagtail_salesforce.W001",
            )
        )
    return messages
