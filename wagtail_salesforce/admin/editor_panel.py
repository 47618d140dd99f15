"""The editor's "Salesforce" panel: which form fields feed which Salesforce fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import Panel

from wagtail_salesforce.config import ConfigError, Constant, FormMapping, From, Template, get_config


@dataclass(frozen=True)
class FieldFeed:
    """One Salesforce field of the mapping and where its value comes from."""

    salesforce_field: str
    kind: str  # "form" | "constant" | "template"
    source: str  # form field name(s), the constant, or the template text
    missing: tuple[str, ...]  # form fields the source needs that the page does not have
    default: str | None  # the default used when the form field is missing or blank
    choices_from_salesforce: bool = False  # the form field offers the picklist's values


def page_field_names(page: Any) -> set[str]:
    """Clean names of the page's form fields (unsaved edits included)."""
    names: set[str] = set()
    for form_field in page.get_form_fields():
        names.add(form_field.clean_name or form_field.get_field_clean_name())
    return names


def describe_feeds(mapping: FormMapping, available: set[str]) -> list[FieldFeed]:
    feeds: list[FieldFeed] = []
    for salesforce_field, source in mapping.fields.items():
        if isinstance(source, From):
            feeds.append(
                FieldFeed(
                    salesforce_field,
                    "form",
                    source.name,
                    () if source.name in available else (source.name,),
                    None if not source.has_default else str(source.default),
                    source.choices_from_salesforce,
                )
            )
        elif isinstance(source, Template):
            missing = tuple(name for name in source.names if name not in available)
            feeds.append(FieldFeed(salesforce_field, "template", source.template, missing, None))
        elif isinstance(source, Constant):
            feeds.append(FieldFeed(salesforce_field, "constant", str(source.value), (), None))
    return feeds


class SalesforceMappingPanel(Panel):
    """Shows the chosen mapping's fields and warns about form fields it needs but cannot find.

    Shaped like Wagtail's ``FormSubmissionsPanel``: a Panel with a BoundPanel and a template.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("heading", _("Salesforce fields"))
        super().__init__(**kwargs)

    class BoundPanel(Panel.BoundPanel):
        template_name = "wagtail_salesforce/forms/mapping_panel.html"

        @cached_property
        def mapping_key(self) -> str:
            return str(getattr(self.instance, "salesforce_mapping", "") or "")

        @cached_property
        def config_error(self) -> str:
            try:
                get_config()
            except ConfigError as error:
                return str(error)
            return ""

        @cached_property
        def mapping(self) -> FormMapping | None:
            if not self.mapping_key or self.config_error:
                return None
            return get_config().forms.get(self.mapping_key)

        def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
            context = super().get_context_data(parent_context)
            feeds: list[FieldFeed] = []
            if self.mapping is not None:
                feeds = describe_feeds(self.mapping, page_field_names(self.instance))
            missing = sorted({name for feed in feeds for name in feed.missing})
            context.update(
                {
                    "mapping_key": self.mapping_key,
                    "mapping": self.mapping,
                    "config_error": self.config_error,
                    "feeds": feeds,
                    "missing": ", ".join(missing),
                    "missing_count": len(missing),
                    "unknown_mapping": bool(
                        self.mapping_key and self.mapping is None and not self.config_error
                    ),
                }
            )
            return context
