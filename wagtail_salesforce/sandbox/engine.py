"""The sandbox org: schema, records, Salesforce's validation rules and SOQL — no HTTP here.

Records are kept in memory as lists aligned with each object's field order (far smaller than
dicts: 100,000 Leads fit in a few dozen MB) with indexes on Id, e-mail fields, unique/external-ID
fields and reference fields. With ``data_path`` every change is also written through to a SQLite
file and the records are loaded from it at start, so an org survives restarts.

Values are JSON-shaped as Salesforce returns them: datetimes ``2026-11-29T01:24:02.000+0000`` (UTC),
dates ``2026-11-29``, booleans, numbers and ``None``. Every public method holds one lock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import soql
from .errors import SfApiError
from .ids import MASTER_RECORD_TYPE_ID, counter_of, is_valid_id, key_prefix, make_id, to_18
from .orgfile import FieldDef, ObjectDef, OrgDefinition, PicklistValue

__all__ = ["Org", "QueryResult", "SfApiError"]

DEFAULT_API_VERSION = "62.0"
REPLICATION_WINDOW = timedelta(days=30)
TEXT_TYPES = soql.TEXT_TYPES
NUMBER_TYPES = soql.NUMBER_TYPES
# Reference fields not worth an index: nearly every row shares the same few values.
_UNINDEXED_REFERENCES = frozenset({"OwnerId", "CreatedById", "LastModifiedById", "RecordTypeId"})
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_VALUE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?$"
)
_NUMERIC = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_NAMED_OBJECTS = frozenset({"Lead", "Contact", "User"})  # Name = FirstName + LastName
# merge(): the objects this sandbox merges, and how many records go into one master at most.
MERGEABLE_OBJECTS = frozenset({"Lead", "Contact"})
MAX_MERGED_RECORDS = 2
# Campaign members follow a merged lead or contact to the master.
_MEMBER_REFERENCE = {"Lead": "LeadId", "Contact": "ContactId"}


def _version_path(api_version: str) -> str:
    version = api_version.lstrip("v")
    return f"v{version}"


def _wall_clock_never_backwards(
    source: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[], datetime]:
    """UTC wall-clock time that never steps back (an NTP correction could otherwise make a later
    write look older: recent-item order and the SystemModstamp index rely on it)."""
    latest = datetime.min.replace(tzinfo=UTC)
    lock = threading.Lock()

    def now() -> datetime:
        nonlocal latest
        moment = source()
        with lock:
            latest = max(latest, moment)
            return latest

    return now


def format_datetime(moment: datetime) -> str:
    return soql.format_datetime(moment)


def parse_datetime_value(text: str) -> datetime | None:
    match = _DATETIME_VALUE.match(text)
    if not match:
        return None
    day, clock, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    if len(zone) == 5:
        zone = zone[:3] + ":" + zone[3:]
    try:
        return datetime.fromisoformat(f"{day}T{clock}{zone}").astimezone(UTC)
    except ValueError:
        return None


# --- storage ---------------------------------------------------------------------------------


class _Index:
    """value -> id or set of ids (a lone id is stored bare: most keys map to one record)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[Any, str | set[str]] = {}

    def add(self, key: Any, record_id: str) -> None:
        if key is None:
            return
        current = self.entries.get(key)
        if current is None:
            self.entries[key] = record_id
        elif isinstance(current, set):
            current.add(record_id)
        elif current != record_id:
            self.entries[key] = {current, record_id}

    def remove(self, key: Any, record_id: str) -> None:
        current = self.entries.get(key)
        if current is None:
            return
        if isinstance(current, set):
            current.discard(record_id)
            if len(current) == 1:
                self.entries[key] = next(iter(current))
            elif not current:
                del self.entries[key]
        elif current == record_id:
            del self.entries[key]

    def get(self, key: Any) -> tuple[str, ...]:
        current = self.entries.get(key)
        if current is None:
            return ()
        if isinstance(current, set):
            return tuple(current)
        return (current,)


class _Table:
    def __init__(self, definition: ObjectDef) -> None:
        self.definition = definition
        self.columns: list[str] = list(definition.fields)
        self.column_of: dict[str, int] = {name: i for i, name in enumerate(self.columns)}
        # id -> row, in order of last modification (re-inserted on each write), which lets a
        # "SystemModstamp > x" query walk back from the newest rows while the clock is monotonic.
        self.rows: dict[str, list[Any]] = {}
        self.deleted_dates: dict[str, str] = {}
        self.indexes: dict[int, _Index] = {}
        for name, field_def in definition.fields.items():
            indexed = (
                field_def.type == "email"
                or field_def.unique
                or field_def.external_id
                or (field_def.type == "reference" and name not in _UNINDEXED_REFERENCES)
            )
            if indexed:
                self.indexes[self.column_of[name]] = _Index()
        self.modstamps_monotonic = True
        self.latest_modstamp = ""

    def index_key(self, column: int, value: Any) -> Any:
        if value is None:
            return None
        field_def = self.definition.fields[self.columns[column]]
        return value.lower() if field_def.type in TEXT_TYPES else value

    def put(self, record_id: str, row: list[Any]) -> None:
        old = self.rows.pop(record_id, None)
        for column, index in self.indexes.items():
            if old is not None:
                index.remove(self.index_key(column, old[column]), record_id)
            index.add(self.index_key(column, row[column]), record_id)
        self.rows[record_id] = row
        stamp = row[self.column_of["SystemModstamp"]] or ""
        if stamp < self.latest_modstamp:
            self.modstamps_monotonic = False
        else:
            self.latest_modstamp = stamp

    def as_dict(self, row: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.columns, row, strict=True))


# --- queries ---------------------------------------------------------------------------------


@dataclass
class QueryResult:
    """Matched record ids, projected into records a page at a time (never all at once)."""

    total_size: int
    sobject: str
    ids: list[str] = field(default_factory=list, repr=False)
    is_count: bool = False
    _project: Callable[[Sequence[str]], list[dict[str, Any]]] | None = field(
        default=None, repr=False
    )

    def page(self, start: int, size: int) -> list[dict[str, Any]]:
        if self.is_count or self._project is None:
            return []
        return self._project(self.ids[start : start + size])


