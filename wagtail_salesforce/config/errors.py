"""Config problems, each located in its file: ``FILE:LINE: PATH: message (did you mean 'x'?)``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wagtail_salesforce import exceptions

ERROR = "error"
WARNING = "warning"

# A broken or hostile file can hold hundreds of thousands of problems; nobody reads past the
# first screenful, and listing them all costs memory and minutes.
MAX_REPORTED_ISSUES = 100


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in the configuration.

    ``line`` and ``column`` are 1-based (None when the problem has no place in a file, e.g. a file
    that cannot be read). ``path`` is dotted (``forms.contact-us.fields.Email``); ``hint`` is a
    suggestion such as ``did you mean 'forms'?``.
    """

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str = ""
    severity: str = ERROR
    # Set on the closing "... and N more problems" line: the problems it stands for.
    omitted: int = 0

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line is not None else self.file
        where = f"{place}: {self.path}: " if self.path else f"{place}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        if self.severity != ERROR:
            text = f"{text} [{self.severity}]"
        return text

    def as_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }
        if self.omitted:
            entry["omitted"] = self.omitted
        return entry


def problem_count(issues: Iterable[ConfigIssue]) -> int:
    """How many problems ``issues`` report, counting those a closing line stands for."""
    return sum(issue.omitted or 1 for issue in issues)


def capped(issues: Sequence[ConfigIssue]) -> list[ConfigIssue]:
    """The first :data:`MAX_REPORTED_ISSUES` of ``issues``, then one line counting the rest."""
    if len(issues) <= MAX_REPORTED_ISSUES:
        return list(issues)
    rest = issues[MAX_REPORTED_ISSUES:]
    more = problem_count(rest)
    files = ", ".join(dict.fromkeys(issue.file for issue in rest))
    return [
        *issues[:MAX_REPORTED_ISSUES],
        ConfigIssue(files, None, None, "", f"… and {more:,} more problems", omitted=more),
    ]


class ConfigError(exceptions.ConfigError):
    """The configuration is invalid; ``issues`` lists the problems found, in file order: the
    first :data:`MAX_REPORTED_ISSUES`, then a line counting the rest (see :func:`capped`)."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = capped(issues)
        count = problem_count(self.issues)
        summary = f"{count} problem{'s' if count != 1 else ''} in the Salesforce config"
        super().__init__(summary + ":\n" + "\n".join(f"  {issue}" for issue in self.issues))


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """``did you mean 'x'?`` for the closest candidate, or "" when none is close."""
    if not isinstance(word, str):
        return ""
    options = list(candidates)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        # Case slips ("lead" for "Lead") are the commonest misspelling and score low above.
        by_case = {option.lower(): option for option in options}
        if word.lower() in by_case:
            close = [by_case[word.lower()]]
    return f"did you mean '{close[0]}'?" if close else ""


def dotted(path: Iterable[object]) -> str:
    """``("forms", "contact-us", "fields", "Email")`` -> ``forms.contact-us.fields.Email``."""
    return ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in path).replace(
        ".[", "["
    )
