"""Wagtail form pages that deliver their submissions to Salesforce."""

from __future__ import annotations

from typing import Any

__all__ = ["SalesforceFormMixin", "SalesforceMappingPanel"]


def __getattr__(name: str) -> Any:
    # Lazy: the mixin imports Django models, and this package is imported while apps load.
    if name == "SalesforceFormMixin":
        from .mixin import SalesforceFormMixin

        return SalesforceFormMixin
    if name == "SalesforceMappingPanel":
        from wagtail_salesforce.admin.editor_panel import SalesforceMappingPanel

        return SalesforceMappingPanel
    raise AttributeError(name)
