"""docs/{en,ja}/settings.md document every key of WAGTAIL_SALESFORCE, and no key that is gone."""

import re
from pathlib import Path

import pytest

from wagtail_salesforce import conf

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("language", ["en", "ja"])
def test_settings_page_lists_exactly_the_known_keys(language: str) -> None:
    page = (DOCS / language / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", page, flags=re.MULTILINE))
    assert documented == set(conf.DEFAULTS)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_settings_page_gives_each_keys_declared_type(language: str) -> None:
    page = (DOCS / language / "settings.md").read_text(encoding="utf-8")
    documented = {
        key: kind.replace("\\|", "|")
        for key, kind in re.findall(r"^\| `([A-Z_]+)` \| `([^`]+)` \|", page, flags=re.MULTILINE)
    }
    declared = {key: conf.describe_type(setting.type) for key, setting in conf.SETTINGS.items()}
    assert documented == declared