class _Catalog:
    """The SOQL evaluator's view of the org (see ``soql.Catalog``)."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def find_object(self, name: str) -> ObjectDef | None:
        canonical = self.org._canonical.get(name.lower())
        return None if canonical is None else self.org.definition.objects[canonical]

    def column(self, sobject: str, field_name: str) -> int:
        return self.org._tables[sobject].column_of[field_name]

    def fetch_row(self, sobject: str, record_id: str) -> Sequence[Any] | None:
        return self.org._tables[sobject].rows.get(record_id)


# --- the org ---------------------------------------------------------------------------------


class Org:
    def __init__(
        self,
        definition: OrgDefinition,
        data_path: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.definition = definition
        self._initial_definition = definition
        self._clock = clock or _wall_clock_never_backwards()
        self._lock = threading.RLock()
        self._canonical = {name.lower(): name for name in definition.objects}
        self._by_key_prefix = {obj.key_prefix: name for name, obj in definition.objects.items()}
        self._tables: dict[str, _Table] = {}
        self._counters: dict[str, int] = {}
        self._passwords = {u.username.lower(): u.password for u in definition.users}
        self._catalog = _Catalog(self)
        self._db: sqlite3.Connection | None = None
        self._started = ""
        # Per object: when its metadata (fields, picklists, record types) last changed, in whole
        # seconds as HTTP dates have them; a describe answers Last-Modified from this.
        self._metadata_changed: dict[str, datetime] = {}
        with self._lock:
            self._reset_tables()
            if data_path is not None:
                try:
                    self._open_database(data_path)
                except (sqlite3.Error, ValueError) as error:
                    raise ValueError(
                        f"{data_path}: cannot use this file for the sandbox's records: {error}"
                    ) from error
            seeded = self._meta("seeded") == "1"
            self._started = self._meta("started") or self._stamp()
            self._set_meta("started", self._started)
            self._ensure_system_records()
            self._load_metadata_times()
            if not seeded:
                self._seed()
                self._set_meta("seeded", "1")

    # --- set-up ---------------------------------------------------------------------------

    def _reset_tables(self) -> None:
        self._tables = {name: _Table(obj) for name, obj in self.definition.objects.items()}
        self._counters = {}
        self._memory_meta: dict[str, str] = {}

    def _open_database(self, data_path: str) -> None:
        # check_same_thread=False: the server calls from many threads, always under self._lock.
        self._db = sqlite3.connect(data_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records "
            "(id TEXT PRIMARY KEY, sobject TEXT NOT NULL, data TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        for record_id, sobject, data in self._db.execute("SELECT id, sobject, data FROM records"):
            table = self._tables.get(sobject)
            if table is None:
                continue  # an object the current definition no longer has
            values = json.loads(data)
            deleted_date = values.pop("_deletedDate", None)
            row = [values.get(column) for column in table.columns]
            table.put(record_id, row)
            if deleted_date is not None:
                table.deleted_dates[record_id] = deleted_date
            prefix = key_prefix(record_id)
            self._counters[prefix] = max(self._counters.get(prefix, 0), counter_of(record_id))

    def _meta(self, key: str) -> str | None:
        if self._db is None:
            return self._memory_meta.get(key)
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else found[0]

    def _set_meta(self, key: str, value: str) -> None:
        if self._db is None:
            self._memory_meta[key] = value
        else:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _load_metadata_times(self) -> None:
        """Each object's metadata time: kept from the data file while its definition is the same
        (a fingerprint is stored beside it), otherwise now, as for an admin's edit."""
        changed = []
        for name, obj in self.definition.objects.items():
            stored = self._meta(f"metadata:{name}")
            fingerprint, _, moment = (stored or "").partition("|")
            if stored is not None and fingerprint == _fingerprint(obj):
                self._metadata_changed[name] = datetime.fromisoformat(moment)
            else:
                changed.append(name)
        self._touch_metadata(*changed)

    def _touch_metadata(self, *sobjects: str) -> None:
        """Record that these objects' metadata changed now. Times are whole seconds, as HTTP
        dates have them, and each change is later than every earlier one (of any object, for
        the global describe), so a client holding the previous Last-Modified sees it."""
        if not sobjects:
            return
        changed = self._now().replace(microsecond=0)
        if self._metadata_changed:
            changed = max(changed, max(self._metadata_changed.values()) + timedelta(seconds=1))
        for sobject in sobjects:
            self._metadata_changed[sobject] = changed
            self._store_metadata_time(sobject)

    def _store_metadata_time(self, sobject: str) -> None:
        fingerprint = _fingerprint(self.definition.objects[sobject])
        changed = self._metadata_changed[sobject]
        self._set_meta(f"metadata:{sobject}", f"{fingerprint}|{changed.isoformat()}")

    def _persist(self, table: _Table, record_id: str) -> None:
        if self._db is None:
            return
        row = table.rows[record_id]
        data = {c: v for c, v in zip(table.columns, row, strict=True) if v is not None}
        if record_id in table.deleted_dates:
            data["_deletedDate"] = table.deleted_dates[record_id]
        self._db.execute(
            "INSERT OR REPLACE INTO records (id, sobject, data) VALUES (?, ?, ?)",
            (record_id, table.definition.name, json.dumps(data, separators=(",", ":"))),
        )

    def _ensure_system_records(self) -> None:
        """Users and record types follow the definition, whatever the stored data says."""
        users = self._tables["User"]
        by_username = {
            (row[users.column_of["Username"]] or "").lower(): record_id
            for record_id, row in users.rows.items()
        }
        for user in self.definition.users:
            values = {
                "Username": user.username,
                "FirstName": user.first_name or None,
                "LastName": user.last_name,
                "Email": user.email,
                "IsActive": True,
            }
            existing = by_username.get(user.username.lower())
            self._write_system_record("User", existing, values)
        record_types = self._tables["RecordType"]
        type_column = record_types.column_of["SobjectType"]
        name_column = record_types.column_of["DeveloperName"]
        by_key = {
            (row[type_column], row[name_column]): record_id
            for record_id, row in record_types.rows.items()
        }
        for obj in self.definition.objects.values():
            for record_type in obj.record_types:
                values = {
                    "Name": record_type.name,
                    "DeveloperName": record_type.developer_name,
                    "SobjectType": obj.name,
                    "IsActive": record_type.active,
                }
                existing = by_key.get((obj.name, record_type.developer_name))
                self._write_system_record("RecordType", existing, values)

    def _write_system_record(self, sobject: str, record_id: str | None, values: dict) -> None:
        table = self._tables[sobject]
        if record_id is not None:
            row = list(table.rows[record_id])
            if all(row[table.column_of[k]] == v for k, v in values.items()):
                return
        else:
            record_id = self._new_id(table.definition)
            row = self._blank_row(table, record_id)
        self._stamp_row(table, row, created=record_id not in table.rows)
        for name, value in values.items():
            row[table.column_of[name]] = value
        self._compute_derived(table, row)
        table.put(record_id, list(row))
        self._persist(table, record_id)

    def _seed(self) -> None:
        for sobject, records in self.definition.seed_data.items():
            for position, values in enumerate(records):
                try:
                    self._create(sobject, dict(values))
                except SfApiError as error:
                    raise ValueError(
                        f"seed record data.{sobject}[{position}] is invalid: "
                        f"{error.error_code}: {error.message}"
                    ) from error

    # --- small helpers --------------------------------------------------------------------

    def _now(self) -> datetime:
        moment = self._clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _stamp(self) -> str:
        return format_datetime(self._now())

    def _new_id(self, obj: ObjectDef) -> str:
        counter = self._counters.get(obj.key_prefix, 0) + 1
        self._counters[obj.key_prefix] = counter
        return make_id(obj.key_prefix, counter)

    def _default_user_id(self) -> str | None:
        users = self._tables["User"]
        wanted = self.definition.users[0].username.lower() if self.definition.users else None
        for record_id, row in users.rows.items():
            if (row[users.column_of["Username"]] or "").lower() == wanted:
                return record_id
        return None

    def _blank_row(self, table: _Table, record_id: str) -> list[Any]:
        row: list[Any] = [None] * len(table.columns)
        row[table.column_of["Id"]] = record_id
        row[table.column_of["IsDeleted"]] = False
        return row

    def _stamp_row(self, table: _Table, row: list[Any], created: bool) -> None:
        stamp = self._stamp()
        user_id = self._default_user_id() or (row[0] if table.definition.name == "User" else None)
        if created:
            row[table.column_of["CreatedDate"]] = stamp
            row[table.column_of["CreatedById"]] = user_id
        row[table.column_of["LastModifiedDate"]] = stamp
        row[table.column_of["LastModifiedById"]] = user_id
        row[table.column_of["SystemModstamp"]] = stamp

    def _compute_derived(self, table: _Table, row: list[Any]) -> None:
        if table.definition.name in _NAMED_OBJECTS:
            first = row[table.column_of["FirstName"]]
            last = row[table.column_of["LastName"]]
            row[table.column_of["Name"]] = " ".join(p for p in (first, last) if p) or None
        if table.definition.name == "Task":
            # A closed status (here: Completed) closes the task, as the org's status setup says.
            row[table.column_of["IsClosed"]] = row[table.column_of["Status"]] == "Completed"

    def _check_task(self, table: _Table, row: list[Any]) -> None:
        who_id = row[table.column_of["WhoId"]]
        leads = self._tables["Lead"]
        lead = leads.rows.get(who_id) if who_id is not None else None
        if lead is not None and lead[leads.column_of["IsConverted"]]:
            raise SfApiError(
                400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", ["WhoId"]
            )

    def _table(self, sobject: str) -> _Table:
        return self._tables[self.sobject_name(sobject)]

    def _record_url(self, sobject: str, record_id: str, api_version: str) -> str:
        return f"/services/data/{_version_path(api_version)}/sobjects/{sobject}/{record_id}"

    def _existing_row(self, table: _Table, record_id: str, *, for_write: bool) -> tuple[str, list]:
        """The row of ``record_id`` or the error Salesforce gives for a bad/unknown/deleted id."""
        label = table.definition.label
        if not is_valid_id(record_id):
            raise SfApiError(
                400, "MALFORMED_ID", f"{label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        full_id = to_18(record_id)
        row = table.rows.get(full_id)
        if row is None:
            raise SfApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if row[table.column_of["IsDeleted"]]:
            raise SfApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        if for_write and table.definition.name == "Lead" and row[table.column_of["IsConverted"]]:
            raise SfApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        return full_id, row

    # --- validation -----------------------------------------------------------------------

    def _resolve_fields(
        self, table: _Table, values: dict[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        """Map input keys to canonical field names; unknown or read-only fields are errors."""
        obj = table.definition
        resolved: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            field_def = obj.field(key)
            if field_def is None:
                raise SfApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
                )
            writable = field_def.createable if creating else field_def.updateable
            if not writable:
                not_writable.append(field_def.name)
                continue
            resolved[field_def.name] = value
        if not_writable:
            raise SfApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(not_writable)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                not_writable,
            )
        return resolved

    def _coerce(self, field_def: FieldDef, value: Any) -> Any:
        """JSON value -> stored value for the field's type, or Salesforce's parser error."""
        type_ = field_def.type

        def parser_error(kind: str) -> SfApiError:
            token = _json_token(value)
            shown = json.dumps(value) if isinstance(value, list | dict) else value
            if isinstance(value, bool):
                shown = "true" if value else "false"
            return SfApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {kind} from {token} value {shown} or request "
                "may be missing a required field",
            )

        if value is None:
            return False if type_ == "boolean" else None
        if type_ == "boolean":
            if not isinstance(value, bool):
                raise parser_error("boolean")
            return value
        if type_ in NUMBER_TYPES:
            kind = "int" if type_ == "int" else "double"
            if isinstance(value, bool | list | dict):
                raise parser_error(kind)
            if isinstance(value, str):
                if not _NUMERIC.match(value.strip()):
                    raise parser_error(kind)
                value = float(value)
            if not math.isfinite(value):
                raise parser_error(kind)
            if type_ == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise parser_error(kind)
                return int(value)
            return float(value)
        if isinstance(value, list | dict):
            raise parser_error(type_)
        if type_ == "date":
            if not isinstance(value, str):
                raise parser_error("date")
            text = value.strip()
            if _DATETIME_VALUE.match(text):
                text = text[:10]
            if not _DATE_VALUE.match(text):
                raise parser_error("date")
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError as error:
                raise parser_error("date") from error
        if type_ == "datetime":
            moment = parse_datetime_value(value.strip()) if isinstance(value, str) else None
            if moment is None:
                raise parser_error("datetime")
            return format_datetime(moment)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = json.dumps(value)
        else:
            text = value
        if type_ in ("reference", "id"):
            text = text.strip()
        # Salesforce stores an empty text value as null.
        return text if text != "" else None

    def _check_value(self, obj: ObjectDef, field_def: FieldDef, value: Any) -> None:
        if value is None:
            return
        type_ = field_def.type
        if type_ in TEXT_TYPES and field_def.length and len(value) > field_def.length:
            raise SfApiError(
                400,
                "STRING_TOO_LONG",
                f"{field_def.label}: data value too large: {value} (max length={field_def.length})",
                [field_def.name],
            )
        if type_ == "email" and not _EMAIL.match(value):
            raise SfApiError(
                400,
                "INVALID_EMAIL_ADDRESS",
                f"{field_def.label}: invalid email address: {value}",
                [field_def.name],
            )
        if type_ in ("picklist", "multipicklist") and field_def.restricted:
            allowed = {v.value for v in field_def.picklist_values if v.active}
            chosen = value.split(";") if type_ == "multipicklist" else [value]
            for item in chosen:
                if item not in allowed:
                    raise SfApiError(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{field_def.label}: bad value for restricted picklist field: {item}",
                        [field_def.name],
                    )
        if type_ == "reference":
            self._check_reference(obj, field_def, value)

    def _check_reference(self, obj: ObjectDef, field_def: FieldDef, value: str) -> None:
        if not is_valid_id(value):
            raise SfApiError(
                400,
                "MALFORMED_ID",
                f"{field_def.label}: id value of incorrect type: {value}",
                [field_def.name],
            )
        target_id = to_18(value)
        targets = {self.definition.objects[t].key_prefix: t for t in field_def.reference_to}
        if field_def.name == "RecordTypeId":
            self._check_record_type(obj, field_def, target_id)
            return
        target = targets.get(key_prefix(target_id))
        if target is None:
            raise SfApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"{field_def.label}: id value of incorrect type: {value}",
                [field_def.name],
            )
        table = self._tables[target]
        row = table.rows.get(target_id)
        if row is None or row[table.column_of["IsDeleted"]]:
            raise SfApiError(
                400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [field_def.name]
            )

    def _check_record_type(self, obj: ObjectDef, field_def: FieldDef, target_id: str) -> None:
        if target_id == MASTER_RECORD_TYPE_ID and not any(rt.active for rt in obj.record_types):
            return
        table = self._tables["RecordType"]
        row = table.rows.get(target_id)
        valid = (
            row is not None
            and row[table.column_of["SobjectType"]] == obj.name
            and row[table.column_of["IsActive"]]
            and not row[table.column_of["IsDeleted"]]
        )
        if not valid:
            raise SfApiError(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                f"Record Type ID: this ID value isn't valid for the user: {target_id}",
                [field_def.name],
            )

    def _check_required(self, table: _Table, row: list[Any]) -> None:
        missing = [
            f.name
            for f in table.definition.fields.values()
            if f.required and row[table.column_of[f.name]] is None
        ]
        if missing:
            raise SfApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def _check_unique(self, table: _Table, record_id: str, row: list[Any]) -> None:
        for column, index in table.indexes.items():
            field_def = table.definition.fields[table.columns[column]]
            # An external id that is not also unique may repeat (an upsert then answers 300).
            if not field_def.unique or row[column] is None:
                continue
            for other_id in index.get(table.index_key(column, row[column])):
                other = table.rows[other_id]
                if other_id != record_id and not other[table.column_of["IsDeleted"]]:
                    raise SfApiError(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {field_def.name} duplicates value on record "
                        f"with id: {other_id}",
                        [field_def.name],
                    )

    def _check_duplicate_rules(self, table: _Table, record_id: str, row: list[Any]) -> None:
        for rule in table.definition.duplicate_rules:
            if not rule.active or rule.action != "block":
                continue
            columns = [table.column_of[name] for name in rule.fields]
            wanted = [table.index_key(column, row[column]) for column in columns]
            if any(value is None for value in wanted):
                continue
            indexed = next((c for c in columns if c in table.indexes), None)
            if indexed is not None:
                candidates: Iterable[str] = table.indexes[indexed].get(
                    table.index_key(indexed, row[indexed])
                )
            else:
                candidates = list(table.rows)
            for other_id in candidates:
                if other_id == record_id:
                    continue
                other = table.rows[other_id]
                if other[table.column_of["IsDeleted"]]:
                    continue
                if [table.index_key(c, other[c]) for c in columns] == wanted:
                    raise SfApiError(400, "DUPLICATES_DETECTED", "Use one of these records?")

    def _check_campaign_member(self, table: _Table, record_id: str, row: list[Any]) -> None:
        column = table.column_of
        campaign_id = row[column["CampaignId"]]
        if campaign_id is None:
            raise SfApiError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [CampaignId]",
                ["CampaignId"],
            )  # fmt: skip
        lead_id, contact_id = row[column["LeadId"]], row[column["ContactId"]]
        if lead_id is None and contact_id is None:
            raise SfApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LeadId, ContactId]",
                ["LeadId", "ContactId"],
            )
        if lead_id is not None:
            leads = self._tables["Lead"]
            if leads.rows[lead_id][leads.column_of["IsConverted"]]:
                raise SfApiError(
                    400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead",
                    ["LeadId"],
                )  # fmt: skip
        member_column, member_id = (
            ("LeadId", lead_id) if lead_id is not None else ("ContactId", contact_id)
        )
        for other_id in table.indexes[column[member_column]].get(member_id):
            other = table.rows[other_id]
            if (
                other_id != record_id
                and other[column["CampaignId"]] == campaign_id
                and not other[column["IsDeleted"]]
            ):
                raise SfApiError(400, "DUPLICATE_VALUE", "Already a campaign member.")
        statuses = self._campaign_statuses(campaign_id)
        status = row[column["Status"]]
        if status is None:
            default = next((s for s in statuses if s[1]), statuses[0] if statuses else None)
            if default is not None:
                row[column["Status"]], row[column["HasResponded"]] = default[0], default[2]
            return
        match = next((s for s in statuses if s[0].lower() == status.lower()), None)
        if match is None:
            raise SfApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Status: bad value for restricted picklist field: {status}",
                ["Status"],
            )
        row[column["Status"]], row[column["HasResponded"]] = match[0], match[2]

    def _campaign_statuses(self, campaign_id: str) -> list[tuple[str, bool, bool]]:
        """(label, is default, has responded) of the campaign's member statuses, sorted."""
        table = self._tables["CampaignMemberStatus"]
        column = table.column_of
        rows = [
            table.rows[i]
            for i in table.indexes[column["CampaignId"]].get(campaign_id)
            if not table.rows[i][column["IsDeleted"]]
        ]
        rows.sort(key=lambda r: (r[column["SortOrder"]] or 0, r[column["Label"]]))
        return [
            (r[column["Label"]], bool(r[column["IsDefault"]]), bool(r[column["HasResponded"]]))
            for r in rows
        ]

    def _default_record_type_id(self, obj: ObjectDef) -> str | None:
        active = [rt for rt in obj.record_types if rt.active]
        if not active:
            return None
        chosen = next((rt for rt in active if rt.default), active[0])
        table = self._tables["RecordType"]
        for record_id, row in table.rows.items():
            if (
                row[table.column_of["SobjectType"]] == obj.name
                and row[table.column_of["DeveloperName"]] == chosen.developer_name
            ):
                return record_id
        return None

    # --- writes ---------------------------------------------------------------------------

    def _create(self, sobject: str, values: dict[str, Any]) -> str:
        table = self._table(sobject)
        obj = table.definition
        if not obj.createable:
            raise SfApiError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support insert"
            )  # fmt: skip
        resolved = self._resolve_fields(table, values, creating=True)
        # The id is minted only once the record is valid; until then it excludes nothing.
        pending_id = ""
        row = self._blank_row(table, pending_id)
        for field_def in obj.fields.values():
            if field_def.default is not None and field_def.name not in resolved:
                row[table.column_of[field_def.name]] = field_def.default
            elif field_def.type == "boolean" and row[table.column_of[field_def.name]] is None:
                row[table.column_of[field_def.name]] = False
        for picklist in obj.fields.values():
            default = next((v.value for v in picklist.picklist_values if v.default), None)
            if default is not None and picklist.name not in resolved:
                row[table.column_of[picklist.name]] = default
        if "OwnerId" in table.column_of and "OwnerId" not in resolved:
            row[table.column_of["OwnerId"]] = self._default_user_id()
        if "RecordTypeId" in table.column_of and resolved.get("RecordTypeId") is None:
            row[table.column_of["RecordTypeId"]] = self._default_record_type_id(obj)
            resolved.pop("RecordTypeId", None)
        self._apply_values(table, row, resolved)
        self._check_required(table, row)
        if obj.name == "CampaignMember":
            self._check_campaign_member(table, pending_id, row)
        if obj.name == "Task":
            self._check_task(table, row)
        self._check_unique(table, pending_id, row)
        self._check_duplicate_rules(table, pending_id, row)
        self._compute_derived(table, row)
        record_id = self._new_id(obj)
        row[table.column_of["Id"]] = record_id
        self._stamp_row(table, row, created=True)
        table.put(record_id, row)
        self._persist(table, record_id)
        if obj.name == "Campaign":
            self._create_default_member_statuses(record_id)
        return record_id

    def _apply_values(self, table: _Table, row: list[Any], resolved: dict[str, Any]) -> None:
        obj = table.definition
        for name, raw in resolved.items():
            field_def = obj.fields[name]
            value = self._coerce(field_def, raw)
            if field_def.type in ("reference", "id") and value is not None and is_valid_id(value):
                value = to_18(value)
            self._check_value(obj, field_def, value)
            row[table.column_of[name]] = value

    def _create_default_member_statuses(self, campaign_id: str) -> None:
        for order, (label, is_default, responded) in enumerate(
            (("Sent", True, False), ("Responded", False, True)), start=1
        ):
            self._create(
                "CampaignMemberStatus",
                {
                    "CampaignId": campaign_id,
                    "Label": label,
                    "IsDefault": is_default,
                    "HasResponded": responded,
                    "SortOrder": order,
                },
            )

    def _update(self, table: _Table, record_id: str, values: dict[str, Any]) -> None:
        obj = table.definition
        full_id, current = self._existing_row(table, record_id, for_write=True)
        if not obj.updateable:
            raise SfApiError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support update"
            )  # fmt: skip
        resolved = self._resolve_fields(table, values, creating=False)
        row = list(current)
        self._apply_values(table, row, resolved)
        self._check_required(table, row)
        if obj.name == "CampaignMember":
            self._check_campaign_member(table, full_id, row)
        if obj.name == "Task":
            self._check_task(table, row)
        self._check_unique(table, full_id, row)
        self._check_duplicate_rules(table, full_id, row)
        self._compute_derived(table, row)
        self._stamp_row(table, row, created=False)
        table.put(full_id, row)
        self._persist(table, full_id)

    def _soft_delete(self, table: _Table, record_id: str) -> None:
        row = list(table.rows[record_id])
        row[table.column_of["IsDeleted"]] = True
        self._stamp_row(table, row, created=False)
        table.deleted_dates[record_id] = row[table.column_of["SystemModstamp"]]
        table.put(record_id, row)
        self._persist(table, record_id)
        # Salesforce deletes the campaign members of a deleted lead, contact or campaign.
        members = self._tables["CampaignMember"]
        reference = {"Lead": "LeadId", "Contact": "ContactId", "Campaign": "CampaignId"}.get(
            table.definition.name
        )
        if reference is not None:
            for member_id in members.indexes[members.column_of[reference]].get(record_id):
                if not members.rows[member_id][members.column_of["IsDeleted"]]:
                    self._soft_delete(members, member_id)

    # --- public API -----------------------------------------------------------------------

    def sobject_name(self, name: str) -> str:
        canonical = self._canonical.get(name.lower())
        if canonical is None:
            raise SfApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return canonical

    def sobject_for_id(self, record_id: str) -> str | None:
        """The object whose key prefix starts ``record_id``; None for a malformed id or a key
        prefix that names no object of this org."""
        if not is_valid_id(record_id):
            return None
        return self._by_key_prefix.get(key_prefix(record_id))

    def describe_global(self, api_version: str = DEFAULT_API_VERSION) -> dict[str, Any]:
        with self._lock:
            version = _version_path(api_version)
            sobjects = []
            for name, obj in self.definition.objects.items():
                base = f"/services/data/{version}/sobjects/{name}"
                sobjects.append(
                    {
                        "name": name,
                        "label": obj.label,
                        "labelPlural": obj.label_plural,
                        "keyPrefix": obj.key_prefix,
                        "custom": obj.custom,
                        "createable": obj.createable,
                        "updateable": obj.updateable,
                        "deletable": obj.createable,
                        "queryable": True,
                        "retrieveable": True,
                        "searchable": True,
                        "replicateable": True,
                        "urls": {
                            "sobject": base,
                            "describe": f"{base}/describe",
                            "rowTemplate": f"{base}/{{ID}}",
                        },
                    }
                )
            return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}

    def describe(self, sobject: str, api_version: str = DEFAULT_API_VERSION) -> dict[str, Any]:
        with self._lock:
            table = self._table(sobject)
            obj = table.definition
            version = _version_path(api_version)
            fields = [self._describe_field(f) for f in obj.fields.values()]
            record_type_infos = []
            default_id = self._default_record_type_id(obj)
            rt_table = self._tables["RecordType"]
            for record_id, row in rt_table.rows.items():
                if row[rt_table.column_of["SobjectType"]] != obj.name:
                    continue
                active = bool(row[rt_table.column_of["IsActive"]])
                record_type_infos.append(
                    {
                        "recordTypeId": record_id,
                        "name": row[rt_table.column_of["Name"]],
                        "developerName": row[rt_table.column_of["DeveloperName"]],
                        "available": active,
                        "active": active,
                        "defaultRecordTypeMapping": record_id == default_id,
                        "master": False,
                        "urls": {
                            "layout": f"/services/data/{version}/sobjects/{obj.name}/describe/"
                            f"layouts/{record_id}"
                        },
                    }
                )
            record_type_infos.append(
                {
                    "recordTypeId": MASTER_RECORD_TYPE_ID,
                    "name": "Master",
                    "developerName": "Master",
                    "available": default_id is None,
                    "active": True,
                    "defaultRecordTypeMapping": default_id is None,
                    "master": True,
                    "urls": {
                        "layout": f"/services/data/{version}/sobjects/{obj.name}/describe/"
                        f"layouts/{MASTER_RECORD_TYPE_ID}"
                    },
                }
            )
            base = f"/services/data/{version}/sobjects/{obj.name}"
            return {
                "name": obj.name,
                "label": obj.label,
                "labelPlural": obj.label_plural,
                "keyPrefix": obj.key_prefix,
                "custom": obj.custom,
                "createable": obj.createable,
                "updateable": obj.updateable,
                "deletable": obj.createable,
                "queryable": True,
                "fields": fields,
                "recordTypeInfos": record_type_infos,
                "urls": {
                    "sobject": base,
                    "describe": f"{base}/describe",
                    "rowTemplate": f"{base}/{{ID}}",
                },
            }

    @staticmethod
    def _describe_field(f: FieldDef) -> dict[str, Any]:
        picklist_default = next((v.value for v in f.picklist_values if v.default), None)
        return {
            "name": f.name,
            "label": f.label,
            "type": f.type,
            "length": f.length if f.type in TEXT_TYPES or f.type in ("id", "reference") else 0,
            "nillable": f.nillable,
            "createable": f.createable,
            "updateable": f.updateable,
            "defaultedOnCreate": f.default is not None
            or picklist_default is not None
            or f.type == "boolean"
            or f.name in ("Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate",
                          "LastModifiedById", "SystemModstamp"),
            "defaultValue": f.default if f.default is not None else picklist_default,
            "unique": f.unique,
            "externalId": f.external_id,
            "idLookup": f.name == "Id" or f.external_id or f.type == "email",
            "custom": f.custom,
            "calculated": f.name == "Name" and not f.createable,
            "filterable": True,
            "sortable": f.type not in ("textarea", "multipicklist"),
            "picklistValues": [
                {"value": v.value, "label": v.label, "active": v.active, "defaultValue": v.default,
                 "validFor": None}
                for v in f.picklist_values
            ],
            "restrictedPicklist": f.restricted,
            "referenceTo": list(f.reference_to),
            "relationshipName": f.relationship_name,
            "precision": 18 if f.type in ("double", "currency", "percent") else 0,
            "scale": 2 if f.type in ("double", "currency", "percent") else 0,
            "digits": 9 if f.type == "int" else 0,
        }  # fmt: skip

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        with self._lock:
            return self._create(sobject, values)

    def get(
        self, sobject: str, record_id: str, fields: Sequence[str] | None, api_version: str
    ) -> dict[str, Any]:
        with self._lock:
            table = self._table(sobject)
            obj = table.definition
            full_id, row = self._existing_row(table, record_id, for_write=False)
            if fields is None:
                names = table.columns
            else:
                names = []
                for wanted in fields:
                    field_def = obj.field(wanted)
                    if field_def is None:
                        raise SfApiError(
                            400,
                            "INVALID_FIELD",
                            f"No such column '{wanted}' on entity '{obj.name}'. If you are "
                            "attempting to use a custom field, be sure to append the '__c' after "
                            "the custom field name. Please reference your WSDL or the describe "
                            "call for the appropriate names.",
                        )
                    names.append(field_def.name)
            record: dict[str, Any] = {
                "attributes": {
                    "type": obj.name,
                    "url": self._record_url(obj.name, full_id, api_version),
                }
            }
            for name in names:
                record[name] = row[table.column_of[name]]
            return record

    def update(self, sobject: str, record_id: str, values: dict[str, Any]) -> None:
        with self._lock:
            self._update(self._table(sobject), record_id, values)

    def upsert(
        self,
        sobject: str,
        ext_field: str,
        ext_value: str,
        values: dict[str, Any],
        api_version: str = DEFAULT_API_VERSION,
    ) -> tuple[str, bool]:
        with self._lock:
            table = self._table(sobject)
            obj = table.definition
            field_def = obj.field(ext_field)
            if field_def is None or not (field_def.external_id or field_def.name == "Id"):
                raise SfApiError(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {ext_field}",
                )
            if field_def.name == "Id":
                if ext_value:
                    full_id, _ = self._existing_row(table, ext_value, for_write=True)
                    self._update(table, full_id, values)
                    return full_id, False
                return self._create(obj.name, values), True
            key = self._coerce(field_def, ext_value)
            column = table.column_of[field_def.name]
            matches = [
                record_id
                for record_id in table.indexes[column].get(table.index_key(column, key))
                if not table.rows[record_id][table.column_of["IsDeleted"]]
            ]
            body = {k: v for k, v in values.items() if obj.field(k) is not field_def}
            if not matches:
                return self._create(obj.name, {**body, field_def.name: key}), True
            if len(matches) == 1:
                self._update(table, matches[0], body)
                return matches[0], False
            error = SfApiError(
                300,
                "MULTIPLE_CHOICES",
                f"More than one record found for external id field {field_def.name} with value "
                f"{ext_value}",
            )
            error.record_urls = [
                self._record_url(obj.name, record_id, api_version) for record_id in sorted(matches)
            ]
            raise error

    def delete(self, sobject: str, record_id: str) -> None:
        with self._lock:
            table = self._table(sobject)
            full_id, _ = self._existing_row(table, record_id, for_write=False)
            if not table.definition.createable:
                raise SfApiError(
                    400,
                    "INVALID_TYPE_FOR_OPERATION",
                    f"entity type {table.definition.name} does not support delete",
                )
            self._soft_delete(table, full_id)

    def query(self, soql_text: str, include_deleted: bool, api_version: str) -> QueryResult:
        with self._lock:
            parsed = soql.parse(soql_text)
            compiled = soql.compile_query(self._catalog, parsed, self._now().date())
            table = self._tables[compiled.root.name]
            deleted_column = table.column_of["IsDeleted"]
            predicate = compiled.predicate
            matched: list[soql.Row] = [
                row
                for row in self._candidate_rows(table, compiled)
                if (include_deleted or not row[deleted_column])
                and (predicate is None or predicate(row))
            ]
            if compiled.order:
                matched = soql.sort_rows(matched, compiled.order)
            else:
                matched.sort(key=lambda row: row[0])  # creation order (ids count up)
            offset = parsed.offset or 0
            end = None if parsed.limit is None else offset + parsed.limit
            ids = [row[0] for row in matched[offset:end]]
            del matched
            if parsed.is_count:
                return QueryResult(len(ids), compiled.root.name, [], True)

            def project(page_ids: Sequence[str]) -> list[dict[str, Any]]:
                with self._lock:
                    # Looked up again: reset() may have replaced the table since the query ran.
                    current = self._tables[compiled.root.name]
                    return [
                        self._project(current, compiled, row, api_version)
                        for row in (current.rows.get(i) for i in page_ids)
                        if row is not None
                    ]

            return QueryResult(len(ids), compiled.root.name, ids, False, project)

    def _candidate_rows(self, table: _Table, compiled: soql.CompiledQuery) -> Iterable[list]:
        """Rows that may match: from an index when a top-level conjunct allows, else all."""
        for hint, bound, values in compiled.hints:
            if any(value.value is None for value in values):
                continue  # "= null" cannot be answered from an index (nulls are not indexed)
            name = bound.field.name
            column = table.column_of[name]
            if hint.op == "in" and name == "Id":
                return [table.rows[v.value] for v in values if v.value in table.rows]
            if hint.op == "in" and column in table.indexes:
                found: dict[str, list] = {}
                for value in values:
                    for record_id in table.indexes[column].get(value.value):
                        found[record_id] = table.rows[record_id]
                return list(found.values())
        for hint, bound, values in compiled.hints:
            if (
                hint.op in (">", ">=")
                and bound.field.name == "SystemModstamp"
                and table.modstamps_monotonic
                and values[0].value is not None
            ):
                threshold = values[0].value
                column = table.column_of["SystemModstamp"]
                recent = []
                for record_id in reversed(table.rows):
                    row = table.rows[record_id]
                    if row[column] < threshold:
                        break
                    recent.append(row)
                return recent
        return table.rows.values()

    def _project(
        self, table: _Table, compiled: soql.CompiledQuery, row: Sequence[Any], api_version: str
    ) -> dict[str, Any]:
        obj = compiled.root
        record: dict[str, Any] = {
            "attributes": {"type": obj.name, "url": self._record_url(obj.name, row[0], api_version)}
        }
        for bound in compiled.select:
            container = record
            current_row, current_table = row, table
            for hop in bound.hops:
                target_id = current_row[current_table.column_of[hop.reference_field]]
                target_table = self._tables[hop.target]
                next_row = None if target_id is None else target_table.rows.get(target_id)
                if next_row is None:
                    container.setdefault(hop.relationship, None)
                    break
                nested = container.get(hop.relationship)
                if nested is None:
                    url = self._record_url(hop.target, target_id, api_version)
                    nested = {"attributes": {"type": hop.target, "url": url}}
                    container[hop.relationship] = nested
                container, current_row, current_table = nested, next_row, target_table
            else:
                column = current_table.column_of[bound.field.name]
                container[bound.field.name] = current_row[column]
        return record

    def _replication_window(self, start: datetime, end: datetime) -> tuple[str, str]:
        """[start, end) as stored timestamps, after Salesforce's checks of a replication call."""
        now = self._now()
        start, end = _as_utc(start), _as_utc(end)
        # The SOAP guide's data-replication rules: start must precede end, and nothing older
        # than 30 days is available; both break with INVALID_REPLICATION_DATE.
        if start >= end:
            raise SfApiError(
                400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
            )
        if start < now - REPLICATION_WINDOW:
            raise SfApiError(
                400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago"
            )
        # The API ignores the seconds of both bounds; nothing later than now is covered yet.
        start = start.replace(second=0, microsecond=0)
        end = min(end, now).replace(second=0, microsecond=0)
        return format_datetime(start), format_datetime(max(start, end))

    def updated(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        with self._lock:
            table = self._table(sobject)
            low, high = self._replication_window(start, end)
            stamp = table.column_of["SystemModstamp"]
            deleted = table.column_of["IsDeleted"]
            ids = sorted(
                record_id
                for record_id, row in table.rows.items()
                if not row[deleted] and low <= row[stamp] < high
            )
            return {"ids": ids, "latestDateCovered": high}

    def deleted(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        with self._lock:
            table = self._table(sobject)
            low, high = self._replication_window(start, end)
            records = [
                {"id": record_id, "deletedDate": when}
                for record_id, when in sorted(table.deleted_dates.items(), key=lambda p: p[1])
                if low <= when < high and table.rows[record_id][table.column_of["IsDeleted"]]
            ]
            earliest = max(self._started, format_datetime(self._now() - REPLICATION_WINDOW))
            return {
                "deletedRecords": records,
                "earliestDateAvailable": earliest,
                "latestDateCovered": high,
            }

    def convert_lead(
        self, lead_id: str, *, contact_id: str | None = None, account_id: str | None = None
    ) -> dict[str, str]:
        with self._lock:
            leads = self._tables["Lead"]
            full_id, lead = self._existing_row(leads, lead_id, for_write=True)
            values = leads.as_dict(lead)
            if account_id is not None:
                account_id, _ = self._existing_row(
                    self._tables["Account"], account_id, for_write=False
                )
            if contact_id is not None:
                contacts = self._tables["Contact"]
                contact_id, contact = self._existing_row(contacts, contact_id, for_write=False)
                if account_id is None:
                    account_id = contact[contacts.column_of["AccountId"]]
            if account_id is None:
                account_id = self._create(
                    "Account", {"Name": values["Company"], "Industry": values["Industry"]}
                )
            if contact_id is None:
                contact_id = self._create(
                    "Contact",
                    {
                        "FirstName": values["FirstName"],
                        "LastName": values["LastName"],
                        "Email": values["Email"],
                        "Phone": values["Phone"],
                        "Title": values["Title"],
                        "LeadSource": values["LeadSource"],
                        "Description": values["Description"],
                        "AccountId": account_id,
                    },
                )
            row = list(lead)
            column = leads.column_of
            row[column["IsConverted"]] = True
            row[column["ConvertedContactId"]] = contact_id
            row[column["ConvertedAccountId"]] = account_id
            row[column["ConvertedDate"]] = self._now().date().isoformat()
            row[column["Status"]] = "Closed - Converted"
            self._stamp_row(leads, row, created=False)
            leads.put(full_id, row)
            self._persist(leads, full_id)
            # The lead's activities move to the contact (as Salesforce does).
            self._move_tasks(full_id, contact_id)
            # The lead's campaign memberships now also name the contact (as Salesforce does).
            members = self._tables["CampaignMember"]
            for member_id in members.indexes[members.column_of["LeadId"]].get(full_id):
                member = list(members.rows[member_id])
                if member[members.column_of["ContactId"]] is None:
                    member[members.column_of["ContactId"]] = contact_id
                    self._stamp_row(members, member, created=False)
                    members.put(member_id, member)
                    self._persist(members, member_id)
            return {"contactId": contact_id, "accountId": account_id}

    def metadata_changed(self, sobject: str | None = None) -> datetime:
        """When ``sobject``'s metadata last changed, or any object's for None (whole seconds,
        UTC)."""
        with self._lock:
            if sobject is None:
                return max(self._metadata_changed.values())
            return self._metadata_changed[self.sobject_name(sobject)]

    def set_picklist_values(
        self,
        sobject: str,
        field_name: str,
        values: Sequence[PicklistValue],
        *,
        restricted: bool | None = None,
    ) -> None:
        """Replace a picklist's values (and optionally whether it is restricted), as an admin
        edits them in Setup: a metadata change, so the object's describe changes with it. The
        definition's values come back with :meth:`reset`."""
        with self._lock:
            table = self._table(sobject)
            obj = table.definition
            field_def = obj.field(field_name)
            if field_def is None or field_def.type not in ("picklist", "multipicklist"):
                raise SfApiError(
                    400, "INVALID_FIELD", f"No picklist field {field_name!r} on {obj.name}"
                )
            changed_field = replace(
                field_def,
                picklist_values=tuple(values),
                restricted=field_def.restricted if restricted is None else restricted,
            )
            changed_object = replace(obj, fields={**obj.fields, field_def.name: changed_field})
            self.definition = replace(
                self.definition, objects={**self.definition.objects, obj.name: changed_object}
            )
            table.definition = changed_object
            self._touch_metadata(obj.name)

    def merge(
        self,
        master_id: str,
        merged_ids: Sequence[str],
        master_values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Merge up to two records into a master, as Salesforce's merge() call does.

        The merged records go to the recycle bin with ``MasterRecordId`` set to the master
        (``queryAll`` and ``/deleted/`` show them); their campaign memberships move to the master
        unless it is already a member of that campaign. ``master_values`` are written to the
        master first (the values an admin picks from the merged records); the master's
        ``SystemModstamp`` advances either way. Leads and contacts only; a converted lead cannot
        be the master (it is read-only), but may be merged into one that is not converted.
        """
        with self._lock:
            sobject = self.sobject_for_id(master_id)
            if sobject is None:
                raise SfApiError(400, "MALFORMED_ID",
                                 f"Master Record ID: id value of incorrect type: {master_id}",
                                 ["masterRecordId"])
            if sobject not in MERGEABLE_OBJECTS:
                raise SfApiError(
                    400, "INVALID_TYPE_FOR_OPERATION",
                    f"merge is supported for {' and '.join(sorted(MERGEABLE_OBJECTS))} records",
                )  # fmt: skip
            if not merged_ids:
                raise SfApiError(400, "REQUIRED_FIELD_MISSING",
                                 "Required fields are missing: [recordToMergeIds]",
                                 ["recordToMergeIds"])
            if len(merged_ids) > MAX_MERGED_RECORDS:
                raise SfApiError(
                    400, "LIMIT_EXCEEDED",
                    f"A merge request can merge at most {MAX_MERGED_RECORDS} records into the "
                    "master record",
                )  # fmt: skip
            table = self._tables[sobject]
            full_master, _ = self._existing_row(table, master_id, for_write=True)
            losers: list[str] = []
            for merged_id in merged_ids:
                if self.sobject_for_id(merged_id) != sobject:
                    raise SfApiError(
                        400, "INVALID_ID_FIELD",
                        f"The records to merge must all be {sobject} records: {merged_id}",
                    )  # fmt: skip
                full_id, _ = self._existing_row(table, merged_id, for_write=False)
                if full_id == full_master or full_id in losers:
                    raise SfApiError(
                        400, "INVALID_ID_FIELD",
                        f"A record can be merged only once and never into itself: {merged_id}",
                    )  # fmt: skip
                losers.append(full_id)
            self._update(table, full_master, dict(master_values or {}))
            for loser in losers:
                self._move_campaign_members(sobject, loser, full_master)
                self._move_tasks(loser, full_master)
                row = list(table.rows[loser])
                row[table.column_of["MasterRecordId"]] = full_master
                table.put(loser, row)
                self._soft_delete(table, loser)
            return {"id": full_master, "mergedRecordIds": losers, "success": True}

    def _move_tasks(self, from_id: str, to_id: str) -> None:
        """Re-parent the tasks of a converted or merged record (their WhoId) to ``to_id``."""
        tasks = self._tables.get("Task")
        if tasks is None:
            return  # an org file without activities
        who = tasks.column_of["WhoId"]
        for task_id in list(tasks.indexes[who].get(from_id)):
            task = list(tasks.rows[task_id])
            task[who] = to_id
            self._stamp_row(tasks, task, created=False)
            tasks.put(task_id, task)
            self._persist(tasks, task_id)

    def _move_campaign_members(self, sobject: str, from_id: str, to_id: str) -> None:
        members = self._tables["CampaignMember"]
        reference = members.column_of[_MEMBER_REFERENCE[sobject]]
        campaign = members.column_of["CampaignId"]
        deleted = members.column_of["IsDeleted"]
        master_campaigns = {
            members.rows[member_id][campaign]
            for member_id in members.indexes[reference].get(to_id)
            if not members.rows[member_id][deleted]
        }
        for member_id in members.indexes[reference].get(from_id):
            member = list(members.rows[member_id])
            if member[deleted] or member[campaign] in master_campaigns:
                continue  # a duplicate membership is deleted with the merged record
            member[reference] = to_id
            self._stamp_row(members, member, created=False)
            members.put(member_id, member)
            self._persist(members, member_id)

    def records(self, sobject: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            table = self._table(sobject)
            deleted = table.column_of["IsDeleted"]
            return [
                table.as_dict(row)
                for _, row in sorted(table.rows.items())
                if include_deleted or not row[deleted]
            ]

    def count(self, sobject: str) -> int:
        with self._lock:
            table = self._table(sobject)
            deleted = table.column_of["IsDeleted"]
            return sum(1 for row in table.rows.values() if not row[deleted])

    def reset(self) -> None:
        with self._lock:
            altered = [
                name for name, obj in self.definition.objects.items()
                if obj is not self._initial_definition.objects[name]
            ]
            self.definition = self._initial_definition
            self._reset_tables()
            if self._db is not None:
                self._db.execute("DELETE FROM records")
                self._db.execute("DELETE FROM meta")
            self._started = self._stamp()
            self._set_meta("started", self._started)
            self._ensure_system_records()
            # Metadata is back to the definition's: a change undone is a change, too.
            for name in self.definition.objects:
                if name not in altered:  # the meta table was emptied above: keep its time
                    self._store_metadata_time(name)
            self._touch_metadata(*altered)
            self._seed()
            self._set_meta("seeded", "1")

    def authenticate_user(self, username: str, password: str) -> dict[str, Any] | None:
        with self._lock:
            expected = self._passwords.get(username.lower())
            if expected is None or not hmac.compare_digest(
                expected.encode("utf-8"), password.encode("utf-8")
            ):
                return None
            users = self._tables["User"]
            for row in users.rows.values():
                if (row[users.column_of["Username"]] or "").lower() == username.lower():
                    if not row[users.column_of["IsActive"]]:
                        return None
                    return users.as_dict(row)
            return None

    def user(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            users = self._tables["User"]
            _, row = self._existing_row(users, user_id, for_write=False)
            return users.as_dict(row)

    def close(self) -> None:
        """Close the SQLite file (the org keeps working in memory afterwards)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _fingerprint(obj: ObjectDef) -> str:
    """A short digest of an object's definition: equal digests, same describe."""
    return hashlib.sha256(repr(obj).encode("utf-8")).hexdigest()[:16]


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json_token(value: Any) -> str:
    """The JSON parser's name for a value's token, as Salesforce's messages show it."""
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "VALUE_STRING"
