"""Django system checks for the YAML config: ``manage.py check`` and start-up report what the
offline validator reports (``wagtail_salesforce.E101``), one message per problem."""

from __future__ import annotations

from typing import Any

from django.core import checks

from . import config_paths
from .errors import WARNING
from .loader import validate_files

CONFIG_ERROR_ID = "wagtail_salesforce.E101"
CONFIG_WARNING_ID = "wagtail_salesforce.W101"


@checks.register()
def check_config_files(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    paths, explicit = config_paths()
    if not explicit:
        # The default salesforce.yaml is optional: without it the site has no mappings.
        paths = [path for path in paths if path.exists()]
        if not paths:
            return []
    messages: list[checks.CheckMessage] = []
    for issue in validate_files(paths):
        place = f"{issue.file}:{issue.line}" if issue.line is not None else issue.file
        text = (
            f"{place}: {issue.path}: {issue.message}" if issue.path else f"{place}: {issue.message}"
        )
        kind = checks.Warning if issue.severity == WARNING else checks.Error
        messages.append(
            kind(
                text,
                hint=issue.hint[:1].upper() + issue.hint[1:] if issue.hint else None,
                id=CONFIG_WARNING_ID if issue.severity == WARNING else CONFIG_ERROR_ID,
            )
        )
    return messages
