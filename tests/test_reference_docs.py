"""The reference pages cover what the code has: every system check id, every management command;
the installation page is linked first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "wagtail_salesforce"
CHECK_ID = re.compile(r"wagtail_salesforce\.[EW]\d{3}")
LANGUAGES = ("en", "ja")


def _check_ids_in_code() -> set[str]:
    return {
        check_id
        for path in PACKAGE.rglob("*.py")
        if "sandbox" not in path.parts
        for check_id in CHECK_ID.findall(path.read_text(encoding="utf-8"))
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_checks_page_documents_exactly_the_ids_the_code_reports(language: str) -> None:
    page = (REPO / "docs" / language / "checks.md").read_text(encoding="utf-8")
    table_ids = set(re.findall(r"^\| `(wagtail_salesforce\.[EW]\d{3})` \|", page, re.MULTILINE))
    assert table_ids == _check_ids_in_code()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_commands_page_has_a_section_per_management_command(language: str) -> None:
    page = (REPO / "docs" / language / "management-commands.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\w+)", page, re.MULTILINE))
    commands = {
        path.stem for path in (PACKAGE / "management" / "commands").glob("*.py")
        if path.stem != "__init__"
    }
    assert commands <= sections


@pytest.mark.parametrize(
    "index", ["README.md", "docs/en/index.md", "docs/ja/index.md"]
)
def test_the_installation_page_is_the_first_link(index: str) -> None:
    text = (REPO / index).read_text(encoding="utf-8")
    first_link = re.search(r"\]\(([^)#]+\.md)\)", text)
    assert first_link is not None
    assert first_link.group(1).endswith("installation.md")
