"""The validated configuration as frozen dataclasses (built only from data that passed checks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

Scalar = str | int | float | bool | None


class Direction(StrEnum):
    BOTH = "both"
    TO_SALESFORCE = "to_salesforce"
    FROM_SALESFORCE = "from_salesforce"

    @property
    def pushes(self) -> bool:
        return self is not Direction.FROM_SALESFORCE

    @property
    def pulls(self) -> bool:
        return self is not Direction.TO_SALESFORCE


class Conflict(StrEnum):
    SALESFORCE_WINS = "salesforce_wins"
    WAGTAIL_WINS = "wagtail_wins"
    NEWEST_WINS = "newest_wins"
    SALESFORCE_UNLESS_BLANK = "salesforce_unless_blank"


class OnUpdate(StrEnum):
    """What an update of an existing record does with a mapped field."""

    OVERWRITE = "overwrite"
    KEEP = "keep"
    APPEND = "append"


@dataclass(frozen=True)
class Location:
    """Where a config value was written (1-based line and column)."""

    file: str
    line: int
    column: int


@dataclass(frozen=True)
class From:
    """The value of a form field, by clean name; ``default`` when it is missing or blank.

    ``normalise``: width-fold and trim the value when it feeds an email, phone or postal-code
    field. ``choices_from_salesforce``: the form field offers the mapped picklist's values.
    """

    name: str
    default: Scalar = None
    has_default: bool = False
    normalise: bool = True
    choices_from_salesforce: bool = False


@dataclass(frozen=True)
class Constant:
    """The same value for every submission."""

    value: Scalar


@dataclass(frozen=True)
class Template:
    """Text with ``{clean_name}`` placeholders; ``names`` lists them in order of appearance."""

    template: str
    names: tuple[str, ...]

    def render(self, values: Mapping[str, Any]) -> str:
        """Fill the placeholders: a missing or None value becomes "", a list (checkboxes) is
        joined with ", "."""
        return self.template.format_map({name: as_text(values.get(name)) for name in self.names})


def as_text(value: Any) -> str:
    """A form value as text: None is "", a list (checkboxes) is joined with ", "."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(as_text(item) for item in value)
    return str(value)


FieldSource = From | Constant | Template


@dataclass(frozen=True)
class CampaignRef:
    """A campaign by ``name`` or ``id`` (exactly one is set)."""

    name: str | None = None
    id: str | None = None
    member_status: str | None = None


@dataclass(frozen=True)
class SpamLimits:
    """A mapping's own spam limits; None means "the site-wide setting"."""

    rate_limit: int | None = None
    rate_window_seconds: int | None = None
    duplicate_window_seconds: int | None = None
    min_fill_seconds: float | None = None
    verification: bool | None = None


DEFAULT_ACTIVITY_SUBJECT = "Form: {label}"


@dataclass(frozen=True)
class Activity:
    """Each submission is also recorded as a completed Task on the record (``activity:``).

    ``subject`` is a template over the form's clean names plus ``label`` (the mapping's label).
    """

    subject: Template = field(
        default_factory=lambda: Template(DEFAULT_ACTIVITY_SUBJECT, ("label",))
    )


@dataclass(frozen=True)
class FormMapping:
    key: str
    label: str
    object: str
    fields: Mapping[str, FieldSource]
    record_type: str | None = None
    campaign: CampaignRef | None = None
    match_on: str | None = None
    external_id: str | None = None
    spam: SpamLimits = field(default_factory=SpamLimits)
    # Salesforce field -> the ``on_update`` written for it; a field not listed takes the default
    # its describe implies (see ``outbox.history``), so this holds only what the YAML says.
    on_update: Mapping[str, OnUpdate] = field(default_factory=lambda: MappingProxyType({}))
    activity: Activity | None = None
    location: Location | None = field(default=None, compare=False)

    def feeding(self, form_field_name: str) -> list[tuple[str, From]]:
        """``(Salesforce field, source)`` of every field this form field's value is sent to."""
        return [
            (salesforce_field, source)
            for salesforce_field, source in self.fields.items()
            if isinstance(source, From) and source.name == form_field_name
        ]

    @property
    def form_field_names(self) -> frozenset[str]:
        """Every form field clean name this mapping reads (from ``from`` and templates)."""
        names: set[str] = set()
        for source in self.fields.values():
            if isinstance(source, From):
                names.add(source.name)
            elif isinstance(source, Template):
                names.update(source.names)
        return frozenset(names)


@dataclass(frozen=True)
class SyncField:
    """A local field, its Salesforce field per object (``{"Lead": "Company"}``) and its rules."""

    name: str
    salesforce: Mapping[str, str]
    direction: Direction = Direction.BOTH
    conflict: Conflict = Conflict.SALESFORCE_WINS


@dataclass(frozen=True)
class SyncConfig:
    match: tuple[str, ...]
    create_as: str
    enabled: bool = True
    interval_minutes: int = 5
    defaults: Mapping[str, Scalar] = field(default_factory=lambda: MappingProxyType({}))
    fields: Mapping[str, SyncField] = field(default_factory=lambda: MappingProxyType({}))
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SalesforceConfig:
    """Everything the config files declare. ``sync`` is None when no file has a ``sync`` section."""

    forms: Mapping[str, FormMapping] = field(default_factory=lambda: MappingProxyType({}))
    sync: SyncConfig | None = None
    files: tuple[str, ...] = ()
    # Dotted path -> where it was written; lets later checks (the online one) name file and line.
    locations: Mapping[str, Location] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    def location_of(self, path: str) -> Location | None:
        """The location of ``path`` or of its nearest written ancestor."""
        while path:
            if path in self.locations:
                return self.locations[path]
            # "sync.match[1]" -> "sync.match" -> "sync"
            path = path.rpartition("[")[0] if path.endswith("]") else path.rpartition(".")[0]
        return None

    def form_choices(self) -> list[tuple[str, str]]:
        """``(key, label)`` pairs for an editor's choice field, sorted by label."""
        return sorted(((m.key, m.label) for m in self.forms.values()), key=lambda c: c[1])
