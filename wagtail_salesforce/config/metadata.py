"""The org's describes as last read, per site: what a form validates against during a request.

A visitor's request never calls Salesforce. It reads the describes stored here, which the
background task (``tasks.refresh_describes``) and ``manage.py salesforce_check`` keep fresh. With
none stored yet a form adds no constraints, and delivery decides as before.

Stored in the database rather than a process cache, so a worker's refresh is seen by every web
process, the embedded SQLite set-up included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import Site

from .model import SalesforceConfig


class CachedDescribe(models.Model):
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="+", verbose_name=_("site")
    )
    sobject = models.CharField(_("Salesforce object"), max_length=80)
    describe = models.JSONField(_("describe"))
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


def cached_describe(site_id: int, sobject: str) -> dict[str, Any] | None:
    """The last describe of ``sobject`` read for the site, or None (never calls Salesforce)."""
    describe = (
        CachedDescribe.objects.filter(site_id=site_id, sobject=sobject)
        .values_list("describe", flat=True)
        .first()
    )
    return dict(describe) if isinstance(describe, Mapping) else None


def store_describes(site_id: int, describes: Mapping[str, Mapping[str, Any]]) -> None:
    """Keep these describes as the site's current ones."""
    now = timezone.now()
    for sobject, describe in describes.items():
        CachedDescribe.objects.update_or_create(
            site_id=site_id,
            sobject=sobject,
            defaults={"describe": dict(describe), "fetched_at": now},
        )


def mapped_objects(config: SalesforceConfig) -> list[str]:
    """The sObjects the form mappings write, each once."""
    return sorted({mapping.object for mapping in config.forms.values()})


def refresh_describes(
    site_id: int,
    config: SalesforceConfig,
    describe: Callable[[str], Mapping[str, Any] | None],
    objects: Iterable[str] | None = None,
) -> list[str]:
    """Read and store the describe of every mapped object (``describe`` asks the org, e.g. a
    client's ``describe``); returns the objects stored. An object the org lacks is skipped
    (``salesforce_check`` reports it)."""
    fetched = {
        sobject: result
        for sobject in (mapped_objects(config) if objects is None else objects)
        if (result := describe(sobject))
    }
    store_describes(site_id, fetched)
    return sorted(fetched)
