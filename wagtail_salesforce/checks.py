"""Django system checks for wagtail-salesforce (ids ``wagtail_salesforce.E0xx``/``W0xx``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from . import conf
from .config import checks as config_checks  # noqa: F401 - registers the YAML config checks
from .config.errors import did_you_mean
from .forms import checks as forms_checks  # noqa: F401 - registers the proxy checks


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Each unknown key of ``WAGTAIL_SALESFORCE`` (a misspelt key is silently ignored)."""
    messages: list[checks.CheckMessage] = []
    for key in sorted(conf.unknown_settings(), key=str):
        close = did_you_mean(key, conf.SETTINGS)
        messages.append(
            checks.Warning(
                f"Unknown {conf.SETTINGS_NAME} key {key!r}" + (f": {close}" if close else "."),
                hint=None if close else f"Known keys: {', '.join(sorted(conf.SETTINGS))}.",
                id="wagtail_salesforce.W001",
            )
        )
    return messages


@checks.register()
def check_setting_types(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Each key of ``WAGTAIL_SALESFORCE`` whose value has the wrong type."""
    messages: list[checks.CheckMessage] = []
    for problem in conf.type_problems():
        where = f"{conf.SETTINGS_NAME}[{problem.key!r}]" if problem.key else conf.SETTINGS_NAME
        messages.append(
            checks.Error(
                f"{where} is a {problem.found}; expected {problem.expected}.",
                hint="See the settings reference (docs/en/settings.md) for each key's type.",
                id="wagtail_salesforce.E001",
            )
        )
    return messages


# The outbox sweeper and the delivery drains stop taking new entries after 50 s; django-q2 must
# let them finish the entry in hand.
MIN_TASK_TIMEOUT_SECONDS = 60


@checks.register()
def check_task_timeout(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    cluster = getattr(settings, "Q_CLUSTER", {}) or {}
    timeout = cluster.get("timeout")
    if timeout is None or float(timeout) >= MIN_TASK_TIMEOUT_SECONDS:
        return []
    return [
        checks.Warning(
            f"Q_CLUSTER['timeout'] is {timeout} s: django-q2 would kill the outbox sweeper and "
            "delivery drains (which run for up to 50 s) in the middle of a delivery.",
            hint=f"Set Q_CLUSTER['timeout'] to at least {MIN_TASK_TIMEOUT_SECONDS} (and "
            "'retry' above it); the example site uses 120 and 180.",
            id="wagtail_salesforce.W002",
        )
    ]
