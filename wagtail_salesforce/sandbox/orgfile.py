"""The sandbox org's definition: schema, users, connected apps and seed data.

``load_org_definition(None)`` gives the built-in org (standard objects with realistic fields, one
admin user, one connected app, a ``Web_Inquiry`` Lead record type and an active campaign).
``load_org_definition(path)`` reads a YAML file whose sections override or extend it:

- ``org``: each key overrides the default;
- ``users`` and ``connected_apps``: the file's list replaces the default list;
- ``objects``: merged — new fields are added to standard objects (custom field names end in
  ``__c``), a field of the same name is redefined, objects ending in ``__c`` are new custom objects;
  ``record_types`` and ``duplicate_rules`` of an object replace that object's defaults;
- ``data``: the file's records replace the default seed records of the same object.

Every unknown key or wrongly typed value raises ``OrgFileError`` naming the file and the key path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .ids import STANDARD_KEY_PREFIXES, custom_key_prefixes

FIELD_TYPES = frozenset(
    {
        "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "boolean",
        "int", "double", "currency", "percent", "date", "datetime", "reference", "id",
    }
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class OrgFileError(ValueError):
    """The org file is invalid; the message names the file and the offending key."""


@dataclass(frozen=True)
class PicklistValue:
    value: str
    label: str
    active: bool = True
    default: bool = False


@dataclass(frozen=True)
class FieldDef:
    name: str
    label: str
    type: str
    length: int = 0
    required: bool = False  # not nillable and no default: must be given on create
    createable: bool = True
    updateable: bool = True
    unique: bool = False
    external_id: bool = False
    default: Any = None
    picklist_values: tuple[PicklistValue, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    custom: bool = False

    @property
    def relationship_name(self) -> str | None:
        if self.type != "reference":
            return None
        if self.name.endswith("__c"):
            return self.name[:-3] + "__r"
        if self.name.endswith("Id"):
            return self.name[:-2]
        return None

    @property
    def nillable(self) -> bool:
        return not self.required and self.type not in ("boolean", "id")


@dataclass(frozen=True)
class RecordTypeDef:
    developer_name: str
    name: str
    active: bool = True
    default: bool = False


@dataclass(frozen=True)
class DuplicateRuleDef:
    name: str
    fields: tuple[str, ...]
    action: str = "block"  # "block" -> DUPLICATES_DETECTED; "allow" lets the save through
    active: bool = True


@dataclass(frozen=True)
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    custom: bool
    fields: Mapping[str, FieldDef]  # canonical name -> field, in describe order
    record_types: tuple[RecordTypeDef, ...] = ()
    duplicate_rules: tuple[DuplicateRuleDef, ...] = ()
    createable: bool = True
    updateable: bool = True

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive field lookup."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.name.lower() == lowered:
                return candidate
        return None


@dataclass(frozen=True)
class UserDef:
    username: str
    password: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class ConnectedAppDef:
    name: str
    client_id: str
    client_secret: str
    callback_urls: tuple[str, ...]
    require_pkce: bool = True
    refresh_token_policy_mode: str = "until_revoked"  # noqa: S105 - or "expire_after"
    refresh_token_ttl_seconds: int | None = None
    rotate_refresh_tokens: bool = False


@dataclass(frozen=True)
class OrgDefinition:
    org_id: str
    org_name: str
    daily_api_limit: int
    session_timeout_seconds: int
    users: tuple[UserDef, ...]
    connected_apps: tuple[ConnectedAppDef, ...]
    objects: Mapping[str, ObjectDef] = field(hash=False)
    seed_data: Mapping[str, tuple[dict[str, Any], ...]] = field(hash=False)
    # False plays an edition without API access (e.g. Professional without the API add-on).
    api_enabled: bool = True


# --- the built-in org ------------------------------------------------------------------------

DEFAULT_CALLBACK_URLS = (
    "http://127.0.0.1:8000/admin/salesforce/oauth/callback/",
    "http://localhost:8000/admin/salesforce/oauth/callback/",
)


def _picklist(*values: str, default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, True, v == default) for v in values)


def _f(name: str, label: str, type_: str, length: int = 0, **options: Any) -> FieldDef:
    if type_ in ("string", "email", "phone", "url", "picklist") and not length:
        length = {"email": 80, "phone": 40, "url": 255, "picklist": 255}.get(type_, 255)
    if type_ == "reference" or type_ == "id":
        length = 18
    return FieldDef(name=name, label=label, type=type_, length=length, **options)


def _system_fields() -> list[FieldDef]:
    read_only = {"createable": False, "updateable": False}
    return [
        _f("Id", "Record ID", "id", **read_only),
        _f("IsDeleted", "Deleted", "boolean", default=False, **read_only),
        _f("CreatedDate", "Created Date", "datetime", **read_only),
        _f("CreatedById", "Created By ID", "reference", reference_to=("User",), **read_only),
        _f("LastModifiedDate", "Last Modified Date", "datetime", **read_only),
        _f(
            "LastModifiedById",
            "Last Modified By ID",
            "reference",
            reference_to=("User",),
            **read_only,
        ),
        _f("SystemModstamp", "System Modstamp", "datetime", **read_only),
    ]


LEAD_SOURCES = _picklist("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
INDUSTRIES = _picklist(
    "Agriculture", "Banking", "Education", "Energy", "Finance", "Government", "Healthcare",
    "Media", "Not For Profit", "Retail", "Technology", "Other",
)  # fmt: skip
RATINGS = _picklist("Hot", "Warm", "Cold")
READ_ONLY = {"createable": False, "updateable": False}


def _owner() -> FieldDef:
    return _f("OwnerId", "Owner ID", "reference", reference_to=("User",))


def _record_type() -> FieldDef:
    return _f("RecordTypeId", "Record Type ID", "reference", reference_to=("RecordType",))


def _master_record(sobject: str) -> FieldDef:
    """Set on the records a merge deleted: the Id of the record they were merged into."""
    return _f("MasterRecordId", "Master Record ID", "reference", reference_to=(sobject,),
              **READ_ONLY)


def _standard_fields() -> dict[str, list[FieldDef]]:
    name_ro = _f("Name", "Full Name", "string", 121, **READ_ONLY)
    return {
        "Lead": [
            _f("FirstName", "First Name", "string", 40),
            _f("LastName", "Last Name", "string", 80, required=True),
            name_ro,
            _f("Company", "Company", "string", 255, required=True),
            _f("Email", "Email", "email", 80),
            _f("Phone", "Phone", "phone", 40),
            _f("Title", "Title", "string", 128),
            _f(
                "Status",
                "Status",
                "picklist",
                default="Open - Not Contacted",
                picklist_values=_picklist(
                    "Open - Not Contacted",
                    "Working - Contacted",
                    "Closed - Converted",
                    "Closed - Not Converted",
                    default="Open - Not Contacted",
                ),
            ),
            _f("LeadSource", "Lead Source", "picklist", picklist_values=LEAD_SOURCES),
            _f("Industry", "Industry", "picklist", picklist_values=INDUSTRIES),
            _f("Description", "Description", "textarea", 32000),
            _f("Rating", "Rating", "picklist", picklist_values=RATINGS),
            _owner(),
            _record_type(),
            _f("IsConverted", "Converted", "boolean", default=False, **READ_ONLY),
            _f(
                "ConvertedContactId",
                "Converted Contact ID",
                "reference",
                reference_to=("Contact",),
                **READ_ONLY,
            ),
            _f(
                "ConvertedAccountId",
                "Converted Account ID",
                "reference",
                reference_to=("Account",),
                **READ_ONLY,
            ),
            _f("ConvertedDate", "Converted Date", "date", **READ_ONLY),
            _master_record("Lead"),
        ],
        "Contact": [
            _f("FirstName", "First Name", "string", 40),
            _f("LastName", "Last Name", "string", 80, required=True),
            name_ro,
            _f("Email", "Email", "email", 80),
            _f("Phone", "Business Phone", "phone", 40),
            _f("Title", "Title", "string", 128),
            _f("AccountId", "Account ID", "reference", reference_to=("Account",)),
            _f("LeadSource", "Lead Source", "picklist", picklist_values=LEAD_SOURCES),
            _f("Description", "Contact Description", "textarea", 32000),
            _owner(),
            _record_type(),
            _master_record("Contact"),
        ],
        "Account": [
            _f("Name", "Account Name", "string", 255, required=True),
            _f("Industry", "Industry", "picklist", picklist_values=INDUSTRIES),
            _f("Phone", "Account Phone", "phone", 40),
            _f("Website", "Website", "url", 255),
            _f("Description", "Account Description", "textarea", 32000),
            _f("NumberOfEmployees", "Employees", "int", 8),
            _f("AnnualRevenue", "Annual Revenue", "currency", 18),
            _owner(),
            _record_type(),
        ],
        "Campaign": [
            _f("Name", "Name", "string", 80, required=True),
            _f("IsActive", "Active", "boolean", default=False),
            _f(
                "Status",
                "Status",
                "picklist",
                default="Planned",
                picklist_values=_picklist(
                    "Planned", "In Progress", "Completed", "Aborted", default="Planned"
                ),
            ),
            _f(
                "Type",
                "Type",
                "picklist",
                picklist_values=_picklist(
                    "Conference", "Webinar", "Trade Show", "Email", "Advertisement", "Other"
                ),
            ),
            _f("StartDate", "Start Date", "date"),
            _f("EndDate", "End Date", "date"),
            _f("Description", "Description", "textarea", 32000),
            _owner(),
        ],
        "CampaignMember": [
            _f(
                "CampaignId",
                "Campaign ID",
                "reference",
                reference_to=("Campaign",),
                updateable=False,
            ),
            _f("LeadId", "Lead ID", "reference", reference_to=("Lead",), updateable=False),
            _f("ContactId", "Contact ID", "reference", reference_to=("Contact",), updateable=False),
            _f("Status", "Status", "picklist"),
            _f("HasResponded", "Responded", "boolean", default=False, **READ_ONLY),
        ],
        "CampaignMemberStatus": [
            _f(
                "CampaignId",
                "Campaign ID",
                "reference",
                reference_to=("Campaign",),
                required=True,
                updateable=False,
            ),
            _f("Label", "Member Status", "string", 765, required=True),
            _f("IsDefault", "Is Default", "boolean", default=False),
            _f("HasResponded", "Responded", "boolean", default=False),
            _f("SortOrder", "Sort Order", "int", 9),
        ],
        # An activity. WhoId is polymorphic (a Lead or a Contact); Status and Priority are
        # required (not nillable) but defaulted on create. Salesforce types Subject as a
        # 255-character "combobox"; the sandbox's nearest type is string.
        "Task": [
            _f("WhoId", "Name ID", "reference", reference_to=("Contact", "Lead")),
            _f("WhatId", "Related To ID", "reference", reference_to=("Account", "Campaign")),
            _f("Subject", "Subject", "string", 255),
            _f("ActivityDate", "Due Date Only", "date"),
            _f(
                "Status",
                "Status",
                "picklist",
                required=True,
                default="Not Started",
                picklist_values=_picklist(
                    "Not Started",
                    "In Progress",
                    "Completed",
                    "Waiting on someone else",
                    "Deferred",
                    default="Not Started",
                ),
            ),
            _f(
                "Priority",
                "Priority",
                "picklist",
                required=True,
                default="Normal",
                picklist_values=_picklist("High", "Normal", "Low", default="Normal"),
            ),
            _f("Description", "Description", "textarea", 32000),
            _f("IsClosed", "Closed", "boolean", default=False, **READ_ONLY),
            _f(
                "TaskSubtype",
                "Task Subtype",
                "picklist",
                updateable=False,
                picklist_values=_picklist("Task", "Email", "Call"),
            ),
            _owner(),
        ],
        "RecordType": [
            _f("Name", "Record Type Label", "string", 80, required=True),
            _f("DeveloperName", "Record Type Name", "string", 80, required=True),
            _f("SobjectType", "SObject Type Name", "string", 40, required=True),
            _f("IsActive", "Active", "boolean", default=True),
        ],
        "User": [
            _f("Username", "Username", "string", 80, required=True, unique=True),
            _f("FirstName", "First Name", "string", 40),
            _f("LastName", "Last Name", "string", 80, required=True),
            name_ro,
            _f("Email", "Email", "email", 128, required=True),
            _f("IsActive", "Active", "boolean", default=True),
        ],
    }


_STANDARD_LABELS = {
    "Lead": ("Lead", "Leads"),
    "Contact": ("Contact", "Contacts"),
    "Account": ("Account", "Accounts"),
    "Campaign": ("Campaign", "Campaigns"),
    "CampaignMember": ("Campaign Member", "Campaign Members"),
    "CampaignMemberStatus": ("Campaign Member Status", "Campaign Member Statuses"),
    "Task": ("Task", "Tasks"),
    "RecordType": ("Record Type", "Record Types"),
    "User": ("User", "Users"),
}
# Objects the API cannot create or change through the sandbox's REST surface.
_READ_ONLY_OBJECTS = frozenset({"RecordType", "User"})


def _build_object(
    name: str,
    label: str,
    label_plural: str,
    key_prefix: str,
    custom: bool,
    own_fields: list[FieldDef],
    record_types: tuple[RecordTypeDef, ...] = (),
    duplicate_rules: tuple[DuplicateRuleDef, ...] = (),
) -> ObjectDef:
    fields = {f.name: f for f in _system_fields()}
    for own in own_fields:
        fields[own.name] = own
    writable = name not in _READ_ONLY_OBJECTS
    return ObjectDef(
        name=name,
        label=label,
        label_plural=label_plural,
        key_prefix=key_prefix,
        custom=custom,
        fields=fields,
        record_types=record_types,
        duplicate_rules=duplicate_rules,
        createable=writable,
        updateable=writable,
    )


def default_definition() -> OrgDefinition:
    objects: dict[str, ObjectDef] = {}
    for name, fields in _standard_fields().items():
        label, plural = _STANDARD_LABELS[name]
        record_types: tuple[RecordTypeDef, ...] = ()
        if name == "Lead":
            record_types = (RecordTypeDef("Web_Inquiry", "Web Inquiry", True, True),)
        objects[name] = _build_object(
            name, label, plural, STANDARD_KEY_PREFIXES[name], False, fields, record_types
        )
    return OrgDefinition(
        org_id="00D5g000004XyZaEAK",
        org_name="Sandbox Org",
        daily_api_limit=100_000,
        session_timeout_seconds=7200,
        users=(
            UserDef(
                username="admin@sandbox.example",
                password="sandbox-password",  # noqa: S106 - a documented demo credential
                first_name="Sandy",
                last_name="Admin",
                email="admin@sandbox.example",
            ),
        ),
        connected_apps=(
            ConnectedAppDef(
                name="Wagtail",
                client_id="sandbox-consumer-key",
                client_secret="sandbox-consumer-secret",  # noqa: S106 - demo credential
                callback_urls=DEFAULT_CALLBACK_URLS,
            ),
        ),
        objects=objects,
        seed_data={"Campaign": ({"Name": "Autumn Webinar", "IsActive": True},)},
    )


# --- reading a file --------------------------------------------------------------------------


class _Reader:
    """Type-checked access to one YAML mapping; errors name the file and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> OrgFileError:
        return OrgFileError(f"{self.source}: {path}: {problem}")

    def mapping(self, value: Any, path: str, allowed: frozenset[str] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, got {type(value).__name__}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(path, f"keys must be strings, got {key!r}")
            if allowed is not None and key not in allowed:
                raise self.fail(
                    f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
                )
        return value

    def typed(self, value: Any, path: str, kind: type | tuple[type, ...], what: str) -> Any:
        # bool is an int subclass; never accept it where a number is meant.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(path, f"must be {what}, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(path, f"must be {what}, got {value!r}")
        return value

    def string(self, value: Any, path: str) -> str:
        text = self.typed(value, path, str, "a string")
        if not text.strip():
            raise self.fail(path, "must not be empty")
        return text

    def boolean(self, value: Any, path: str) -> bool:
        return self.typed(value, path, bool, "true or false")

    def integer(self, value: Any, path: str, minimum: int = 0) -> int:
        number = self.typed(value, path, int, "an integer")
        if number < minimum:
            raise self.fail(path, f"must be at least {minimum}, got {number}")
        return number

    def string_list(self, value: Any, path: str) -> tuple[str, ...]:
        items = self.typed(value, path, list, "a list of strings")
        return tuple(self.string(item, f"{path}[{i}]") for i, item in enumerate(items))

    def record_list(
        self, value: Any, path: str, allowed: frozenset[str] | None
    ) -> list[dict[str, Any]]:
        items = self.typed(value, path, list, "a list")
        return [self.mapping(item, f"{path}[{i}]", allowed) for i, item in enumerate(items)]


_TOP_KEYS = frozenset({"org", "users", "connected_apps", "objects", "data"})
_ORG_KEYS = frozenset(
    {"id", "name", "daily_api_limit", "session_timeout_seconds", "api_enabled"}
)
_USER_KEYS = frozenset({"username", "password", "first_name", "last_name", "email"})
_APP_KEYS = frozenset(
    {"name", "client_id", "client_secret", "callback_urls", "require_pkce",
     "refresh_token_policy", "rotate_refresh_tokens"}
)  # fmt: skip
_POLICY_KEYS = frozenset({"mode", "seconds"})
_OBJECT_KEYS = frozenset({"label", "label_plural", "fields", "record_types", "duplicate_rules"})
_FIELD_KEYS = frozenset(
    {"type", "label", "length", "required", "unique", "external_id", "values", "restricted",
     "default", "reference_to", "createable", "updateable"}
)  # fmt: skip
_RECORD_TYPE_KEYS = frozenset({"developer_name", "name", "active", "default"})
_RULE_KEYS = frozenset({"name", "fields", "action", "active"})


def _label_from_name(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    return base.replace("_", " ")


def _read_field(
    reader: _Reader, name: str, spec: Any, path: str, base: FieldDef | None
) -> FieldDef:
    spec = reader.mapping(spec, path, _FIELD_KEYS)
    if base is None and "type" not in spec:
        raise reader.fail(f"{path}.type", "is required for a new field")
    type_ = base.type if base is not None and "type" not in spec else spec["type"]
    if type_ not in FIELD_TYPES:
        raise reader.fail(
            f"{path}.type",
            f"unknown field type {type_!r} (allowed: {', '.join(sorted(FIELD_TYPES))})",
        )
    changes: dict[str, Any] = {"type": type_}
    if "label" in spec:
        changes["label"] = reader.string(spec["label"], f"{path}.label")
    if "length" in spec:
        changes["length"] = reader.integer(spec["length"], f"{path}.length", minimum=1)
    for key, attribute in (
        ("required", "required"), ("unique", "unique"), ("external_id", "external_id"),
        ("restricted", "restricted"), ("createable", "createable"), ("updateable", "updateable"),
    ):  # fmt: skip
        if key in spec:
            changes[attribute] = reader.boolean(spec[key], f"{path}.{key}")
    if "values" in spec:
        if type_ not in ("picklist", "multipicklist"):
            raise reader.fail(
                f"{path}.values", "only picklist and multipicklist fields have values"
            )
        values = reader.string_list(spec["values"], f"{path}.values")
        default = spec.get("default")
        changes["picklist_values"] = tuple(PicklistValue(v, v, True, v == default) for v in values)
    if "reference_to" in spec:
        if type_ != "reference":
            raise reader.fail(f"{path}.reference_to", "only reference fields point to objects")
        target = spec["reference_to"]
        targets = (target,) if isinstance(target, str) else target
        changes["reference_to"] = reader.string_list(list(targets), f"{path}.reference_to")
    if "default" in spec:
        default = spec["default"]
        if not isinstance(default, str | int | float | bool):
            raise reader.fail(f"{path}.default", f"must be a scalar, got {default!r}")
        changes["default"] = default
    if (
        type_ == "reference"
        and not changes.get("reference_to")
        and (base is None or not base.reference_to)
    ):
        raise reader.fail(f"{path}.reference_to", "is required for a reference field")
    if base is not None:
        return replace(base, **changes)
    length = changes.pop("length", 0)
    label = changes.pop("label", _label_from_name(name))
    changes.pop("type")
    return _f(name, label, type_, length, custom=name.endswith("__c"), **changes)


def _read_object(
    reader: _Reader, name: str, spec: Any, base: ObjectDef | None, prefix: str | None
) -> ObjectDef:
    path = f"objects.{name}"
    spec = reader.mapping(spec if spec is not None else {}, path, _OBJECT_KEYS)
    fields_spec = reader.mapping(spec.get("fields", {}) or {}, f"{path}.fields", None)
    system_names = {f.name for f in _system_fields()}
    own: list[FieldDef] = (
        [] if base is None else [f for f in base.fields.values() if f.name not in system_names]
    )
    by_name = {f.name: i for i, f in enumerate(own)}
    for field_name, field_spec in fields_spec.items():
        field_path = f"{path}.fields.{field_name}"
        if not _NAME.match(field_name) or "___" in field_name:
            raise reader.fail(field_path, "is not a valid field name")
        if field_name in system_names:
            raise reader.fail(field_path, "is a system field and cannot be redefined")
        existing = own[by_name[field_name]] if field_name in by_name else None
        if (
            existing is None
            and not field_name.endswith("__c")
            and (base is not None or field_name != "Name")
        ):
            raise reader.fail(field_path, "custom field names must end in '__c'")
        parsed = _read_field(reader, field_name, field_spec, field_path, existing)
        if existing is None:
            by_name[field_name] = len(own)
            own.append(parsed)
        else:
            own[by_name[field_name]] = parsed
    if base is None:
        if "Name" not in by_name:
            own.insert(0, _f("Name", f"{_label_from_name(name)} Name", "string", 80, required=True))
        own.append(_owner())
    if "record_types" in spec and not any(f.name == "RecordTypeId" for f in own):
        own.append(_record_type())
    record_types = base.record_types if base is not None else ()
    if "record_types" in spec:
        record_types = tuple(
            RecordTypeDef(
                developer_name=reader.string(
                    rt.get("developer_name"), f"{path}.record_types[{i}].developer_name"
                ),
                name=reader.string(
                    rt.get("name", rt.get("developer_name")), f"{path}.record_types[{i}].name"
                ),
                active=reader.boolean(rt.get("active", True), f"{path}.record_types[{i}].active"),
                default=reader.boolean(
                    rt.get("default", False), f"{path}.record_types[{i}].default"
                ),
            )
            for i, rt in enumerate(
                reader.record_list(spec["record_types"], f"{path}.record_types", _RECORD_TYPE_KEYS)
            )
        )
    field_names = {f.name.lower(): f.name for f in own} | {n.lower(): n for n in system_names}
    rules = base.duplicate_rules if base is not None else ()
    if "duplicate_rules" in spec:
        parsed_rules = []
        for i, rule in enumerate(
            reader.record_list(spec["duplicate_rules"], f"{path}.duplicate_rules", _RULE_KEYS)
        ):
            rule_path = f"{path}.duplicate_rules[{i}]"
            rule_fields = reader.string_list(rule.get("fields"), f"{rule_path}.fields")
            if not rule_fields:
                raise reader.fail(f"{rule_path}.fields", "must name at least one field")
            for rule_field in rule_fields:
                if rule_field.lower() not in field_names:
                    raise reader.fail(f"{rule_path}.fields", f"no field {rule_field!r} on {name}")
            action = rule.get("action", "block")
            if action not in ("block", "allow"):
                raise reader.fail(
                    f"{rule_path}.action", f"must be 'block' or 'allow', got {action!r}"
                )
            parsed_rules.append(
                DuplicateRuleDef(
                    name=reader.string(rule.get("name"), f"{rule_path}.name"),
                    fields=tuple(field_names[f.lower()] for f in rule_fields),
                    action=action,
                    active=reader.boolean(rule.get("active", True), f"{rule_path}.active"),
                )
            )
        rules = tuple(parsed_rules)
    if base is not None:
        return _build_object(
            name,
            reader.string(spec.get("label", base.label), f"{path}.label"),
            reader.string(spec.get("label_plural", base.label_plural), f"{path}.label_plural"),
            base.key_prefix,
            base.custom,
            own,
            record_types,
            rules,
        )
    label = reader.string(spec.get("label", _label_from_name(name)), f"{path}.label")
    assert prefix is not None
    return _build_object(
        name,
        label,
        reader.string(spec.get("label_plural", label + "s"), f"{path}.label_plural"),
        prefix,
        True,
        own,
        record_types,
        rules,
    )


def _apply(source: str, raw: Any, base: OrgDefinition) -> OrgDefinition:
    reader = _Reader(source)
    if raw is None:
        return base
    top = reader.mapping(raw, "(top level)", _TOP_KEYS)
    changes: dict[str, Any] = {}

    org = reader.mapping(top.get("org") or {}, "org", _ORG_KEYS)
    if "id" in org:
        org_id = reader.string(org["id"], "org.id")
        if not re.match(r"^00D[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?$", org_id):
            raise reader.fail("org.id", f"must be an Organization id (00D...), got {org_id!r}")
        changes["org_id"] = org_id
    if "name" in org:
        changes["org_name"] = reader.string(org["name"], "org.name")
    if "daily_api_limit" in org:
        changes["daily_api_limit"] = reader.integer(
            org["daily_api_limit"], "org.daily_api_limit", 1
        )
    if "api_enabled" in org:
        changes["api_enabled"] = reader.boolean(org["api_enabled"], "org.api_enabled")
    if "session_timeout_seconds" in org:
        changes["session_timeout_seconds"] = reader.integer(
            org["session_timeout_seconds"], "org.session_timeout_seconds", 1
        )

    if "users" in top:
        users = []
        for i, user in enumerate(reader.record_list(top["users"], "users", _USER_KEYS)):
            path = f"users[{i}]"
            for required in ("username", "password", "last_name", "email"):
                if required not in user:
                    raise reader.fail(f"{path}.{required}", "is required")
            users.append(
                UserDef(
                    username=reader.string(user["username"], f"{path}.username"),
                    password=reader.string(user["password"], f"{path}.password"),
                    first_name=reader.typed(
                        user.get("first_name", ""), f"{path}.first_name", str, "a string"
                    ),
                    last_name=reader.string(user["last_name"], f"{path}.last_name"),
                    email=reader.string(user["email"], f"{path}.email"),
                )
            )
        if not users:
            raise reader.fail("users", "must list at least one user")
        changes["users"] = tuple(users)

    if "connected_apps" in top:
        apps = []
        for i, app in enumerate(
            reader.record_list(top["connected_apps"], "connected_apps", _APP_KEYS)
        ):
            path = f"connected_apps[{i}]"
            for required in ("name", "client_id", "client_secret", "callback_urls"):
                if required not in app:
                    raise reader.fail(f"{path}.{required}", "is required")
            policy = reader.mapping(
                app.get("refresh_token_policy", {"mode": "until_revoked"}),
                f"{path}.refresh_token_policy",
                _POLICY_KEYS,
            )
            mode = policy.get("mode", "until_revoked")
            if mode not in ("until_revoked", "expire_after"):
                raise reader.fail(
                    f"{path}.refresh_token_policy.mode",
                    f"must be 'until_revoked' or 'expire_after', got {mode!r}",
                )
            ttl = None
            if mode == "expire_after":
                if "seconds" not in policy:
                    raise reader.fail(
                        f"{path}.refresh_token_policy.seconds", "is required for expire_after"
                    )
                ttl = reader.integer(policy["seconds"], f"{path}.refresh_token_policy.seconds", 1)
            elif "seconds" in policy:
                raise reader.fail(
                    f"{path}.refresh_token_policy.seconds", "only applies to expire_after"
                )
            apps.append(
                ConnectedAppDef(
                    name=reader.string(app["name"], f"{path}.name"),
                    client_id=reader.string(app["client_id"], f"{path}.client_id"),
                    client_secret=reader.string(app["client_secret"], f"{path}.client_secret"),
                    callback_urls=reader.string_list(app["callback_urls"], f"{path}.callback_urls"),
                    require_pkce=reader.boolean(
                        app.get("require_pkce", True), f"{path}.require_pkce"
                    ),
                    refresh_token_policy_mode=mode,
                    refresh_token_ttl_seconds=ttl,
                    rotate_refresh_tokens=reader.boolean(
                        app.get("rotate_refresh_tokens", False), f"{path}.rotate_refresh_tokens"
                    ),
                )
            )
        changes["connected_apps"] = tuple(apps)

    objects = dict(base.objects)
    if "objects" in top:
        specs = reader.mapping(top["objects"] or {}, "objects", None)
        new_custom = [n for n in specs if n not in objects]
        for object_name in new_custom:
            if not _NAME.match(object_name) or not object_name.endswith("__c"):
                raise reader.fail(
                    f"objects.{object_name}",
                    "is not a standard object; custom object names must end in '__c'",
                )
        existing_custom = [n for n, o in objects.items() if o.custom]
        prefixes = custom_key_prefixes(existing_custom + new_custom)
        for object_name, spec in specs.items():
            objects[object_name] = _read_object(
                reader, object_name, spec, objects.get(object_name), prefixes.get(object_name)
            )
        changes["objects"] = objects

    if "data" in top:
        seed = dict(base.seed_data)
        data = reader.mapping(top["data"] or {}, "data", None)
        for object_name, records in data.items():
            if object_name not in objects:
                raise reader.fail(f"data.{object_name}", "is not an object of this org")
            seed[object_name] = tuple(
                dict(record) for record in reader.record_list(records, f"data.{object_name}", None)
            )
        changes["seed_data"] = seed
    return replace(base, **changes)


def load_org_definition(path: str | Path | None) -> OrgDefinition:
    """The built-in org, or the built-in org overridden/extended by the YAML file at ``path``."""
    base = default_definition()
    if path is None:
        return base
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise OrgFileError(f"{source}: cannot read the org file: {error.strerror}") from error
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise OrgFileError(f"{source}: not valid YAML: {error}") from error
    return _apply(source, raw, base)


def definition_from_mapping(
    raw: Mapping[str, Any], source: str = "<org definition>"
) -> OrgDefinition:
    """Like ``load_org_definition`` for an already parsed mapping (tests, programmatic set-up)."""
    return _apply(source, dict(raw), default_definition())
