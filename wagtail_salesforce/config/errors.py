"""Config problems, each located in its file: ``FILE:LINE: PATH: message (did you mean 'x'?)``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wagtail_salesforce import exceptions

ERROR = "error"
WARNING = "warning"


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
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


class ConfigError(exceptions.ConfigError):
    """The configuration is invalid; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
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
