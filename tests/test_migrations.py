"""The app's models and its migrations agree; 0001_initial (released in 0.1.0) stays first."""

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


def test_there_is_one_initial_migration_and_it_comes_first() -> None:
    folder = Path(wagtail_salesforce.__file__).parent / "migrations"
    names = sorted(path.name for path in folder.glob("0*.py"))
    assert names[0] == "0001_initial.py"
    assert [name for name in names if "initial" in name] == ["0001_initial.py"]
