"""What every CSV/XLSX export of the plugin shares: cells that cannot run as formulas, and an
audit-log entry saying who exported which listing and how many rows.

Formula neutralising follows OWASP's "CSV Injection" guidance: a cell a spreadsheet would read as
a formula (or as a command, DDE) gets a leading single quote, which makes it text. Spreadsheet
apps skip leading spaces and fold full-width characters (``＝`` acts as ``=``), so the test is
made on the first non-blank character after NFKC folding, and a control character there (tab,
CR, LF, ...) counts too: it hides what follows from the eye or starts a new cell.

A plain number written as text (``-42``, ``+3.5``) is left alone: it reads as the number it is
and cannot hold a formula, and quoting it would turn every negative amount into text. Only the
strict ASCII form counts (``-1+cmd`` or a full-width ``－１`` is neutralised). Numbers that are
numbers (``int``, ``Decimal``...) are never strings and pass through.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.db.models import Model
from django.http import HttpRequest
from wagtail.log_actions import log
from wagtail.models import Site

EXPORT_ACTION = "wagtail_salesforce.export"

FORMULA_TRIGGERS = frozenset("=+-@")
# Unicode categories of a character that must not open a cell: controls (tab, CR, LF, ...),
# invisible format characters, line and paragraph separators.
TRIGGER_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def opens_as_formula(text: str) -> bool:
    """Would a spreadsheet app read ``text`` as a formula (or hide its start)?"""
    if PLAIN_NUMBER.fullmatch(text):
        return False
    for character in unicodedata.normalize("NFKC", text):
        if unicodedata.category(character) == "Zs":  # spaces, however wide, are skipped
            continue
        return character in FORMULA_TRIGGERS or unicodedata.category(character) in (
            TRIGGER_CATEGORIES
        )
    return False


def neutralise_cell(value: Any) -> Any:
    """``value`` as a spreadsheet cell that cannot run as a formula: the one function every
    export of the plugin writes its cells through."""
    if isinstance(value, str) and opens_as_formula(value):
        return f"'{value}"
    return value


class NeutralisedExportMixin:
    """For views with Wagtail's ``SpreadsheetExportMixin``: every cell goes through
    :func:`neutralise_cell` after Wagtail's own preprocessing, in CSV and XLSX alike."""

    def preprocess_field_value(self, field: str, value: Any, export_format: str) -> Any:
        processed = super().preprocess_field_value(field, value, export_format)  # type: ignore[misc]
        return neutralise_cell(processed)


def log_export(
    request: HttpRequest,
    instance: Model,
    *,
    listing: str,
    export_format: str,
    rows: int,
    **details: Any,
) -> None:
    """Write the audit-log entry of one export: who (the request's user), which listing, the
    format and the number of rows, logged on ``instance`` (the segment, or the site)."""
    log(
        instance=instance,
        action=EXPORT_ACTION,
        user=request.user,
        data={"listing": listing, "format": export_format, "rows": rows, **details},
    )


def log_person_export(
    user: Any, *, person_hash: str, rows: int, export_format: str = "json"
) -> None:
    """The audit-log entry of an access request's export (an export like the listings' ones):
    who, and whom by hash only, logged on the default site."""
    site = Site.objects.filter(is_default_site=True).first() or Site.objects.first()
    if site is None:
        return
    log(
        instance=site,
        action=EXPORT_ACTION,
        user=user,
        data={"listing": "person", "format": export_format, "rows": rows, "person": person_hash},
    )
