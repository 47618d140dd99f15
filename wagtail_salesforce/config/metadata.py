"""The org's describes as last read, per site: what a form validates against during a request.

A visitor's request never calls Salesforce. It reads the describes stored here, which the
background task (``tasks.refresh_describes``) and ``manage.py salesforce_check`` keep fresh. With
none stored yet a form adds no constraints, and delivery decides as before.

Stored in the database rather than a process cache, so a worker's refresh is seen by every web
process, the embedded SQLite set-up included.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import Site

from .model import FormMapping, SalesforceConfig


class CachedDescribe(models.Model):
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="+", verbose_name=_("site")
    )
    sobject = models.CharField(_("Salesforce object"), max_length=80)
    describe = models.JSONField(_("describe"))
    # Record type DeveloperName -> picklist field -> [[value, label], ...] in the org's order
    # (lists, as PostgreSQL's jsonb does not keep the keys of an object in order): the values
    # each record type a mapping uses offers, read with the describe (the describe lists every
    # value of the object).
    record_type_picklists = models.JSONField(
        _("picklist values per record type"), default=dict, blank=True
    )
    fetched_at = models.DateTimeField(_("read at"))

    class Meta:
        app_label = "wagtail_salesforce"
        verbose_name = _("cached describe")
        verbose_name_plural = _("cached describes")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["site", "sobject"], name="wsf_describe_site_sobject")
        ]

    def __str__(self) -> str:
        return f"{self.sobject} describe for site {self.site_id}"


@dataclass(frozen=True)
class _Stored:
    fetched_at: datetime.datetime
    describe: Mapping[str, Any] | None
    record_type_picklists: Mapping[str, Any] | None


# Parsed rows, per (site, object), valid while the row's ``fetched_at`` is unchanged: a form
# request then reads one indexed timestamp instead of parsing the whole describe again.
_parsed: dict[tuple[int, str], _Stored] = {}


def _stored(site_id: int, sobject: str) -> _Stored | None:
    rows = CachedDescribe.objects.filter(site_id=site_id, sobject=sobject)
    fetched_at = rows.values_list("fetched_at", flat=True).first()
    if fetched_at is None:
        return None
    known = _parsed.get((site_id, sobject))
    if known is not None and known.fetched_at == fetched_at:
        return known
    row = rows.values("fetched_at", "describe", "record_type_picklists").first()
    if row is None:
        return None
    parsed = _Stored(row["fetched_at"], row["describe"], row["record_type_picklists"])
    _parsed[(site_id, sobject)] = parsed
    return parsed


def cached_describe(site_id: int, sobject: str) -> dict[str, Any] | None:
    """The last describe of ``sobject`` read for the site, or None (never calls Salesforce)."""
    return _describe_of(_stored(site_id, sobject))


def cached_record_type_picklists(
    site_id: int, sobject: str, record_type: str
) -> dict[str, dict[str, str]] | None:
    """Picklist field -> {value: label} that record type ``record_type`` (DeveloperName) of
    ``sobject`` offers, as last read; None when not read yet (never calls Salesforce)."""
    return _picklists_of(_stored(site_id, sobject), record_type)


def cached_metadata(
    site_id: int, sobject: str, record_type: str | None
) -> tuple[dict[str, Any] | None, dict[str, dict[str, str]] | None]:
    """Both of the above from one read: what a form request validates against."""
    stored = _stored(site_id, sobject)
    picklists = _picklists_of(stored, record_type) if record_type else None
    return _describe_of(stored), picklists


def _describe_of(stored: _Stored | None) -> dict[str, Any] | None:
    describe = stored.describe if stored is not None else None
    return dict(describe) if isinstance(describe, Mapping) else None


def _picklists_of(stored: _Stored | None, record_type: str) -> dict[str, dict[str, str]] | None:
    by_record_type = stored.record_type_picklists if stored is not None else None
    if not isinstance(by_record_type, Mapping) or not isinstance(
        by_record_type.get(record_type), Mapping
    ):
        return None
    return {
        str(name): {str(value): str(label) for value, label in pairs}
        for name, pairs in by_record_type[record_type].items()
    }


def store_describes(
    site_id: int,
    describes: Mapping[str, Mapping[str, Any]],
    record_type_picklists: Mapping[str, Mapping[str, Mapping[str, Mapping[str, str]]]]
    | None = None,
) -> None:
    """Keep these describes (and the picklist values of record types, per object) as the
    site's current ones."""
    now = timezone.now()
    for sobject, describe in describes.items():
        by_record_type = (record_type_picklists or {}).get(sobject) or {}
        CachedDescribe.objects.update_or_create(
            site_id=site_id,
            sobject=sobject,
            defaults={
                "describe": dict(describe),
                "record_type_picklists": {
                    record_type: {
                        name: [[value, label] for value, label in values.items()]
                        for name, values in fields.items()
                    }
                    for record_type, fields in by_record_type.items()
                },
                "fetched_at": now,
            },
        )


