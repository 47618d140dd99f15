"""Keeping history: what an update of an existing record does with each mapped field
(``on_update``), and the Task an ``activity:`` records for each submission.

Pure functions (no I/O): delivery reads the record's current values, asks :func:`update_body`
what to send, and creates what :func:`activity_task` returns.

``append`` writes the new text *below* what the field holds, under a dated line::

    first message

    --- 2026-12-02 10:15 (Landing page form)
    second message

so the field reads oldest to newest. The date is the submission's (not the delivery attempt's),
so a retried delivery builds the very same block and sees that it is already there: appending is
idempotent. When the result would be longer than the field's length, the oldest text is cut
(marked with "…") and the newest kept; a single block longer than the field is cut at its end.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from wagtail_salesforce.config import FormMapping, OnUpdate
from wagtail_salesforce.config.model import as_text
from wagtail_salesforce.config.payload import is_blank

# A textarea longer than this is a "long text area" (Lead.Description): history by default.
LONG_TEXT_LENGTH = 255
BLOCK_SEPARATOR = "\n\n"
TRIM_MARK = "…"
# Task field lengths in every org (Subject is a 255-character combobox; Description 32,000).
TASK_SUBJECT_LENGTH = 255
TASK_DESCRIPTION_LENGTH = 32_000
TASK_STATUS = "Completed"


def _described(describe: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The describe's fields by lower-cased name (API names are case-insensitive)."""
    return {str(field["name"]).lower(): field for field in describe.get("fields") or []}


def on_update_for(mapping: FormMapping, name: str, field: Mapping[str, Any] | None) -> OnUpdate:
    """The rule for ``name``: as written in the YAML, else append for a long text area and
    overwrite for everything else."""
    for written, rule in mapping.on_update.items():
        if written.lower() == name.lower():
            return rule
    if (
        field is not None
        and field.get("type") == "textarea"
        and int(field.get("length") or 0) > LONG_TEXT_LENGTH
    ):
        return OnUpdate.APPEND
    return OnUpdate.OVERWRITE


def fields_to_read(mapping: FormMapping, describe: Mapping[str, Any]) -> list[str]:
    """The fields (as the describe spells them) whose current value an update needs: those the
    mapping keeps or appends to. Fields the described object lacks are left out."""
    described = _described(describe)
    names: list[str] = []
    for name in mapping.fields:
        field = described.get(name.lower())
        if field is not None and on_update_for(mapping, name, field) is not OnUpdate.OVERWRITE:
            names.append(str(field["name"]))
    return names


def history_header(now: datetime.datetime, source_label: str) -> str:
    """The dated line above an appended block, in the site's time zone."""
    moment = timezone.localtime(now) if timezone.is_aware(now) else now
    stamp = moment.strftime("%Y-%m-%d %H:%M")
    return f"--- {stamp} ({source_label})" if source_label else f"--- {stamp}"


def appended(old: Any, new: Any, header: str, length: int = 0) -> str | None:
    """``old`` with ``new`` added under ``header``, at most ``length`` characters (0: no limit);
    None when there is nothing to change (``new`` is blank, or this block is already there)."""
    new_text = as_text(new).strip()
    if not new_text:
        return None
    block = f"{header}\n{new_text}"
    if length and len(block) > length:
        block = block[:length]
    old_text = "" if is_blank(old) else as_text(old).rstrip()
    if block in old_text:
        return None  # an earlier attempt of this submission appended it
    if not old_text:
        return block
    combined = f"{old_text}{BLOCK_SEPARATOR}{block}"
    if not length or len(combined) <= length:
        return combined
    room = length - len(block) - len(BLOCK_SEPARATOR) - len(TRIM_MARK)
    if room <= 0:
        return block
    return f"{TRIM_MARK}{old_text[-room:]}{BLOCK_SEPARATOR}{block}"


def update_body(
    mapping: FormMapping,
    payload: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    describe: Mapping[str, Any],
    now: datetime.datetime,
    *,
    source_label: str,
) -> dict[str, Any]:
    """The body to send to update a record holding ``current`` with ``payload``.

    ``current`` holds the record's values of :func:`fields_to_read` (a field missing from it
    counts as blank); None means there is no record yet, and the payload is sent as it is.
    ``now`` is the submission's time (it dates appended text). A kept field with a value, or an
    appended one that would not change, is left out of the body.
    """
    body = dict(payload)
    if current is None:
        return body
    described = _described(describe)
    values = {str(name).lower(): value for name, value in current.items()}
    header = history_header(now, source_label)
    mapped = {name.lower() for name in mapping.fields}
    for name, value in payload.items():
        if name.lower() not in mapped:
            continue  # RecordTypeId and the like: always as the mapping sets them
        field = described.get(name.lower())
        rule = on_update_for(mapping, name, field)
        existing = values.get(name.lower())
        if rule is OnUpdate.KEEP and not is_blank(existing):
            del body[name]
        elif rule is OnUpdate.APPEND:
            length = int(field.get("length") or 0) if field is not None else 0
            merged = appended(existing, value, header, length)
            if merged is None:
                del body[name]
            else:
                body[name] = merged
    return body


def submission_description(form_data: Mapping[str, Any]) -> str:
    """The submitted values as ``name: value`` lines (blank ones left out)."""
    lines = [
        f"{name}: {as_text(value).strip()}"
        for name, value in form_data.items()
        if not is_blank(value)
    ]
    return "\n".join(lines)[:TASK_DESCRIPTION_LENGTH]


def activity_task(
    mapping: FormMapping,
    record_id: str,
    form_data: Mapping[str, Any],
    payload: Mapping[str, Any],
    now: datetime.datetime,
) -> dict[str, Any] | None:
    """The completed Task recording a submission on the Lead or Contact ``record_id``; None
    when the mapping has no ``activity``. ``now`` is the submission's time (ActivityDate is its
    day in the site's time zone)."""
    activity = mapping.activity
    if activity is None:
        return None
    # {label} is the mapping's label; every other placeholder a form field.
    values = {**form_data, "label": mapping.label}
    subject = (activity.subject.render(values).strip() or mapping.label)[:TASK_SUBJECT_LENGTH]
    moment = timezone.localtime(now) if timezone.is_aware(now) else now
    # The visitor's own words; what was mapped when the form has none (a test or API caller).
    description = submission_description(form_data) or submission_description(payload)
    return {
        "WhoId": record_id,
        "Subject": subject,
        "Status": TASK_STATUS,
        "ActivityDate": moment.date().isoformat(),
        "Description": description,
    }
