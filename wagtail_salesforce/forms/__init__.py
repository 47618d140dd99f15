"""Wagtail form pages that deliver their submissions to Salesforce."""

from __future__ import annotations

from wagtail_salesforce.admin.editor_panel import SalesforceMappingPanel

from .mixin import SalesforceFormMixin

__all__ = ["SalesforceFormMixin", "SalesforceMappingPanel"]
