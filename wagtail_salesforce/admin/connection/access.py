"""May the connected user write what the form mappings deliver? Checked by Connect and Test.

Each object a mapping's delivery creates (``config.metadata.objects_written``: the mapping's
object, CampaignMember with a campaign, Task with an activity) must be ``createable`` in the
connected user's describe, and the mapped fields of the mapping's object ``createable`` (and
``updateable`` when the mapping updates a matched record). The describe reflects the user's
profile and permission sets, so this is what delivery would meet.

The describes come from the site's describe cache when it is fresh (no call at all) and are
read again otherwise (then stored, so the forms validate against them too). Right after Connect
they are always read again: the user who authorised may not be the one before.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from wagtail_salesforce import conf
from wagtail_salesforce.client import SalesforceClient
from wagtail_salesforce.config import ConfigError, FormMapping, SalesforceConfig, get_config
from wagtail_salesforce.config.metadata import (
    CachedDescribe,
    mapped_objects,
    objects_written,
    refresh_describes,
)
from wagtail_salesforce.exceptions import NotFound


def _fresh_describes(site_id: int, objects: list[str]) -> dict[str, dict[str, Any]] | None:
    """The cached describes of ``objects`` if every one was read lately, else None."""
    fresh_after = timezone.now() - datetime.timedelta(
        minutes=int(conf.get("DESCRIBE_REFRESH_MINUTES"))
    )
    rows = CachedDescribe.objects.filter(
        site_id=site_id, sobject__in=objects, fetched_at__gte=fresh_after
    ).values_list("sobject", "describe")
    found = {sobject: dict(describe) for sobject, describe in rows}
    return found if set(found) == set(objects) else None


def _read_describes(
    site_id: int, config: SalesforceConfig, client: SalesforceClient
) -> dict[str, dict[str, Any]]:
    described: dict[str, dict[str, Any]] = {}

    def describe(sobject: str) -> dict[str, Any] | None:
        try:
            described[sobject] = client.describe(sobject, refresh=True)
        except NotFound:
            return None  # an object the org lacks: salesforce_check names it
        return described[sobject]

    refresh_describes(site_id, config, describe, picklist_values=client.picklist_values)
    return described


def _updates_matches(mapping: FormMapping) -> bool:
    return bool(mapping.match_on or mapping.external_id)


def _mapping_problems(
    mapping: FormMapping, describes: Mapping[str, Mapping[str, Any]], username: str
) -> list[str]:
    problems: list[str] = []
    for sobject in objects_written(mapping):
        describe = describes.get(sobject)
        if describe is None:
            continue
        label = str(describe.get("label") or sobject)
        if not describe.get("createable", True):
            problems.append(
                _(
                    "The connected user %(user)s may not create %(label)s records (%(object)s), "
                    "so the form mapping “%(mapping)s” cannot be delivered. In Salesforce, give "
                    "the user's profile or a permission set the Create permission on %(label)s "
                    "(Setup → Profiles or Permission Sets → Object Settings), or connect as a "
                    "user who has it."
                )
                % {"user": username, "label": label, "object": sobject, "mapping": mapping.key}
            )
        elif sobject == mapping.object and _updates_matches(mapping) and not describe.get(
            "updateable", True
        ):
            problems.append(
                _(
                    "The connected user %(user)s may not edit %(label)s records (%(object)s), "
                    "so the form mapping “%(mapping)s” cannot update the record it matches. "
                    "Give the user the Edit permission on %(label)s."
                )
                % {"user": username, "label": label, "object": sobject, "mapping": mapping.key}
            )
    describe = describes.get(mapping.object)
    if describe is not None and describe.get("createable", True):
        fields = {str(f["name"]).lower(): f for f in describe.get("fields") or []}
        read_only = []
        for name in mapping.fields:
            described = fields.get(name.lower())
            if described is None:
                continue  # a field the org lacks: salesforce_check names it
            writable = bool(described.get("createable", True)) and (
                not _updates_matches(mapping) or bool(described.get("updateable", True))
            )
            if not writable:
                read_only.append(str(described["name"]))
        if read_only:
            problems.append(
                _(
                    "The connected user %(user)s may not write these fields of %(object)s that "
                    "the form mapping “%(mapping)s” fills: %(fields)s. Make them editable for "
                    "the user's profile or a permission set (field-level security)."
                )
                % {
                    "user": username,
                    "object": mapping.object,
                    "mapping": mapping.key,
                    "fields": ", ".join(sorted(read_only)),
                }
            )
    return problems


def access_problems(
    site_id: int, client: SalesforceClient, username: str, *, reread: bool
) -> list[str]:
    """What the connected user may not write of what the form mappings deliver, in sentences
    with the fix; [] when all is writable (or there are no mappings, or the YAML is invalid:
    the system checks say so). ``reread`` reads the describes again even when the cache is
    fresh. Raises the client's errors (``ApiDisabledForOrg`` first of all)."""
    try:
        config = get_config()
    except ConfigError:
        return []
    if not config.forms:
        return []
    objects = mapped_objects(config)
    describes = None if reread else _fresh_describes(site_id, objects)
    if describes is None:
        describes = _read_describes(site_id, config, client)
    problems: list[str] = []
    for mapping in config.forms.values():
        problems.extend(_mapping_problems(mapping, describes, username))
    return problems
