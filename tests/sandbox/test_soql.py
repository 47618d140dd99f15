"""The sandbox's SOQL subset: parsing, escapes, evaluation against an org, and error messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wagtail_salesforce.sandbox import soql
from wagtail_salesforce.sandbox.engine import Org, SfApiError
from wagtail_salesforce.sandbox.orgfile import definition_from_mapping, load_org_definition

V = "62.0"
NOW = datetime(2026, 11, 29, 1, 24, 2, tzinfo=UTC)  # a Sunday


class Clock:
    def __init__(self, moment: datetime = NOW) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def org(clock: Clock) -> Org:
    return Org(load_org_definition(None), clock=clock)


def lead(org: Org, last: str, **values: Any) -> str:
    return org.create("Lead", {"LastName": last, "Company": "Acme", **values})


def ids(org: Org, statement: str, include_deleted: bool = False) -> list[str]:
    return [r["Id"] for r in org.query(statement, include_deleted, V).page(0, 2000)]


def error_of(org: Org, statement: str) -> SfApiError:
    with pytest.raises(SfApiError) as caught:
        org.query(statement, False, V)
    return caught.value


def where_value(condition: str) -> Any:
    parsed = soql.parse(f"SELECT Id FROM Lead WHERE {condition}")
    assert isinstance(parsed.where, soql.Comparison)
    return parsed.where.literal.value


# --- lexing and parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        (r"'it\'s'", "it's"),
        (r"'say \"hi\"'", 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'a\nb'", "a\nb"),
        (r"'a\rb'", "a\rb"),
        (r"'a\tb'", "a\tb"),
        (r"'a\bb'", "a\bb"),
        (r"'a\fb'", "a\fb"),
        (r"'caf\u00e9'", "café"),
    ],
)
def test_string_escapes_decode_like_salesforce(literal: str, expected: str) -> None:
    assert where_value(f"LastName = {literal}") == expected


def test_unknown_backslash_escape_is_a_malformed_query() -> None:
    with pytest.raises(SfApiError) as caught:
        soql.parse(r"SELECT Id FROM Lead WHERE LastName = 'a\qb'")
    assert caught.value.status == 400
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert "Illegal character sequence '\\q' in string literal." in caught.value.message


def test_escaped_wildcard_outside_like_is_a_malformed_query() -> None:
    with pytest.raises(SfApiError) as caught:
        soql.parse(r"SELECT Id FROM Lead WHERE LastName = '100\%'")
    assert caught.value.error_code == "MALFORMED_QUERY"


def test_unterminated_string_is_a_malformed_query() -> None:
    with pytest.raises(SfApiError) as caught:
        soql.parse("SELECT Id FROM Lead WHERE LastName = 'open")
    assert caught.value.error_code == "MALFORMED_QUERY"


def test_statement_longer_than_100000_characters_is_rejected() -> None:
    statement = "SELECT Id FROM Lead WHERE LastName IN (" + ",".join(["'x'"] * 25_000) + ")"
    assert len(statement) > soql.MAX_STATEMENT_LENGTH
    with pytest.raises(SfApiError) as caught:
        soql.parse(statement)
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert "cannot be longer than 100,000 characters" in caught.value.message


def test_string_literal_longer_than_4000_characters_is_rejected() -> None:
    with pytest.raises(SfApiError) as caught:
        soql.parse(f"SELECT Id FROM Lead WHERE LastName = '{'x' * 4001}'")
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert "4,000" in caught.value.message


def test_string_literal_of_exactly_4000_characters_is_accepted() -> None:
    assert where_value(f"LastName = '{'x' * 4000}'") == "x" * 4000


def test_mixing_and_with_or_without_parentheses_is_malformed() -> None:
    with pytest.raises(SfApiError) as caught:
        soql.parse("SELECT Id FROM Lead WHERE LastName = 'a' AND Company = 'b' OR Email = 'c'")
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert caught.value.message.endswith("unexpected token: 'OR'")


def test_syntax_error_message_points_at_row_and_column() -> None:
    with pytest.raises(SfApiError) as caught:
        soql.parse("SELECT Id FROM Lead WHERE")
    assert caught.value.message == (
        "SELECT Id FROM Lead WHERE\n"
        "                         ^\n"
        "ERROR at Row:1:Column:26\n"
        "unexpected token: '<EOF>'"
    )


def test_datetime_literals_accept_fractions_and_offsets() -> None:
    assert where_value("CreatedDate > 2026-11-29T01:24:02Z") == NOW
    assert where_value("CreatedDate > 2026-11-29T10:24:02.5+09:00") == NOW + timedelta(
        microseconds=500_000
    )
    assert where_value("CreatedDate > 2026-11-28T20:24:02-05:00") == NOW


def test_date_literal_parses_to_a_date() -> None:
    assert where_value("ConvertedDate = 2026-11-29") == date(2026, 11, 29)


def test_relative_date_literal_keeps_its_number() -> None:
    assert where_value("CreatedDate = LAST_N_DAYS:7") == ("LAST_N_DAYS", 7)


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_string_quoted_for_soql_parses_back_to_itself(text: str) -> None:
    assert where_value(f"LastName = {soql.quote(text)}") == text


@given(st.text(alphabet=st.sampled_from("ab%_\\'"), max_size=30))
@settings(max_examples=200, deadline=None)
def test_quoted_strings_never_break_out_of_the_literal(text: str) -> None:
    parsed = soql.parse(f"SELECT Id FROM Lead WHERE LastName = {soql.quote(text)} LIMIT 1")
    assert isinstance(parsed.where, soql.Comparison)
    assert parsed.limit == 1


def test_index_hints_come_from_top_level_conjuncts_only() -> None:
    parsed = soql.parse(
        "SELECT Id FROM Lead WHERE Email IN ('a@x.com', 'b@x.com') AND "
        "SystemModstamp > 2026-11-01T00:00:00Z AND (Id = '00Q5g0000000001' OR Company = 'x')"
    )
    hints = soql.index_hints(parsed.where)
    assert [(h.field.text, h.op, len(h.literals)) for h in hints] == [
        ("Email", "in", 2),
        ("SystemModstamp", ">", 1),
    ]


def test_or_at_top_level_gives_no_index_hints() -> None:
    parsed = soql.parse("SELECT Id FROM Lead WHERE Email = 'a@x.com' OR Company = 'x'")
    assert soql.index_hints(parsed.where) == []


@pytest.mark.parametrize(
    ("literal", "number", "start", "end"),
    [
        ("TODAY", 0, date(2026, 11, 29), date(2026, 11, 30)),
        ("YESTERDAY", 0, date(2026, 11, 28), date(2026, 11, 29)),
        ("TOMORROW", 0, date(2026, 11, 30), date(2026, 12, 1)),
        ("LAST_N_DAYS", 3, date(2026, 11, 26), date(2026, 11, 30)),
        ("NEXT_N_DAYS", 2, date(2026, 11, 30), date(2026, 12, 2)),
        ("N_DAYS_AGO", 5, date(2026, 11, 24), date(2026, 11, 25)),
        ("THIS_WEEK", 0, date(2026, 11, 29), date(2026, 12, 6)),
        ("LAST_WEEK", 0, date(2026, 11, 22), date(2026, 11, 29)),
        ("THIS_MONTH", 0, date(2026, 11, 1), date(2026, 12, 1)),
        ("NEXT_MONTH", 0, date(2026, 12, 1), date(2027, 1, 1)),
        ("LAST_N_MONTHS", 12, date(2025, 11, 1), date(2026, 11, 1)),
        ("THIS_YEAR", 0, date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_date_literal_ranges(literal: str, number: int, start: date, end: date) -> None:
    assert soql.date_literal_range(literal, number, date(2026, 11, 29)) == (start, end)


# --- evaluation ------------------------------------------------------------------------------


def test_keywords_and_names_are_case_insensitive_and_results_use_canonical_names(org: Org) -> None:
    lead_id = lead(org, "Doe", Email="jo@example.com")
    records = org.query(
        "select id, lastname, EMAIL from lead where email = 'jo@example.com'", False, V
    ).page(0, 10)
    assert records == [
        {
            "attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{lead_id}"},
            "Id": lead_id,
            "LastName": "Doe",
            "Email": "jo@example.com",
        }
    ]


def test_text_equality_ignores_case_including_email(org: Org) -> None:
    lead_id = lead(org, "Doe", Email="Jo.Doe@Example.COM")
    assert ids(org, "SELECT Id FROM Lead WHERE Email = 'jo.doe@example.com'") == [lead_id]
    assert ids(org, "SELECT Id FROM Lead WHERE LastName = 'DOE'") == [lead_id]


def test_hostile_string_stays_a_literal(org: Org) -> None:
    lead(org, "Innocent")
    hostile_name = "x' OR LastName != '"
    hostile = lead(org, hostile_name)
    statement = f"SELECT Id FROM Lead WHERE LastName = {soql.quote(hostile_name)}"
    assert ids(org, statement) == [hostile]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("NumberOfEmployees = 10", ["ten"]),
        ("NumberOfEmployees != 10", ["none", "twenty"]),
        ("NumberOfEmployees <> 10", ["none", "twenty"]),
        ("NumberOfEmployees < 20", ["ten"]),
        ("NumberOfEmployees <= 20", ["ten", "twenty"]),
        ("NumberOfEmployees > 10", ["twenty"]),
        ("NumberOfEmployees >= 10", ["ten", "twenty"]),
        ("NumberOfEmployees = null", ["none"]),
        ("NumberOfEmployees != null", ["ten", "twenty"]),
        ("NumberOfEmployees IN (20, 30)", ["twenty"]),
        ("NumberOfEmployees NOT IN (20, 30)", ["none", "ten"]),
        ("NOT NumberOfEmployees = 10", ["none", "twenty"]),
        ("NumberOfEmployees = 10 OR Name = 'twenty'", ["ten", "twenty"]),
        ("(NumberOfEmployees = 10 OR Name = 'twenty') AND Name != 'ten'", ["twenty"]),
        ("Name > 't'", ["ten", "twenty"]),
        ("Name < 'T'", ["none"]),
    ],
)
def test_comparison_operators(org: Org, condition: str, expected: list[str]) -> None:
    org.create("Account", {"Name": "ten", "NumberOfEmployees": 10})
    org.create("Account", {"Name": "twenty", "NumberOfEmployees": 20})
    org.create("Account", {"Name": "none"})
    records = org.query(f"SELECT Name FROM Account WHERE {condition} ORDER BY Name", False, V).page(
        0, 10
    )
    assert [r["Name"] for r in records] == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("'sm%'", ["Smith", "smythe"]),
        ("'%TH%'", ["Smith", "smythe"]),
        ("'sm_th'", ["Smith"]),
        (r"'100\%'", ["100%"]),
        (r"'100%'", ["100%", "1000"]),
        (r"'a\_b'", ["a_b"]),
        ("'a_b'", ["a_b", "axb"]),
    ],
)
def test_like_wildcards_are_case_insensitive_and_escapable(
    org: Org, pattern: str, expected: list[str]
) -> None:
    for name in ("Smith", "smythe", "Jones", "100%", "1000", "a_b", "axb"):
        lead(org, name)
    records = org.query(
        f"SELECT LastName FROM Lead WHERE LastName LIKE {pattern} ORDER BY LastName", False, V
    ).page(0, 10)
    assert sorted(r["LastName"] for r in records) == sorted(expected)


def test_boolean_literals_compare_with_boolean_fields(org: Org) -> None:
    org.create("Campaign", {"Name": "Inactive one", "IsActive": False})
    names = [
        r["Name"]
        for r in org.query("SELECT Name FROM Campaign WHERE IsActive = TRUE", False, V).page(0, 9)
    ]
    assert names == ["Autumn Webinar"]


def test_date_field_compares_with_date_literal(org: Org) -> None:
    org.create("Campaign", {"Name": "Early", "StartDate": "2026-01-10"})
    org.create("Campaign", {"Name": "Late", "StartDate": "2026-12-10"})
    records = org.query("SELECT Name FROM Campaign WHERE StartDate >= 2026-06-01", False, V).page(
        0, 9
    )
    assert [r["Name"] for r in records] == ["Late"]


def test_datetime_literal_with_offset_compares_in_utc(org: Org, clock: Clock) -> None:
    before = lead(org, "Before")
    clock.advance(hours=1)
    after = lead(org, "After")
    # 2026-11-29T11:00:00+09:00 is 02:00Z: between the two creations (01:24Z and 02:24Z).
    statement = "SELECT Id FROM Lead WHERE CreatedDate > 2026-11-29T11:00:00+09:00"
    assert ids(org, statement) == [after]
    statement = "SELECT Id FROM Lead WHERE CreatedDate < 2026-11-29T02:00:00.000Z"
    assert ids(org, statement) == [before]


def test_relative_date_literals_use_the_clock(org: Org, clock: Clock) -> None:
    clock.moment = NOW - timedelta(days=3)
    old = lead(org, "Old")
    clock.moment = NOW - timedelta(days=1)
    yesterday = lead(org, "Yesterday")
    clock.moment = NOW
    today = lead(org, "Today")
    assert ids(org, "SELECT Id FROM Lead WHERE CreatedDate = TODAY") == [today]
    assert ids(org, "SELECT Id FROM Lead WHERE CreatedDate = YESTERDAY") == [yesterday]
    assert ids(org, "SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:1") == [yesterday, today]
    assert ids(org, "SELECT Id FROM Lead WHERE CreatedDate < LAST_N_DAYS:2") == [old]


def test_order_by_ascending_puts_nulls_first_by_default(org: Org) -> None:
    lead(org, "B", FirstName="b")
    lead(org, "N")
    lead(org, "A", FirstName="A")
    records = org.query("SELECT LastName FROM Lead ORDER BY FirstName", False, V).page(0, 9)
    assert [r["LastName"] for r in records] == ["N", "A", "B"]


def test_order_by_descending_also_puts_nulls_first_by_default(org: Org) -> None:
    # Salesforce's SOQL reference: "By default, null values are sorted first."
    lead(org, "B", FirstName="b")
    lead(org, "N")
    lead(org, "A", FirstName="A")
    records = org.query("SELECT LastName FROM Lead ORDER BY FirstName DESC", False, V).page(0, 9)
    assert [r["LastName"] for r in records] == ["N", "B", "A"]


def test_order_by_descending_nulls_last(org: Org) -> None:
    lead(org, "B", FirstName="b")
    lead(org, "N")
    lead(org, "A", FirstName="A")
    records = org.query(
        "SELECT LastName FROM Lead ORDER BY FirstName DESC NULLS LAST", False, V
    ).page(0, 9)
    assert [r["LastName"] for r in records] == ["B", "A", "N"]


def test_order_by_nulls_last_overrides_the_default(org: Org) -> None:
    lead(org, "B", FirstName="b")
    lead(org, "N")
    records = org.query(
        "SELECT LastName FROM Lead ORDER BY FirstName ASC NULLS LAST", False, V
    ).page(0, 9)
    assert [r["LastName"] for r in records] == ["B", "N"]


def test_order_by_several_keys(org: Org) -> None:
    lead(org, "Smith", FirstName="Zoe")
    lead(org, "Jones", FirstName="Amy")
    lead(org, "Smith", FirstName="Amy")
    records = org.query(
        "SELECT FirstName, LastName FROM Lead ORDER BY LastName DESC, FirstName ASC", False, V
    ).page(0, 9)
    assert [(r["LastName"], r["FirstName"]) for r in records] == [
        ("Smith", "Amy"),
        ("Smith", "Zoe"),
        ("Jones", "Amy"),
    ]


def test_limit_and_offset_slice_the_ordered_result(org: Org) -> None:
    for name in "ABCDE":
        lead(org, name)
    result = org.query("SELECT LastName FROM Lead ORDER BY LastName LIMIT 2 OFFSET 1", False, V)
    assert result.total_size == 2
    assert [r["LastName"] for r in result.page(0, 10)] == ["B", "C"]


def test_offset_above_2000_is_rejected(org: Org) -> None:
    error = error_of(org, "SELECT Id FROM Lead OFFSET 2001")
    assert (error.status, error.error_code, error.message) == (
        400,
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
    )


def test_count_returns_the_total_and_no_records(org: Org) -> None:
    lead(org, "A", Email="a@x.com")
    lead(org, "B", Email="b@x.com")
    lead(org, "C")
    result = org.query("SELECT COUNT() FROM Lead WHERE Email != null", False, V)
    assert result.total_size == 2
    assert result.page(0, 10) == []


def test_relationship_fields_are_nested_records(org: Org) -> None:
    lead_id = lead(org, "Doe")
    record = org.query(
        f"SELECT Owner.Name, Owner.Email, ConvertedContact.Email FROM Lead WHERE Id = '{lead_id}'",
        False,
        V,
    ).page(0, 1)[0]
    owner_id = org.get("Lead", lead_id, ["OwnerId"], V)["OwnerId"]
    assert record["Owner"] == {
        "attributes": {"type": "User", "url": f"/services/data/v62.0/sobjects/User/{owner_id}"},
        "Name": "Sandy Admin",
        "Email": "admin@sandbox.example",
    }
    assert record["ConvertedContact"] is None


def test_relationship_fields_can_filter(org: Org) -> None:
    lead_id = lead(org, "Doe", Email="doe@example.com")
    org.convert_lead(lead_id)
    lead(org, "Other")
    statement = "SELECT Id FROM Lead WHERE ConvertedContact.Email = 'DOE@example.com'"
    assert ids(org, statement) == [lead_id]


def test_fifteen_character_id_literal_matches_the_record(org: Org) -> None:
    lead_id = lead(org, "Doe")
    assert ids(org, f"SELECT Id FROM Lead WHERE Id = '{lead_id[:15]}'") == [lead_id]


def test_id_in_list_and_email_in_list_use_indexes_and_match_like_a_scan(org: Org) -> None:
    wanted = [lead(org, f"L{i}", Email=f"p{i}@example.com") for i in range(5)]
    emails = ", ".join(f"'P{i}@EXAMPLE.COM'" for i in range(0, 5, 2))
    assert ids(org, f"SELECT Id FROM Lead WHERE Email IN ({emails})") == wanted[0::2]
    id_list = ", ".join(f"'{i}'" for i in wanted[1::2])
    assert ids(org, f"SELECT Id FROM Lead WHERE Id IN ({id_list}) AND LastName = 'L1'") == [
        wanted[1]
    ]


def test_systemmodstamp_filter_finds_recently_modified_rows(org: Org, clock: Clock) -> None:
    first = lead(org, "First")
    clock.advance(minutes=5)
    second = lead(org, "Second")
    clock.advance(minutes=5)
    org.update("Lead", first, {"Title": "Touched"})
    statement = "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-29T01:25:00Z"
    assert sorted(ids(org, statement)) == sorted([first, second])
    statement = "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-29T01:30:00Z"
    assert ids(org, statement) == [first]


def test_systemmodstamp_filter_stays_correct_when_the_clock_goes_back(
    org: Org, clock: Clock
) -> None:
    clock.advance(hours=1)
    late = lead(org, "Late")
    clock.moment = NOW
    early = lead(org, "Early")
    statement = "SELECT Id FROM Lead WHERE SystemModstamp >= 2026-11-29T02:00:00Z"
    assert ids(org, statement) == [late]
    assert early not in ids(org, statement)


def test_deleted_rows_are_only_visible_with_include_deleted(org: Org) -> None:
    kept = lead(org, "Kept")
    gone = lead(org, "Gone")
    org.delete("Lead", gone)
    assert ids(org, "SELECT Id FROM Lead") == [kept]
    records = org.query("SELECT Id, IsDeleted FROM Lead", True, V).page(0, 9)
    assert [(r["Id"], r["IsDeleted"]) for r in records] == [(kept, False), (gone, True)]


def test_pages_are_built_on_demand_in_order(org: Org) -> None:
    created = [lead(org, f"L{i}") for i in range(5)]
    result = org.query("SELECT Id FROM Lead", False, V)
    assert result.total_size == 5
    assert [r["Id"] for r in result.page(0, 2)] == created[:2]
    assert [r["Id"] for r in result.page(2, 2)] == created[2:4]
    assert [r["Id"] for r in result.page(4, 2)] == created[4:]


def test_leading_object_name_in_a_field_path_is_allowed(org: Org) -> None:
    lead_id = lead(org, "Doe")
    records = org.query("SELECT Lead.LastName FROM Lead", False, V).page(0, 1)
    assert records[0]["LastName"] == "Doe"
    assert records[0]["attributes"]["url"].endswith(lead_id)


# --- errors ----------------------------------------------------------------------------------


def test_unknown_field_is_invalid_field_with_salesforce_wording(org: Org) -> None:
    error = error_of(org, "SELECT Id, Foo FROM Lead")
    assert (error.status, error.error_code) == (400, "INVALID_FIELD")
    assert error.message == (
        "SELECT Id, Foo FROM Lead\n"
        "           ^\n"
        "ERROR at Row:1:Column:12\n"
        "No such column 'Foo' on entity 'Lead'. If you are attempting to use a custom field, be "
        "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names."
    )


def test_unknown_field_in_where_is_invalid_field(org: Org) -> None:
    error = error_of(org, "SELECT Id FROM Lead WHERE Nope__c = 'x'")
    assert error.error_code == "INVALID_FIELD"
    assert "No such column 'Nope__c' on entity 'Lead'." in error.message


def test_unknown_object_is_invalid_type(org: Org) -> None:
    error = error_of(org, "SELECT Id FROM Foo")
    assert (error.status, error.error_code) == (400, "INVALID_TYPE")
    assert "sObject type 'Foo' is not supported." in error.message
    assert "ERROR at Row:1:Column:16" in error.message


def test_unknown_relationship_is_invalid_field(org: Org) -> None:
    error = error_of(org, "SELECT Boss.Name FROM Lead")
    assert error.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Boss' in field path." in error.message


def test_duplicate_selected_field_is_malformed(org: Org) -> None:
    error = error_of(org, "SELECT Id, id FROM Lead")
    assert error.error_code == "MALFORMED_QUERY"
    assert error.message.endswith("duplicate field selected: id")


def test_number_compared_with_text_field_is_a_filter_type_error(org: Org) -> None:
    error = error_of(org, "SELECT Id FROM Lead WHERE Email = 5")
    assert error.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert error.message.endswith(
        "value of filter criterion for field 'Email' must be of type string and should be "
        "enclosed in quotes"
    )


def test_quoted_datetime_is_a_filter_type_error(org: Org) -> None:
    error = error_of(org, "SELECT Id FROM Lead WHERE CreatedDate > '2026-11-29T01:24:02Z'")
    assert error.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert "must be of type dateTime and should not be enclosed in quotes" in error.message


def test_malformed_id_literal_is_a_filter_error(org: Org) -> None:
    error = error_of(org, "SELECT Id FROM Lead WHERE Id = 'abc'")
    assert error.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert error.message.endswith("invalid ID field: abc")


def test_custom_objects_are_queryable() -> None:
    definition = definition_from_mapping(
        {"objects": {"Event_Registration__c": {"fields": {"Email__c": {"type": "email"}}}}}
    )
    org = Org(definition, clock=Clock())
    record_id = org.create("Event_Registration__c", {"Name": "Reg", "Email__c": "a@b.co"})
    assert ids(org, "SELECT Id FROM event_registration__c WHERE email__c = 'A@B.CO'") == [record_id]


def test_custom_relationships_use_the_r_suffix() -> None:
    definition = definition_from_mapping(
        {
            "objects": {
                "Event_Registration__c": {
                    "fields": {"Lead__c": {"type": "reference", "reference_to": "Lead"}}
                }
            }
        }
    )
    org = Org(definition, clock=Clock())
    lead_id = lead(org, "Doe")
    org.create("Event_Registration__c", {"Name": "Reg", "Lead__c": lead_id})
    records = org.query("SELECT Name, Lead__r.LastName FROM Event_Registration__c", False, V)
    (record,) = records.page(0, 5)
    assert record["Lead__r"]["LastName"] == "Doe"
    assert record["Lead__r"]["attributes"]["type"] == "Lead"
