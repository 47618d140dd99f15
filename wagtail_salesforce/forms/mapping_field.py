"""The editor's choice of form mapping: choices and validation read from the current YAML."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from wagtail_salesforce.config import ConfigError, get_config


def mapping_choices() -> list[tuple[str, str]]:
    """``(key, label)`` of every form mapping, for a select box; empty when the YAML is broken
    (the system checks report that)."""
    try:
        return get_config().form_choices()
    except ConfigError:
        return []


def validate_mapping_key(value: str) -> None:
    """A non-blank value must name a form mapping of the current config."""
    if not value:
        return
    try:
        forms_config = get_config().forms
    except ConfigError as error:
        raise ValidationError(
            _("The Salesforce config cannot be loaded: %(error)s"),
            params={"error": error},
            code="salesforce_config_invalid",
        ) from error
    if value not in forms_config:
        raise ValidationError(
            _("“%(key)s” is not a form mapping in the Salesforce config."),
            params={"key": value},
            code="unknown_salesforce_mapping",
        )


class MappingSelect(forms.Select):
    """A select whose options are read from the config each time it renders, so editing the
    YAML shows up without restarting the server."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)

    @property  # type: ignore[override]
    def choices(self) -> list[tuple[str, str | Promise]]:
        return [("", _("No Salesforce delivery")), *mapping_choices()]

    @choices.setter
    def choices(self, value: Any) -> None:
        # Django assigns the model field's (empty) choices here; ours come from the config.
        pass
