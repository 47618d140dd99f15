"""The app's models and its one initial migration agree."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

import wagtail_salesforce


@pytest.mark.django_db
def test_the_models_need_no_new_migration() -> None:
    out = StringIO()
    # --check exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "wagtail_salesforce", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()


def test_there_is_one_initial_migration() -> None:
    folder = Path(wagtail_salesforce.__file__).parent / "migrations"
    assert sorted(path.name for path in folder.glob("0*.py")) == [
        "0001_initial.py",
        "0007_erasure.py",
    ]
