"""SOQL literal quoting, identifier checks and IN-list batching (pure functions)."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from wagtail_salesforce.client.soql import (
    MAX_LITERAL_CHARS,
    soql_field_list,
    soql_identifier,
    soql_in_batches,
    soql_quote,
)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("ada@example.com", "'ada@example.com'"),
        ("o'brien@example.com", r"'o\'brien@example.com'"),
        ("x' OR Email != '", r"'x\' OR Email != \''"),
        ("back\\slash", r"'back\\slash'"),
        ('say "hi"', r"'say \"hi\"'"),
        ("line\nbreak\r\ttab", r"'line\nbreak\r\ttab'"),
        ("bell\x07", r"'bell\u0007'"),
        ("100%_match", "'100%_match'"),
        ("名前@例え.jp", "'名前@例え.jp'"),
    ],
)
def test_soql_quote_escapes_every_special_character(value: str, literal: str) -> None:
    assert soql_quote(value) == literal


def test_soql_quote_never_leaves_an_unescaped_quote_inside_the_literal() -> None:
    hostile = "a'b\\'c\\\\'d"
    body = soql_quote(hostile)[1:-1]
    # Walk the escapes: every quote must be preceded by an escaping backslash.
    position = 0
    while position < len(body):
        if body[position] == "\\":
            position += 2
            continue
        assert body[position] != "'"
        position += 1


def test_soql_quote_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        soql_quote(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Lead", "Email", "My_Field__c", "ns__Obj__c", "Owner.Name"])
def test_soql_identifier_accepts_api_names(name: str) -> None:
    assert soql_identifier(name) == name


@pytest.mark.parametrize("name", ["", "Email,Id", "Id FROM User", "1Field", "Email--", "a..b"])
def test_soql_identifier_rejects_anything_else(name: str) -> None:
    with pytest.raises(ValueError, match="API name"):
        soql_identifier(name)


def test_soql_field_list_needs_fields() -> None:
    assert soql_field_list(["Id", "Email"]) == "Id, Email"
    with pytest.raises(ValueError, match="at least one field"):
        soql_field_list([])


def test_soql_in_batches_respects_value_count_and_url_encoded_budget() -> None:
    values = [f"person{n}@example.com" for n in range(1000)]
    batches = list(soql_in_batches(values, max_chars=3500, max_values=150))
    assert [literal for batch in batches for literal in batch] == [soql_quote(v) for v in values]
    for batch in batches:
        assert len(batch) <= 150
        assert len(quote_plus(", ".join(batch))) <= 3500


def test_soql_in_batches_counts_non_ascii_at_its_encoded_size() -> None:
    values = [f"名前{n}@例え.jp" for n in range(300)]
    batches = list(soql_in_batches(values, max_chars=2000, max_values=500))
    assert len(batches) > 1
    for batch in batches:
        assert len(quote_plus(", ".join(batch))) <= 2000


def test_soql_in_batches_rejects_a_value_longer_than_a_soql_literal() -> None:
    with pytest.raises(ValueError, match="4000"):
        list(soql_in_batches(["x" * (MAX_LITERAL_CHARS + 1)], max_chars=100_000))


def test_soql_in_batches_of_nothing_is_nothing() -> None:
    assert list(soql_in_batches([])) == []
