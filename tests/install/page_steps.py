"""The installation page's steps, read from the Markdown: the page is the test's script.

A step is a fenced block right after an HTML comment (invisible when the page is rendered):

    <!-- step: run -->                      a shell block, run to completion
    <!-- step: run-in-background NAME -->   a shell block that keeps running (a server)
    <!-- step: write PATH -->               the file PATH gets the block as its content
    <!-- step: append PATH -->              the block is appended to the file PATH
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"

_STEP = re.compile(
    r"^<!-- step: (?P<action>run-in-background|run|write|append)(?: (?P<argument>\S+))? -->\n"
    r"```[^\n]*\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
ACTIONS = ("run", "run-in-background", "write", "append")


@dataclass(frozen=True)
class Step:
    action: str
    argument: str  # the path (write, append), the process name (run-in-background), or ""
    body: str

    def __str__(self) -> str:
        return f"{self.action} {self.argument}".strip()


def page_steps(language: str = "en") -> list[Step]:
    text = (DOCS / language / "installation.md").read_text(encoding="utf-8")
    steps = [
        Step(match["action"], match["argument"] or "", match["body"])
        for match in _STEP.finditer(text)
    ]
    # A marker the pattern missed (a typo, a blank line before the fence) would skip a step.
    assert len(steps) == text.count("<!-- step:"), "a step marker is not followed by its block"
    return steps
