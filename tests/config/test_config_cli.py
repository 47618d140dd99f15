"""The offline validator: `python -m wagtail_salesforce.config validate`, `wagtail-salesforce`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wagtail_salesforce.config.__main__ import main

HERE = Path(__file__).parent
VALID = HERE / "valid"
INVALID = HERE / "invalid"
REPO = HERE.parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run in a clean process with no Django settings module, as a pre-commit hook would."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False
    )


def test_valid_files_exit_0_with_one_ok_line_per_file_saying_what_it_declares(capsys):
    example = REPO / "example_site" / "salesforce.yaml"
    minimal = VALID / "minimal.yaml"
    assert main(["validate", str(example), str(minimal)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"OK: {example}: 1 form mapping, sync with 4 fields",
        f"OK: {minimal}: 1 form mapping",
    ]
    assert captured.err == ""


def test_a_file_with_only_a_disabled_sync_says_so(capsys):
    path = VALID / "sync-only.yaml"
    assert main(["validate", str(path)]) == 0
    expected = f"OK: {path}: 0 form mappings, sync with 2 fields (disabled)\n"
    assert capsys.readouterr().out == expected


def test_several_mappings_in_one_file_are_counted(capsys, tmp_path: Path):
    path = tmp_path / "two.yaml"
    path.write_text(
        "version: 1\nforms:\n"
        "  a: {label: A, object: Lead, fields: {LastName: {from: name}, Company: {value: X}}}\n"
        "  b: {label: B, object: Lead, fields: {LastName: {from: name}, Company: {value: Y}}}\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"OK: {path}: 2 form mappings\n"


def test_nothing_is_reported_ok_when_one_file_of_several_is_invalid(capsys):
    invalid = INVALID / "wrong-version.yaml"
    assert main(["validate", str(VALID / "minimal.yaml"), str(invalid)]) == 1
    assert "OK:" not in capsys.readouterr().out


def test_invalid_files_exit_1_listing_every_problem_of_every_file(capsys):
    first = INVALID / "misspelt-form-key.yaml"
    second = INVALID / "sync-conflict-typo.yaml"
    assert main(["validate", str(first), str(second)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{first}:5: forms.contact-us: missing required key 'object'",
        f"{first}:7: forms.contact-us.objet: unknown key 'objet' (did you mean 'object'?)",
        f"{second}:7: sync.fields.first_name.conflict: 'newest_win' is not one of: "
        "salesforce_wins, wagtail_wins, newest_wins, salesforce_unless_blank "
        "(did you mean 'newest_wins'?)",
    ]


def test_json_format_lists_issues_as_objects(capsys):
    path = INVALID / "wrong-version.yaml"
    assert main(["validate", "--format", "json", str(path)]) == 1
    [issue] = json.loads(capsys.readouterr().out)
    assert issue == {
        "file": str(path),
        "line": 2,
        "column": 1,
        "path": "version",
        "message": "must be 1, not 2",
        "hint": "",
        "severity": "error",
    }


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["validate"])
    assert raised.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_module_runs_without_django_settings():
    result = run(
        sys.executable,
        "-m",
        "wagtail_salesforce.config",
        "validate",
        "tests/config/invalid/misspelt-top-key.yaml",
        "example_site/salesforce.yaml",
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == (
        "tests/config/invalid/misspelt-top-key.yaml:3: froms: unknown key 'froms' "
        "(did you mean 'forms'?)\n"
    )
    assert result.stderr == "1 problem found.\n"


def test_console_script_validates_the_example_site_config():
    script = Path(sys.executable).with_name("wagtail-salesforce")
    result = run(str(script), "validate", "example_site/salesforce.yaml")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "OK: example_site/salesforce.yaml: 1 form mapping, sync with 4 fields\n", ""
    )
