"""Django system checks report the YAML config's problems at ``manage.py check`` and start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from wagtail_salesforce.config.checks import check_config_files

HERE = Path(__file__).parent
REPO = HERE.parents[1]


def test_invalid_config_gives_one_error_per_problem_with_file_line_and_hint(settings):
    path = HERE / "invalid" / "misspelt-form-key.yaml"
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(path)]}
    messages = check_config_files()
    assert [(m.level, m.id) for m in messages] == [(checks.ERROR, "wagtail_salesforce.E101")] * 2
    assert messages[0].msg == f"{path}:5: forms.contact-us: missing required key 'object'"
    assert messages[0].hint is None
    assert messages[1].msg == f"{path}:7: forms.contact-us.objet: unknown key 'objet'"
    assert messages[1].hint == "Did you mean 'object'?"


def test_hints_keep_the_case_of_the_suggested_name(settings):
    path = HERE / "invalid" / "sync-match-misspelt.yaml"
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(path)]}
    [message] = check_config_files()
    assert message.hint == "Did you mean 'Contact'?"


def test_valid_config_passes(settings):
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(HERE / "valid" / "issue-example.yaml")]}
    assert check_config_files() == []


def test_a_configured_file_that_is_missing_is_an_error(settings, tmp_path: Path):
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(tmp_path / "salesforce.yaml")]}
    [message] = check_config_files()
    assert message.msg == f"{tmp_path / 'salesforce.yaml'}: file not found"


def test_without_the_setting_a_missing_default_file_is_fine(settings, tmp_path: Path):
    settings.WAGTAIL_SALESFORCE = {}
    settings.BASE_DIR = tmp_path
    assert check_config_files() == []


def test_manage_py_check_fails_on_an_invalid_config(settings):
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(HERE / "invalid" / "wrong-version.yaml")]}
    with pytest.raises(SystemCheckError, match=r"wagtail_salesforce\.E101.*must be 1, not 2"):
        call_command("check")


def test_manage_py_check_passes_with_the_example_site_config(settings, capsys):
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(REPO / "example_site" / "salesforce.yaml")]}
    call_command("check")
    assert "System check identified no issues" in capsys.readouterr().out
