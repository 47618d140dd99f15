"""The online check: does the config fit the connected org's metadata?

``check_against_org(config, metadata)`` is pure: it reads describes and campaigns through the
``OrgMetadata`` protocol and returns issues located in the YAML (file and line), so it can be
tested against any org-shaped source. ``ClientOrgMetadata`` implements the protocol with the
package's Salesforce client (``manage.py salesforce_check`` uses it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Protocol

from wagtail_salesforce.client import SalesforceClient, soql_quote
from wagtail_salesforce.exceptions import NotFound

from .errors import ERROR, WARNING, ConfigIssue, did_you_mean
from .model import Constant, FormMapping, From, OnUpdate, SalesforceConfig, Scalar, Template

# Field types a template (which always makes text) may fill.
TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "encryptedstring"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
# Field types ``on_update: append`` can add a dated block of text to.
APPENDABLE_TYPES = frozenset({"string", "textarea"})
# The Task fields an ``activity:`` writes, and the status it is recorded with.
ACTIVITY_TASK_FIELDS = ("WhoId", "Subject", "Status", "ActivityDate", "Description")
ACTIVITY_STATUS = "Completed"


class OrgMetadata(Protocol):
    """What the online check reads from an org."""

    def describe(self, sobject: str) -> dict[str, Any] | None:
        """The sObject's describe (``fields``, ``recordTypeInfos``, ...), None if there is none."""
        ...

    def campaign(self, name: str | None = None, id: str | None = None) -> dict[str, Any] | None:
        """``{"Id", "Name", "IsActive"}`` of the campaign with that name or id, None if absent."""
        ...

    def campaign_member_statuses(self, campaign_id: str) -> list[str]:
        """The campaign's member status labels (CampaignMemberStatus.Label)."""
        ...


