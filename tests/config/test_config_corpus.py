"""The corpus of invalid config files: each file states, in ``# expect:`` comments, every message
the validator must produce for it (``LINE: PATH: message`` or a part of one), and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from wagtail_salesforce.config import ConfigIssue, validate_files

INVALID = Path(__file__).parent / "invalid"
INVALID_FILES = sorted(INVALID.glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect:").strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("# expect:")
    ]


def without_file(issue: ConfigIssue) -> str:
    """The issue as printed, minus the leading ``FILE:``."""
    return str(issue).removeprefix(f"{issue.file}:")


def test_the_corpus_has_at_least_25_invalid_files_each_with_expectations():
    assert len(INVALID_FILES) >= 25
    assert all(expectations(path) for path in INVALID_FILES)


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda path: path.stem)
def test_invalid_file_produces_exactly_its_expected_messages(path: Path):
    issues = validate_files([path])
    printed = [without_file(issue) for issue in issues]
    expected = expectations(path)
    for message in expected:
        assert any(message in line for line in printed), f"{message!r} not in {printed}"
    assert len(issues) == len(expected), printed
    assert all(issue.file == str(path) for issue in issues)
