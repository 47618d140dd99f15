"""Every export of the plugin neutralises cells a spreadsheet would run as formulas (OWASP's CSV
injection guidance): the first non-blank character after NFKC folding decides."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook
from wagtail.models import Site

from tests.sync.conftest import SYNC_YAML
from wagtail_salesforce.admin.exports import neutralise_cell
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import Lead, LeadOrigin, Segment

HOSTILE = {
    "leading space": ' =HYPERLINK("http://evil")',
    "leading newline": "\n=1+1",
    "full-width equals": "＝cmd|' /C calc'!A0",
    "tab": "\t=2+2",
    "at sign": "@SUM(A1:A2)",
    "plus": "+cmd",
    "minus formula": "-1+cmd",
}


@pytest.fixture
def config_yaml() -> str:
    return SYNC_YAML


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_cell_opening_as_a_formula_gets_a_leading_quote(value: str) -> None:
    assert neutralise_cell(value) == f"'{value}"


@pytest.mark.parametrize("value", ["Acme Ltd", "a@example.com", "", "  plain  "])
def test_plain_text_is_unchanged(value: str) -> None:
    assert neutralise_cell(value) == value


@pytest.mark.parametrize("value", ["-5", "+3.5", "-42", "1e5"])
def test_a_plain_number_written_as_text_is_left_alone(value: str) -> None:
    # Documented: the strict ASCII number form reads as the number it is and holds no formula.
    assert neutralise_cell(value) == value


def test_a_full_width_number_and_non_strings_are_handled_as_documented() -> None:
    assert neutralise_cell("－１") == "'－１"
    assert neutralise_cell(-5) == -5
    assert neutralise_cell(None) is None


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def xlsx_rows(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.fixture
def hostile_leads(site: Site, plugin_settings: dict[str, Any]) -> list[Lead]:
    return [
        Lead.objects.create(
            site=site,
            email=f"lead{index}@example.com",
            values={"company": value, "title": value, "notes": value},
            base={},
            source=LeadOrigin.SYNC,
        )
        for index, value in enumerate(HOSTILE.values())
    ]


def assert_leads_neutralised(rows: list[dict[str, Any]]) -> None:
    by_email = {row["email"]: row for row in rows}
    assert len(by_email) == len(HOSTILE)
    for index, value in enumerate(HOSTILE.values()):
        row = by_email[f"lead{index}@example.com"]
        for column in ("company", "title", "notes"):
            assert row[column] == f"'{value}", (column, value)


def test_the_leads_csv_export_neutralises_every_hostile_cell(
    admin_client: Client, hostile_leads: list[Lead]
) -> None:
    response = admin_client.get(reverse("wagtail_salesforce:leads"), {"export": "csv"})
    assert_leads_neutralised(csv_rows(response))


def test_the_leads_xlsx_export_neutralises_every_hostile_cell(
    admin_client: Client, hostile_leads: list[Lead]
) -> None:
    response = admin_client.get(reverse("wagtail_salesforce:leads"), {"export": "xlsx"})
    assert_leads_neutralised(xlsx_rows(response))


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_a_segment_export_neutralises_every_hostile_cell(
    admin_client: Client, site: Site, hostile_leads: list[Lead], export_format: str
) -> None:
    segment = Segment.objects.create(site=site, name="Everyone", filter={"fields": {}})
    response = admin_client.get(
        reverse("wagtail_salesforce:segment_export", args=[segment.pk]), {"export": export_format}
    )
    rows = csv_rows(response) if export_format == "csv" else xlsx_rows(response)
    assert_leads_neutralised(rows)


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_the_outbox_export_neutralises_every_hostile_cell(
    admin_client: Client, site: Site, plugin_settings: dict[str, Any], export_format: str
) -> None:
    for value in HOSTILE.values():
        OutboxEntry.objects.create(
            site=site,
            mapping_key=value,
            form_data={"email": value, "company": value},
            state=OutboxState.DEAD,
            last_error_code=value[:64],
            last_error_message=f"{value} was refused",
        )

    response = admin_client.get(reverse("wagtail_salesforce:outbox"), {"export": export_format})

    rows = csv_rows(response) if export_format == "csv" else xlsx_rows(response)
    assert len(rows) == len(HOSTILE)
    neutralised = {f"'{value}" for value in HOSTILE.values()}
    for row in rows:
        cells = list(row.values())
        assert {cells[2], cells[5]} <= neutralised  # mapping, error code
        assert cells[6].startswith("'") and cells[6].endswith(" was refused")  # error message