class ClientOrgMetadata:
    """``OrgMetadata`` over the package's ``SalesforceClient``."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def describe(self, sobject: str) -> dict[str, Any] | None:
        try:
            return self.client.describe(sobject)
        except NotFound:
            return None

    def campaign(self, name: str | None = None, id: str | None = None) -> dict[str, Any] | None:
        if (name is None) == (id is None):
            raise ValueError("give exactly one of name or id")
        # Values go through soql_quote, which applies Salesforce's escapes.
        if name is not None:
            condition = f"Name = {soql_quote(name)}"
        else:
            condition = f"Id = {soql_quote(str(id))}"
        soql = f"SELECT Id, Name, IsActive FROM Campaign WHERE {condition} LIMIT 1"  # noqa: S608
        page = self.client.query(soql)
        records = page.get("records") or []
        return dict(records[0]) if records else None

    def campaign_member_statuses(self, campaign_id: str) -> list[str]:
        quoted_id = soql_quote(campaign_id)
        soql = f"SELECT Label FROM CampaignMemberStatus WHERE CampaignId = {quoted_id}"  # noqa: S608
        page = self.client.query(soql)
        return [str(record["Label"]) for record in page.get("records") or []]


class _Checker:
    def __init__(self, config: SalesforceConfig, metadata: OrgMetadata) -> None:
        self.config = config
        self.metadata = metadata
        self.issues: list[ConfigIssue] = []
        self._describes: dict[str, dict[str, Any] | None] = {}

    # --- helpers -------------------------------------------------------------------------

    def issue(self, path: str, message: str, hint: str = "", severity: str = ERROR) -> None:
        location = self.config.location_of(path)
        self.issues.append(
            ConfigIssue(
                location.file if location else "",
                location.line if location else None,
                location.column if location else None,
                path,
                message,
                hint,
                severity,
            )
        )

    def describe(self, sobject: str) -> dict[str, Any] | None:
        if sobject not in self._describes:
            self._describes[sobject] = self.metadata.describe(sobject)
        return self._describes[sobject]

    def field(self, path: str, sobject: str, describe: Mapping[str, Any], name: str) -> Any:
        """The field's describe entry, or None after reporting it unknown."""
        fields = {f["name"]: f for f in describe.get("fields") or []}
        if name in fields:
            return fields[name]
        self.issue(
            path, f"unknown Salesforce field '{name}' on {sobject}", did_you_mean(name, fields)
        )
        return None

    def constant(self, path: str, sobject: str, field: Mapping[str, Any], value: Scalar) -> None:
        problem, severity, hint = _constant_problem(field, value)
        if problem:
            self.issue(path, f"{sobject}.{field['name']}: {problem}", hint, severity)

    def required_fields(self, describe: Mapping[str, Any]) -> list[str]:
        """Fields a create must set: createable, not nillable, not defaulted by Salesforce."""
        return [
            f["name"]
            for f in describe.get("fields") or []
            if f.get("createable")
            and not f.get("nillable", True)
            and not f.get("defaultedOnCreate")
            and f.get("type") != "boolean"
        ]

    # --- forms ---------------------------------------------------------------------------

    def check_form(self, form: FormMapping) -> None:
        base = f"forms.{form.key}"
        describe = self.describe(form.object)
        if describe is None:
            self.issue(f"{base}.object", f"unknown Salesforce object '{form.object}'")
            return
        if describe.get("createable") is False:
            self.issue(f"{base}.object", f"{form.object} records cannot be created by this user")
        may_update = form.match_on is not None or form.external_id is not None
        for name, source in form.fields.items():
            path = f"{base}.fields.{name}"
            field = self.field(path, form.object, describe, name)
            if field is None:
                continue
            if not field.get("createable"):
                self.issue(
                    path, f"{form.object}.{name} is not createable (read-only for this user)"
                )
            if may_update and not field.get("updateable"):
                why = "match_on" if form.match_on else "external_id"
                self.issue(
                    path,
                    f"{form.object}.{name} is not updateable, but with {why} a submission may "
                    "update an existing record",
                )
            if isinstance(source, Constant):
                self.constant(path, form.object, field, source.value)
            elif isinstance(source, From) and source.has_default:
                self.constant(f"{path}.default", form.object, field, source.default)
            elif isinstance(source, Template) and field.get("type") not in TEXT_TYPES:
                self.issue(
                    path,
                    f"a template makes text, but {form.object}.{name} is a {field.get('type')} "
                    "field",
                )
            self.check_on_update(path, form, field, may_update)
        filled = set(form.fields)
        if form.record_type:
            filled.add("RecordTypeId")
        if form.external_id:
            filled.add(form.external_id)
        for name in self.required_fields(describe):
            if name not in filled:
                self.issue(
                    f"{base}.fields",
                    f"{form.object}.{name} is required but not mapped",
                    f"add e.g. {name}: {{from: ..., default: ...}} or {{value: ...}}",
                )
        if form.record_type:
            self.check_record_type(f"{base}.record_type", form.object, describe, form.record_type)
        if form.match_on:
            field = self.field(f"{base}.match_on", form.object, describe, form.match_on)
            if field is not None and field.get("filterable") is False:
                self.issue(
                    f"{base}.match_on", f"{form.object}.{form.match_on} cannot be searched on"
                )
        if form.external_id:
            field = self.field(f"{base}.external_id", form.object, describe, form.external_id)
            if field is not None and not field.get("externalId"):
                self.issue(
                    f"{base}.external_id",
                    f"{form.object}.{form.external_id} is not an External ID field",
                    "tick 'External ID' on the field in Salesforce's Object Manager",
                )
        if form.campaign is not None:
            self.check_campaign(f"{base}.campaign", form)
        if form.activity is not None:
            self.check_activity(f"{base}.activity")

    def check_on_update(
        self, path: str, form: FormMapping, field: Mapping[str, Any], may_update: bool
    ) -> None:
        name = field["name"]
        on_update = form.on_update.get(name)
        if on_update is None:
            return
        if not may_update:
            self.issue(
                f"{path}.on_update",
                "on_update has no effect: this mapping only creates records",
                "add match_on (e.g. match_on: Email) or external_id, or remove on_update",
                WARNING,
            )
        if on_update is OnUpdate.APPEND and field.get("type") not in APPENDABLE_TYPES:
            self.issue(
                f"{path}.on_update",
                f"append adds text, but {form.object}.{name} is a {field.get('type')} field",
                "use on_update: keep or overwrite",
            )

    def check_activity(self, path: str) -> None:
        describe = self.describe("Task")
        if describe is None:
            self.issue(
                path,
                "the org has no Task object, so no activity can be recorded",
                "turn on activities in Salesforce, or remove 'activity'",
            )
            return
        if describe.get("createable") is False:
            self.issue(
                path,
                "Task records cannot be created by this user",
                "give the connected user the 'Edit Tasks' permission",
            )
        fields = {f["name"]: f for f in describe.get("fields") or []}
        for name in ACTIVITY_TASK_FIELDS:
            field = fields.get(name)
            if field is None:
                self.issue(path, f"the org's Task object has no field {name}")
            elif not field.get("createable"):
                self.issue(path, f"Task.{name} is not createable (read-only for this user)")
        status = fields.get("Status")
        values = _picklist_values(status) if status else []
        if values and ACTIVITY_STATUS not in values:
            self.issue(
                path,
                f"Task.Status has no value '{ACTIVITY_STATUS}' (it has: {', '.join(values)})",
                f"add the '{ACTIVITY_STATUS}' task status in Salesforce's Setup",
            )

    def check_record_type(
        self, path: str, sobject: str, describe: Mapping[str, Any], developer_name: str
    ) -> None:
        infos = [i for i in describe.get("recordTypeInfos") or [] if not i.get("master")]
        by_name = {i.get("developerName"): i for i in infos}
        info = by_name.get(developer_name)
        if info is None:
            self.issue(
                path,
                f"{sobject} has no record type '{developer_name}'",
                did_you_mean(developer_name, [n for n in by_name if n]),
            )
        elif info.get("active") is False:
            self.issue(path, f"{sobject} record type '{developer_name}' is inactive")
        elif info.get("available") is False:
            self.issue(
                path,
                f"{sobject} record type '{developer_name}' is not available to the connected user",
                "assign it to the user's profile or permission set",
            )

    def check_campaign(self, path: str, form: FormMapping) -> None:
        ref = form.campaign
        assert ref is not None
        if ref.name is not None:
            campaign = self.metadata.campaign(name=ref.name)
            what, where = f"named '{ref.name}'", f"{path}.name"
        else:
            campaign = self.metadata.campaign(id=ref.id)
            what, where = f"with Id '{ref.id}'", f"{path}.id"
        if campaign is None:
            self.issue(where, f"there is no campaign {what}")
            return
        if not campaign.get("IsActive"):
            self.issue(where, f"the campaign {what} is not active", "tick 'Active' on the campaign")
        if ref.member_status is not None:
            statuses = self.metadata.campaign_member_statuses(str(campaign["Id"]))
            if ref.member_status not in statuses:
                self.issue(
                    f"{path}.member_status",
                    f"'{ref.member_status}' is not a member status of the campaign {what} "
                    f"(it has: {', '.join(statuses) or 'none'})",
                    did_you_mean(ref.member_status, statuses),
                )

    # --- sync ----------------------------------------------------------------------------

    def check_sync(self) -> None:
        sync = self.config.sync
        if sync is None:
            return
        describes: dict[str, Mapping[str, Any]] = {}
        describe: Mapping[str, Any] | None
        for index, sobject in enumerate(sync.match):
            describe = self.describe(sobject)
            if describe is None:
                self.issue(f"sync.match[{index}]", f"unknown Salesforce object '{sobject}'")
                continue
            describes[sobject] = describe
            self.field("sync.match", sobject, describe, "Email")
        create_describe = describes.get(sync.create_as)
        if create_describe is not None and create_describe.get("createable") is False:
            self.issue("sync.create_as", f"{sync.create_as} records cannot be created by this user")
        created_fields = {"Email"}
        for local, spec in sync.fields.items():
            for sobject, name in spec.salesforce.items():
                describe = describes.get(sobject)
                if describe is None:
                    continue
                path = f"sync.fields.{local}.{sobject}"
                field = self.field(path, sobject, describe, name)
                if field is None or not spec.direction.pushes:
                    continue
                if not field.get("updateable"):
                    self.issue(
                        path,
                        f"{sobject}.{name} is not updateable, but direction "
                        f"'{spec.direction}' pushes local changes to it",
                        "use direction: from_salesforce",
                    )
                if sobject == sync.create_as:
                    created_fields.add(name)
                    if not field.get("createable"):
                        self.issue(path, f"{sobject}.{name} is not createable")
        if create_describe is None:
            return
        for name, value in sync.defaults.items():
            path = f"sync.defaults.{name}"
            field = self.field(path, sync.create_as, create_describe, name)
            if field is None:
                continue
            created_fields.add(name)
            if not field.get("createable"):
                self.issue(path, f"{sync.create_as}.{name} is not createable")
            self.constant(path, sync.create_as, field, value)
        for name in self.required_fields(create_describe):
            if name not in created_fields:
                self.issue(
                    "sync.create_as",
                    f"{sync.create_as}.{name} is required but sync would create records without it",
                    "map it in sync.fields (direction both or to_salesforce) or add it to "
                    "sync.defaults",
                )


