"""Checks on what callers hand the client, made before anything is sent.

API names and record Ids end up in URL paths and SOQL, where they cannot be quoted, so they are
held to Salesforce's own shapes; a batch with one bad record raises before any of it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def is_api_name(name: object) -> bool:
    """Whether ``name`` is a plain API name (``Lead``, ``Email``, ``ns__Key__c``)."""
    return isinstance(name, str) and _API_NAME.fullmatch(name) is not None


def valid_sobject_name(name: str) -> str:
    """``name`` if it is a valid sObject API name, else ``ValueError``."""
    if not is_api_name(name):
        raise ValueError(f"Not a valid sObject name: {name!r}")
    return name


def valid_record_id(value: str) -> str:
    """``value`` if it has the shape of a 15- or 18-character record Id, else ``ValueError``."""
    if not isinstance(value, str) or not _RECORD_ID.fullmatch(value):
        raise ValueError(f"Not a Salesforce record Id: {value!r}")
    return value


def valid_external_id_field(name: str) -> str:
    """``name`` if it is a valid field name to upsert on, else ``ValueError``."""
    if not is_api_name(name):
        raise ValueError(f"Not a valid external ID field: {name!r}")
    return name


def check_update_records(records: Sequence[Mapping[str, Any]]) -> None:
    """Every record carries a valid ``Id`` to update."""
    for position, record in enumerate(records):
        if not record.get("Id"):
            raise ValueError(f"Record {position} has no Id to update")
        valid_record_id(str(record["Id"]))


def check_upsert_records(ext_field: str, records: Sequence[Mapping[str, Any]]) -> None:
    """``ext_field`` is a valid field name and every record carries a value for it."""
    valid_external_id_field(ext_field)
    for position, record in enumerate(records):
        if not record.get(ext_field):
            raise ValueError(f"Record {position} has no {ext_field} to upsert on")