def objects_written(mapping: FormMapping) -> list[str]:
    """The sObjects a delivery of ``mapping`` creates records of: its object, CampaignMember
    when it adds the person to a campaign, Task when it records the submission as an activity.
    The one list Connect's access check and the describe refresh both read."""
    written = [mapping.object]
    if mapping.campaign is not None:
        written.append("CampaignMember")
    if getattr(mapping, "activity", None):
        written.append("Task")
    return written


def mapped_objects(config: SalesforceConfig) -> list[str]:
    """The sObjects the form mappings write, each once."""
    return sorted({sobject for m in config.forms.values() for sobject in objects_written(m)})


def mapped_record_types(config: SalesforceConfig) -> dict[str, list[str]]:
    """sObject -> the record types (DeveloperName) the form mappings give it, each once."""
    record_types: dict[str, set[str]] = {}
    for mapping in config.forms.values():
        if mapping.record_type:
            record_types.setdefault(mapping.object, set()).add(mapping.record_type)
    return {sobject: sorted(names) for sobject, names in record_types.items()}


def record_type_id(describe: Mapping[str, Any], developer_name: str) -> str | None:
    """The Id of the record type ``developer_name`` in an sObject describe, or None."""
    for info in describe.get("recordTypeInfos") or []:
        if info.get("developerName") == developer_name and info.get("recordTypeId"):
            return str(info["recordTypeId"])
    return None


PicklistReader = Callable[[str, str], Mapping[str, Mapping[str, str]]]


def refresh_describes(
    site_id: int,
    config: SalesforceConfig,
    describe: Callable[[str], Mapping[str, Any] | None],
    objects: Iterable[str] | None = None,
    picklist_values: PicklistReader | None = None,
) -> list[str]:
    """Read and store the describe of every mapped object (``describe`` asks the org, e.g. a
    client's ``describe``); returns the objects stored. An object the org lacks is skipped
    (``salesforce_check`` reports it).

    With ``picklist_values`` (``(sobject, record type Id) -> {field: {value: label}}``, e.g. a
    client's ``picklist_values``), the values of each record type a mapping uses are read too:
    one call per object and record type. A record type the org lacks is skipped (the online
    check reports it)."""
    fetched = {
        sobject: result
        for sobject in (mapped_objects(config) if objects is None else objects)
        if (result := describe(sobject))
    }
    by_record_type: dict[str, dict[str, Mapping[str, Mapping[str, str]]]] = {}
    if picklist_values is not None:
        for sobject, names in mapped_record_types(config).items():
            if sobject not in fetched:
                continue
            for name in names:
                found = record_type_id(fetched[sobject], name)
                if found is not None:
                    by_record_type.setdefault(sobject, {})[name] = picklist_values(sobject, found)
    store_describes(site_id, fetched, by_record_type)
    return sorted(fetched)