def _picklist_values(field: Mapping[str, Any]) -> list[str]:
    return [str(p["value"]) for p in field.get("picklistValues") or [] if p.get("active", True)]


def _constant_problem(field: Mapping[str, Any], value: Scalar) -> tuple[str, str, str]:
    """(problem, severity, hint) for a constant going into ``field``; problem "" when it fits."""
    kind = field.get("type", "string")
    if value is None:
        if not field.get("nillable", True):
            return "cannot be empty", ERROR, ""
        return "", ERROR, ""
    if kind == "boolean":
        if not isinstance(value, bool):
            return f"{value!r} is not true or false (a checkbox field)", ERROR, ""
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{value!r} is not a whole number (an int field)", ERROR, ""
    elif kind in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number (a {kind} field)", ERROR, ""
    elif kind == "date":
        if not (isinstance(value, str) and _DATE.match(value) and _is_date(value)):
            return f"{value!r} is not a date (YYYY-MM-DD)", ERROR, ""
    elif kind == "datetime":
        if not (isinstance(value, str) and _DATETIME.match(value)):
            return f"{value!r} is not a datetime (e.g. 2026-11-29T09:00:00Z)", ERROR, ""
    elif kind in {"reference", "id"}:
        if not (isinstance(value, str) and _RECORD_ID.match(value)):
            return f"{value!r} is not a record Id (15 or 18 letters and digits)", ERROR, ""
    elif kind in {"picklist", "multipicklist"}:
        allowed = _picklist_values(field)
        chosen = str(value).split(";") if kind == "multipicklist" else [str(value)]
        for item in chosen:
            if allowed and item not in allowed:
                restricted = bool(field.get("restrictedPicklist"))
                return (
                    f"{item!r} is not one of the picklist's values ({', '.join(allowed)})"
                    + ("; the picklist is restricted" if restricted else ""),
                    ERROR if restricted else WARNING,
                    did_you_mean(item, allowed),
                )
    elif kind == "email":
        if not (isinstance(value, str) and "@" in value):
            return f"{value!r} is not an email address", ERROR, ""
    elif isinstance(value, bool):
        return f"{value!r} is true/false, but {field['name']} is a {kind} field", ERROR, ""
    length = field.get("length") or 0
    if kind in TEXT_TYPES and length and len(str(value)) > length:
        return f"{len(str(value))} characters is longer than the field's {length}", ERROR, ""
    return "", ERROR, ""


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_against_org(config: SalesforceConfig, metadata: OrgMetadata) -> list[ConfigIssue]:
    """Every way ``config`` does not fit the org behind ``metadata`` (errors and warnings)."""
    checker = _Checker(config, metadata)
    for form in config.forms.values():
        checker.check_form(form)
    checker.check_sync()
    return checker.issues
