"""Build a Salesforce payload from a submission and the form mapping it goes by (no I/O here).

The outbox sends these payloads; the sync reads them to fill the local lead a submission
describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import Constant, FormMapping, From, Template


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _form_value(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list | tuple):
        # Checkbox lists map onto multi-select picklists, which Salesforce writes "A;B".
        return ";".join(str(item) for item in value)
    return value


def build_payload(mapping: FormMapping, form_data: Mapping[str, Any]) -> dict[str, Any]:
    """The field values ``mapping`` produces for ``form_data``.

    A form value that is missing or blank takes the field's ``default`` when one is declared and
    is otherwise left out: sending null would blank the field of a matched record on update.
    """
    payload: dict[str, Any] = {}
    for salesforce_field, source in mapping.fields.items():
        if isinstance(source, Constant):
            payload[salesforce_field] = source.value
        elif isinstance(source, Template):
            payload[salesforce_field] = source.render(form_data)
        elif isinstance(source, From):
            value = form_data.get(source.name)
            if is_blank(value):
                if source.has_default:
                    payload[salesforce_field] = source.default
                continue
            payload[salesforce_field] = _form_value(value)
    return payload


def normalise_email(value: str | None) -> str:
    """One spelling of an email: trimmed and lower-cased (Salesforce compares emails
    case-insensitively, and the local lead is keyed on it)."""
    return (value or "").strip().lower()


def submission_email(payload: Mapping[str, Any], form_data: Mapping[str, Any]) -> str:
    """The submission's email, normalised: the mapped ``Email`` field, else the form's
    ``email`` field ("" without either)."""
    by_name = {name.lower(): value for name, value in payload.items()}
    return normalise_email(str(by_name.get("email") or form_data.get("email") or ""))


def normalise(payload: dict[str, Any], describe: Mapping[str, Any]) -> dict[str, Any]:
    """Trim and lower-case email values, so matching and duplicate rules see one spelling."""
    email_fields = {
        str(field["name"]).lower()
        for field in describe.get("fields") or []
        if field.get("type") == "email"
    }
    return {
        name: normalise_email(value)
        if isinstance(value, str) and name.lower() in email_fields
        else value
        for name, value in payload.items()
    }


def writable_fields(
    payload: Mapping[str, Any], describe: Mapping[str, Any], *, for_update: bool
) -> dict[str, Any]:
    """The part of ``payload`` that exists on the described object and may be written."""
    flag = "updateable" if for_update else "createable"
    allowed = {
        str(field["name"]).lower(): str(field["name"])
        for field in describe.get("fields") or []
        if field.get(flag, True)
    }
    return {
        allowed[name.lower()]: value for name, value in payload.items() if name.lower() in allowed
    }
