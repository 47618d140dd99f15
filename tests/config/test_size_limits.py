"""A huge config file is refused unread, and a file full of problems lists the first hundred."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from wagtail_salesforce.config import ConfigError, get_config, load_config, loads, validate_files
from wagtail_salesforce.config.__main__ import main
from wagtail_salesforce.config.checks import check_config_files
from wagtail_salesforce.config.errors import MAX_REPORTED_ISSUES, problem_count

FIFTY_MB = 50 * 1024 * 1024
FORMS_WITH_PROBLEMS = 250  # each form below has two problems: no label, an unknown key


@pytest.fixture
def huge_config(tmp_path: Path) -> Path:
    """A 50 MB YAML file of valid-looking forms, written in chunks (never held in memory)."""
    path = tmp_path / "huge.yaml"
    block = "".join(
        f"  form-{i}:\n    label: Form {i}\n    object: Lead\n    fields:\n"
        f"      Email: {{from: email}}\n"
        for i in range(1000)
    ).encode()
    with path.open("wb") as file:
        file.write(b"version: 1\nforms:\n")
        while file.tell() < FIFTY_MB:
            file.write(block)
    return path


@pytest.fixture
def many_problems(tmp_path: Path) -> Path:
    path = tmp_path / "many.yaml"
    lines = ["version: 1", "forms:"]
    for i in range(FORMS_WITH_PROBLEMS):
        lines += [f"  form-{i}:", "    object: Lead", "    fields:", "      Email: {from: e, x: 1}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_file_above_the_limit_is_refused_naming_file_size_and_limit(huge_config):
    size = huge_config.stat().st_size
    [issue] = validate_files([huge_config])
    assert issue.file == str(huge_config)
    assert issue.message == (
        f"the file is {size:,} bytes, above the limit of 1,048,576 bytes "
        "(WAGTAIL_SALESFORCE['CONFIG_MAX_BYTES'])"
    )


def test_a_file_above_the_limit_is_never_read_into_memory(huge_config):
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError):
            load_config([huge_config])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"peak {peak:,} bytes while refusing a {FIFTY_MB:,}-byte file"


def test_the_site_loader_and_the_system_check_refuse_it_too(huge_config, settings):
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(huge_config)]}
    with pytest.raises(ConfigError, match="above the limit of 1,048,576 bytes"):
        get_config()
    [message] = check_config_files()
    assert message.msg.startswith(f"{huge_config}: the file is ")


def test_the_cli_refuses_it_with_one_line(huge_config, capsys):
    assert main(["validate", str(huge_config)]) == 1
    captured = capsys.readouterr()
    [line] = captured.out.splitlines()
    assert "above the limit of 1,048,576 bytes" in line
    assert captured.err == "1 problem found.\n"


def test_the_limit_is_a_setting(tmp_path, settings):
    path = tmp_path / "small.yaml"
    path.write_text("version: 1\n" + "# padding\n" * 20)
    settings.WAGTAIL_SALESFORCE = {"CONFIG_MAX_BYTES": 100}
    [issue] = validate_files([path])
    assert issue.message.startswith(f"the file is {path.stat().st_size:,} bytes, above the limit")
    settings.WAGTAIL_SALESFORCE = {"CONFIG_MAX_BYTES": 10_000}
    assert validate_files([path]) == []


def test_a_stream_without_a_size_is_cut_at_the_limit(tmp_path):
    """/dev/zero reports size 0 and never ends: reading stops one byte past the limit."""
    [issue] = validate_files([Path("/dev/zero")], max_bytes=4096)
    assert issue.message.startswith("the file is 4,097 bytes, above the limit of 4,096 bytes")


def test_a_string_above_the_limit_is_refused_by_loads():
    with pytest.raises(ConfigError) as raised:
        loads("version: 1\n" + "#" * 200, max_bytes=100)
    [issue] = raised.value.issues
    assert issue.message.startswith("the file is 211 bytes, above the limit of 100 bytes")


def test_the_first_hundred_problems_are_listed_then_a_count_of_the_rest(many_problems):
    issues = validate_files([many_problems])
    total = 2 * FORMS_WITH_PROBLEMS
    assert len(issues) == MAX_REPORTED_ISSUES + 1
    assert [issue.line for issue in issues[:MAX_REPORTED_ISSUES]] == sorted(
        issue.line or 0 for issue in issues[:MAX_REPORTED_ISSUES]
    )
    closing = issues[-1]
    assert str(closing) == f"{many_problems}: … and {total - MAX_REPORTED_ISSUES:,} more problems"
    assert problem_count(issues) == total


def test_the_error_message_and_the_cli_count_every_problem(many_problems, capsys):
    with pytest.raises(ConfigError) as raised:
        load_config([many_problems])
    message = str(raised.value)
    assert message.startswith("500 problems in the Salesforce config:\n")
    assert message.count("\n") == MAX_REPORTED_ISSUES + 1
    assert main(["validate", str(many_problems)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == MAX_REPORTED_ISSUES + 1
    assert captured.err == "500 problems found.\n"


def test_the_system_check_reports_at_most_a_hundred_and_one_messages(many_problems, settings):
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(many_problems)]}
    messages = check_config_files()
    assert len(messages) == MAX_REPORTED_ISSUES + 1
    assert messages[-1].msg == f"{many_problems}: … and 400 more problems"
