"""Offline validation of config files, with no Django settings and no network.

    python -m wagtail_salesforce.config validate salesforce.yaml [more.yaml ...]
    wagtail-salesforce validate salesforce.yaml
    wagtail-salesforce reference        # the YAML reference table, from the schema

On success each file gets one line, ``OK: FILE: 1 form mapping, sync with 4 fields``; otherwise
each problem gets one, ``FILE:LINE: PATH: message``. Exit status: 0 when the files are valid
(together), 1 with every problem listed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import ConfigError, ConfigIssue, problem_count
from .loader import load_config
from .model import SalesforceConfig
from .reference import markdown_table


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def file_summaries(config: SalesforceConfig) -> list[str]:
    """One ``OK: FILE: ...`` line per file of a valid ``config``: what each file declares."""
    lines = []
    for file in config.files:
        forms = sum(
            1 for form in config.forms.values() if form.location and form.location.file == file
        )
        parts = [_plural(forms, "form mapping")]
        sync = config.sync
        if sync is not None and sync.location is not None and sync.location.file == file:
            parts.append(
                f"sync with {_plural(len(sync.fields), 'field')}"
                + ("" if sync.enabled else " (disabled)")
            )
        lines.append(f"OK: {file}: {', '.join(parts)}")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wagtail-salesforce",
        description="Tools for wagtail-salesforce's YAML config.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check config files offline (schema and rules); exit 1 listing every problem",
        description="Check config files offline. Several files are validated together, as the "
        "site loads them (a form key defined in two files is an error).",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="YAML config file")
    validate.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text (default): one 'FILE:LINE: PATH: message' line per problem; json: a list",
    )
    commands.add_parser(
        "reference",
        help="print the YAML reference table (Markdown) generated from the schema",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "reference":
        print(markdown_table(), end="")
        return 0
    config: SalesforceConfig | None = None
    issues: list[ConfigIssue] = []
    try:
        config = load_config(args.files)
    except ConfigError as error:
        issues = error.issues
    if args.format == "json":
        print(json.dumps([issue.as_dict() for issue in issues], indent=2))
    else:
        for issue in issues:
            print(issue)
        if config is not None:
            print("\n".join(file_summaries(config)))
        if issues:
            count = problem_count(issues)
            print(f"{count} problem{'s' if count != 1 else ''} found.", file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
