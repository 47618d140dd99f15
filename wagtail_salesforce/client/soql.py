"""Safe SOQL building: literal quoting, identifier checks and ``IN (...)`` batching.

Every value that reaches a SOQL string goes through :func:`soql_quote`, so a quote, backslash or
newline in (say) an email address can never change the shape of a query. Identifiers (object and
field names) cannot be quoted in SOQL, so they are checked against a strict pattern instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote_plus

# Longest string literal Salesforce accepts in a WHERE clause.
MAX_LITERAL_CHARS = 4000

# Characters with a named escape inside a SOQL string literal. Any other backslash sequence is a
# MALFORMED_QUERY, so the backslash itself must be escaped first.
_NAMED_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE = re.compile(r"[\\'\"\x00-\x1f\x7f]")

# API names: Lead, Email, My_Field__c, ns__Obj__c, and dotted relationship paths like Owner.Name.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def soql_quote(value: str) -> str:
    """Return ``value`` as a SOQL string literal, quotes included.

    ``%`` and ``_`` are left alone: they are only special (and only escapable) inside ``LIKE``.
    """
    if not isinstance(value, str):
        raise TypeError(f"SOQL string literals must be str, not {type(value).__name__}")
    return "'" + _NEEDS_ESCAPE.sub(_escape_char, value) + "'"


def soql_identifier(name: str) -> str:
    """Return ``name`` if it is a valid API name (or dotted relationship path), else raise."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"Not a valid Salesforce API name: {name!r}")
    return name


def soql_field_list(fields: Sequence[str]) -> str:
    """Comma-separated, validated field names for a SELECT clause."""
    if not fields:
        raise ValueError("A SOQL SELECT needs at least one field")
    return ", ".join(soql_identifier(field) for field in fields)


def soql_in_batches(
    values: Iterable[str], *, max_chars: int = 3500, max_values: int = 200
) -> Iterator[list[str]]:
    """Split ``values`` into lists of quoted literals, each fit for one ``IN (...)`` clause.

    A batch holds at most ``max_values`` literals and at most ``max_chars`` characters of the
    *URL-encoded* list (a query travels in a GET URL, where a non-ASCII character costs up to nine
    characters), so the request line stays far below Salesforce's ~16 KB limit.
    """
    if max_values < 1 or max_chars < 1:
        raise ValueError("max_values and max_chars must be positive")
    batch: list[str] = []
    batch_chars = 0
    for value in values:
        literal = soql_quote(value)
        if len(literal) - 2 > MAX_LITERAL_CHARS:
            raise ValueError(f"A SOQL string literal is limited to {MAX_LITERAL_CHARS} characters")
        # ", " separator, URL-encoded as "%2C+".
        cost = len(quote_plus(literal)) + 4
        if cost > max_chars:
            raise ValueError(f"One value alone exceeds the {max_chars}-character IN list budget")
        if batch and (len(batch) >= max_values or batch_chars + cost > max_chars):
            yield batch
            batch, batch_chars = [], 0
        batch.append(literal)
        batch_chars += cost
    if batch:
        yield batch
