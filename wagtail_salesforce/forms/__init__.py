"""Wagtail form pages that deliver their submissions to Salesforce."""

from __future__ import annotations

from .mixin import SalesforceFormMixin
from .panels import SalesforceMappingPanel

__all__ = ["SalesforceFormMixin", "SalesforceMappingPanel"]
