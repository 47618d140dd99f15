"""A SOQL subset: lexer, parser and evaluator (compiled to closures over the engine's rows).

Supported: ``SELECT f, Rel.f | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`` where a condition is ``f op value``,
``f [NOT] IN (values)``, ``f LIKE 'pattern'``, combined with AND, OR, NOT and parentheses (AND
and OR cannot be mixed without parentheses, as in Salesforce). Values: strings in single quotes
(with Salesforce's escapes), numbers, ``null``, ``true``/``false``, dates, unquoted datetimes and
date literals (``TODAY``, ``LAST_N_DAYS:7`` ...). Keywords, object and field names
and text comparisons are case-insensitive.

Errors are ``SfApiError``: ``MALFORMED_QUERY`` for syntax, ``INVALID_FIELD`` / ``INVALID_TYPE`` for
unknown names and ``INVALID_QUERY_FILTER_OPERATOR`` for a value of the wrong type, with messages
shaped like Salesforce's (the statement, a caret, ``ERROR at Row:R:Column:C`` and the reason).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from .errors import SfApiError
from .ids import is_valid_id, to_18
from .orgfile import FieldDef, ObjectDef

MAX_STATEMENT_LENGTH = 100_000
MAX_STRING_LITERAL_LENGTH = 4_000
MAX_OFFSET = 2_000

KEYWORDS = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
        "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "COUNT",
    }
)  # fmt: skip
TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

_SIMPLE_ESCAPES = {
    "'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f",
}  # fmt: skip
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})"
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\dT])")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")

# Date literals without a number: (unit, offset in units from the current one, span in units).
_FIXED_DATE_LITERALS = {
    "YESTERDAY": ("day", -1, 1),
    "TODAY": ("day", 0, 1),
    "TOMORROW": ("day", 1, 1),
    "LAST_WEEK": ("week", -1, 1),
    "THIS_WEEK": ("week", 0, 1),
    "NEXT_WEEK": ("week", 1, 1),
    "LAST_MONTH": ("month", -1, 1),
    "THIS_MONTH": ("month", 0, 1),
    "NEXT_MONTH": ("month", 1, 1),
    "LAST_90_DAYS": ("day", -90, 91),
    "NEXT_90_DAYS": ("day", 1, 90),
    "LAST_YEAR": ("year", -1, 1),
    "THIS_YEAR": ("year", 0, 1),
    "NEXT_YEAR": ("year", 1, 1),
}
_N_DATE_LITERALS = frozenset(
    {
        "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_WEEKS", "NEXT_N_WEEKS",
        "N_WEEKS_AGO", "LAST_N_MONTHS", "NEXT_N_MONTHS", "N_MONTHS_AGO", "LAST_N_YEARS",
        "NEXT_N_YEARS", "N_YEARS_AGO",
    }
)  # fmt: skip


# --- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT KEYWORD STRING NUMBER DATE DATETIME DATE_LITERAL OP PUNCT EOF
    text: str  # the source text of the token
    value: Any
    pos: int
    # Indices in a STRING's value of '%'/'_' that were escaped (literal inside LIKE patterns).
    literal_wildcards: frozenset[int] = frozenset()


def _location(statement: str, pos: int) -> tuple[int, int, str]:
    row = statement.count("\n", 0, pos) + 1
    line_start = statement.rfind("\n", 0, pos) + 1
    line_end = statement.find("\n", pos)
    line = statement[line_start : line_end if line_end != -1 else len(statement)]
    return row, pos - line_start + 1, line


def query_error(statement: str, pos: int, code: str, reason: str) -> SfApiError:
    """An error in Salesforce's shape: the statement line, a caret, the row/column, the reason."""
    row, column, line = _location(statement, pos)
    message = f"{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{reason}"
    return SfApiError(400, code, message)


def _malformed(statement: str, pos: int, reason: str) -> SfApiError:
    return query_error(statement, pos, "MALFORMED_QUERY", reason)


def _read_string(statement: str, start: int) -> tuple[Token, int]:
    chars: list[str] = []
    literal_wildcards: set[int] = set()
    index = start + 1
    while True:
        if index >= len(statement):
            raise _malformed(statement, start, "unexpected token: <EOF>: unterminated string")
        char = statement[index]
        if char == "'":
            break
        if char != "\\":
            chars.append(char)
            index += 1
            continue
        escaped = statement[index + 1 : index + 2]
        if escaped in _SIMPLE_ESCAPES:
            chars.append(_SIMPLE_ESCAPES[escaped])
            index += 2
        elif escaped in ("%", "_"):
            literal_wildcards.add(len(chars))
            chars.append(escaped)
            index += 2
        elif escaped == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", statement[index + 2 : index + 6]):
            chars.append(chr(int(statement[index + 2 : index + 6], 16)))
            index += 6
        else:
            literal = statement[start : statement.find("'", index + 2) + 1 or len(statement)]
            raise _malformed(
                statement,
                start,
                f"Invalid string literal '{literal}'. Illegal character sequence "
                f"'\\{escaped}' in string literal.",
            )
    text = statement[start : index + 1]
    return Token("STRING", text, "".join(chars), start, frozenset(literal_wildcards)), index + 1


def _parse_datetime_literal(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    zone = match.group(8)
    offset = timedelta(0)
    if zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if zone[0] == "-":
            offset = -offset
    moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    return moment - offset


def tokenize(statement: str) -> list[Token]:
    tokens: list[Token] = []
    index = 0
    length = len(statement)
    while index < length:
        char = statement[index]
        if char.isspace():
            index += 1
            continue
        if char == "'":
            token, index = _read_string(statement, index)
            tokens.append(token)
            continue
        if char in "(),.":
            tokens.append(Token("PUNCT", char, char, index))
            index += 1
            continue
        operator = next((op for op in _OPERATORS if statement.startswith(op, index)), None)
        if operator is not None:
            tokens.append(Token("OP", operator, "!=" if operator == "<>" else operator, index))
            index += len(operator)
            continue
        if char.isdigit() or (char in "+-." and statement[index + 1 : index + 2].isdigit()):
            match = _DATETIME.match(statement, index)
            if match:
                try:
                    moment = _parse_datetime_literal(match)
                except ValueError as error:
                    raise _malformed(
                        statement, index, f"invalid datetime: {match.group()}"
                    ) from error
                tokens.append(Token("DATETIME", match.group(), moment, index))
                index = match.end()
                continue
            match = _DATE.match(statement, index)
            if match:
                try:
                    day = date(*(int(g) for g in match.groups()))
                except ValueError as error:
                    raise _malformed(statement, index, f"invalid date: {match.group()}") from error
                tokens.append(Token("DATE", match.group(), day, index))
                index = match.end()
                continue
            match = _NUMBER.match(statement, index)
            if match:
                text = match.group()
                number: int | float = float(text) if "." in text else int(text)
                tokens.append(Token("NUMBER", text, number, index))
                index = match.end()
                continue
        match = _IDENT.match(statement, index)
        if match:
            word = match.group()
            upper = word.upper()
            end = match.end()
            if upper in _FIXED_DATE_LITERALS:
                tokens.append(Token("DATE_LITERAL", word, (upper, 0), index))
            elif upper in _N_DATE_LITERALS:
                number_match = re.compile(r":(\d+)").match(statement, end)
                if not number_match:
                    raise _malformed(statement, index, f"unexpected token: '{word}'")
                end = number_match.end()
                value = (upper, int(number_match.group(1)))
                tokens.append(Token("DATE_LITERAL", statement[index:end], value, index))
            elif upper in KEYWORDS:
                tokens.append(Token("KEYWORD", word, upper, index))
            else:
                tokens.append(Token("IDENT", word, word, index))
            index = end
            continue
        raise _malformed(statement, index, f"unexpected token: '{char}'")
    tokens.append(Token("EOF", "<EOF>", None, length))
    return tokens


# --- syntax tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    path: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Literal:
    kind: str  # string number date datetime date_literal null boolean
    value: Any
    pos: int
    text: str
    literal_wildcards: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= LIKE
    literal: Literal


@dataclass(frozen=True)
class InList:
    field: FieldRef
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND OR
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Comparison | InList | BoolOp | Not


@dataclass(frozen=True)
class OrderKey:
    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    statement: str
    fields: tuple[FieldRef, ...]
    is_count: bool
    sobject: str
    sobject_pos: int
    where: Condition | None
    order_by: tuple[OrderKey, ...] = ()
    limit: int | None = None
    offset: int | None = None


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, statement: str) -> None:
        self.statement = statement
        self.tokens = tokenize(statement)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "EOF":
            self.index += 1
        return token

    def unexpected(self, token: Token | None = None) -> SfApiError:
        token = token or self.current
        shown = "<EOF>" if token.kind == "EOF" else token.text
        return _malformed(self.statement, token.pos, f"unexpected token: '{shown}'")

    def is_keyword(self, *words: str) -> bool:
        return self.current.kind == "KEYWORD" and self.current.value in words

    def expect_keyword(self, word: str) -> Token:
        if not self.is_keyword(word):
            raise self.unexpected()
        return self.advance()

    def is_punct(self, char: str) -> bool:
        return self.current.kind == "PUNCT" and self.current.value == char

    def expect_punct(self, char: str) -> Token:
        if not self.is_punct(char):
            raise self.unexpected()
        return self.advance()

    def identifier(self) -> Token:
        # Salesforce lets keywords that are not reserved in context be names; we keep it strict.
        if self.current.kind != "IDENT":
            raise self.unexpected()
        return self.advance()

    def field_ref(self) -> FieldRef:
        first = self.identifier()
        parts = [first.value]
        while self.is_punct("."):
            self.advance()
            parts.append(self.identifier().value)
        return FieldRef(tuple(parts), first.pos)

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        fields: list[FieldRef] = []
        is_count = False
        if self.is_keyword("COUNT"):
            self.advance()
            self.expect_punct("(")
            self.expect_punct(")")
            is_count = True
        else:
            fields.append(self.field_ref())
            while self.is_punct(","):
                self.advance()
                fields.append(self.field_ref())
        self.expect_keyword("FROM")
        sobject = self.identifier()
        where = None
        if self.is_keyword("WHERE"):
            self.advance()
            where = self.condition_list()
        order_by: list[OrderKey] = []
        if self.is_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            order_by.append(self.order_key())
            while self.is_punct(","):
                self.advance()
                order_by.append(self.order_key())
        limit = offset = None
        if self.is_keyword("LIMIT"):
            self.advance()
            limit = self.non_negative_integer()
        if self.is_keyword("OFFSET"):
            self.advance()
            offset = self.non_negative_integer()
            if offset > MAX_OFFSET:
                raise SfApiError(
                    400,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        if self.current.kind != "EOF":
            raise self.unexpected()
        return Query(
            statement=self.statement,
            fields=tuple(fields),
            is_count=is_count,
            sobject=sobject.value,
            sobject_pos=sobject.pos,
            where=where,
            order_by=tuple(order_by),
            limit=limit,
            offset=offset,
        )

    def non_negative_integer(self) -> int:
        token = self.current
        if token.kind != "NUMBER" or not isinstance(token.value, int) or token.value < 0:
            raise self.unexpected()
        self.advance()
        return token.value

    def order_key(self) -> OrderKey:
        ref = self.field_ref()
        descending = False
        if self.is_keyword("ASC", "DESC"):
            descending = self.advance().value == "DESC"
        nulls_last = False  # Salesforce's documented default: null values are sorted first
        if self.is_keyword("NULLS"):
            self.advance()
            if not self.is_keyword("FIRST", "LAST"):
                raise self.unexpected()
            nulls_last = self.advance().value == "LAST"
        return OrderKey(ref, descending, nulls_last)

    def condition_list(self) -> Condition:
        first = self.unary()
        if not self.is_keyword("AND", "OR"):
            return first
        joiner = self.current.value
        items = [first]
        while self.is_keyword("AND", "OR"):
            if self.current.value != joiner:
                # a = 1 AND b = 2 OR c = 3 is ambiguous; Salesforce asks for parentheses.
                raise self.unexpected()
            self.advance()
            items.append(self.unary())
        return BoolOp(joiner, tuple(items))

    def unary(self) -> Condition:
        if self.is_keyword("NOT"):
            self.advance()
            return Not(self.unary())
        if self.is_punct("("):
            self.advance()
            inner = self.condition_list()
            self.expect_punct(")")
            return inner
        return self.simple_condition()

    def simple_condition(self) -> Condition:
        ref = self.field_ref()
        token = self.current
        if token.kind == "OP":
            self.advance()
            return Comparison(ref, token.value, self.literal())
        if self.is_keyword("LIKE"):
            self.advance()
            pattern = self.literal(allow_like_escapes=True)
            if pattern.kind != "string":
                raise _malformed(
                    self.statement, pattern.pos, "invalid LIKE pattern: expected a string literal"
                )
            return Comparison(ref, "LIKE", pattern)
        negated = False
        if self.is_keyword("NOT"):
            self.advance()
            negated = True
            if not self.is_keyword("IN"):
                raise self.unexpected()
        if self.is_keyword("IN"):
            self.advance()
            self.expect_punct("(")
            if self.is_keyword("SELECT"):
                raise _malformed(
                    self.statement, self.current.pos, "semi-join sub-selects are not supported"
                )
            literals = [self.literal()]
            while self.is_punct(","):
                self.advance()
                literals.append(self.literal())
            self.expect_punct(")")
            return InList(ref, tuple(literals), negated)
        raise self.unexpected()

    def literal(self, allow_like_escapes: bool = False) -> Literal:
        token = self.current
        if token.kind == "STRING":
            if len(token.value) > MAX_STRING_LITERAL_LENGTH:
                raise _malformed(
                    self.statement,
                    token.pos,
                    f"String literal too long: a string in a filter is limited to "
                    f"{MAX_STRING_LITERAL_LENGTH:,} characters",
                )
            if token.literal_wildcards and not allow_like_escapes:
                raise _malformed(
                    self.statement,
                    token.pos,
                    f"Invalid string literal {token.text}. Illegal character sequence "
                    "'\\%' or '\\_' outside a LIKE pattern.",
                )
            self.advance()
            return Literal("string", token.value, token.pos, token.text, token.literal_wildcards)
        if token.kind in ("NUMBER", "DATE", "DATETIME", "DATE_LITERAL"):
            self.advance()
            kind = token.kind.lower()
            return Literal(kind, token.value, token.pos, token.text)
        if token.kind == "KEYWORD" and token.value in ("NULL", "TRUE", "FALSE"):
            self.advance()
            if token.value == "NULL":
                return Literal("null", None, token.pos, token.text)
            return Literal("boolean", token.value == "TRUE", token.pos, token.text)
        raise self.unexpected()


def parse(statement: str) -> Query:
    if len(statement) > MAX_STATEMENT_LENGTH:
        raise SfApiError(
            400,
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_STATEMENT_LENGTH:,} characters.",
        )
    if not statement.strip():
        raise SfApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(statement).parse()


def quote(value: str) -> str:
    """Quote ``value`` as a SOQL string literal (the inverse of the lexer's unescaping)."""
    escaped = []
    for char in value:
        if char == "\\":
            escaped.append("\\\\")
        elif char == "'":
            escaped.append("\\'")
        elif char == "\n":
            escaped.append("\\n")
        elif char == "\r":
            escaped.append("\\r")
        elif char == "\t":
            escaped.append("\\t")
        elif char == "\b":
            escaped.append("\\b")
        elif char == "\f":
            escaped.append("\\f")
        else:
            escaped.append(char)
    return "'" + "".join(escaped) + "'"


# --- index hints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexHint:
    """A top-level conjunct the engine can answer from an index instead of scanning rows."""

    field: FieldRef
    op: str  # "in" (for = and IN) or ">" / ">="
    literals: tuple[Literal, ...]


def index_hints(where: Condition | None) -> list[IndexHint]:
    """Conjuncts of the top-level AND (or the lone condition) of the form ``f = v``,
    ``f IN (...)``, ``f > v`` or ``f >= v``. Every row matching the WHERE satisfies each hint."""
    if where is None:
        return []
    conjuncts = where.items if isinstance(where, BoolOp) and where.op == "AND" else (where,)
    hints = []
    for conjunct in conjuncts:
        if isinstance(conjunct, Comparison) and conjunct.op == "=":
            hints.append(IndexHint(conjunct.field, "in", (conjunct.literal,)))
        elif isinstance(conjunct, Comparison) and conjunct.op in (">", ">="):
            hints.append(IndexHint(conjunct.field, conjunct.op, (conjunct.literal,)))
        elif isinstance(conjunct, InList) and not conjunct.negated:
            hints.append(IndexHint(conjunct.field, "in", conjunct.literals))
    return hints


# --- binding to a schema and evaluating ------------------------------------------------------


class Catalog(Protocol):
    """What the evaluator needs from the engine: schema look-up and row access."""

    def find_object(self, name: str) -> ObjectDef | None: ...

    def column(self, sobject: str, field_name: str) -> int: ...

    def fetch_row(self, sobject: str, record_id: str) -> Sequence[Any] | None: ...


Row = Sequence[Any]
Getter = Callable[[Row], Any]


class Hop(NamedTuple):
    """One step of a relationship path: ``Owner`` via ``OwnerId`` to ``User``."""

    relationship: str
    reference_field: str
    target: str


@dataclass(frozen=True)
class BoundField:
    ref: FieldRef
    hops: tuple[Hop, ...]  # the relationships followed, then ``field`` on the last object
    field: FieldDef
    getter: Getter


def unknown_column(statement: str, pos: int, name: str, sobject: str) -> SfApiError:
    return query_error(
        statement,
        pos,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names.",
    )


def bind_field(catalog: Catalog, root: ObjectDef, ref: FieldRef, statement: str) -> BoundField:
    path = list(ref.path)
    # "SELECT Lead.Email FROM Lead": a leading object name is allowed and means the object itself.
    if len(path) > 1 and path[0].lower() == root.name.lower():
        relationship_names = {
            (f.relationship_name or "").lower()
            for f in root.fields.values()
            if f.type == "reference"
        }
        if path[0].lower() not in relationship_names:
            path = path[1:]
    current = root
    hops: list[Hop] = []
    getters: list[Callable[[Row], Row | None]] = []
    for hop in path[:-1]:
        reference = next(
            (
                f
                for f in current.fields.values()
                if f.relationship_name and f.relationship_name.lower() == hop.lower()
            ),
            None,
        )
        if reference is None:
            raise query_error(
                statement,
                ref.pos,
                "INVALID_FIELD",
                f"Didn't understand relationship '{hop}' in field path. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        target_name = reference.reference_to[0]
        target = catalog.find_object(target_name)
        if target is None:
            raise query_error(statement, ref.pos, "INVALID_FIELD", f"No such relation '{hop}'")
        hops.append(Hop(reference.relationship_name or hop, reference.name, target.name))
        getters.append(_hop_getter(catalog, catalog.column(current.name, reference.name), target))
        current = target
    final = current.field(path[-1])
    if final is None:
        raise unknown_column(statement, ref.pos, path[-1], current.name)
    column = catalog.column(current.name, final.name)

    def getter(row: Row) -> Any:
        current = row
        for hop_getter in getters:
            parent = hop_getter(current)
            if parent is None:
                return None
            current = parent
        return current[column]

    return BoundField(ref, tuple(hops), final, getter)


def _hop_getter(catalog: Catalog, column: int, target: ObjectDef) -> Callable[[Row], Row | None]:
    def follow(row: Row) -> Row | None:
        target_id = row[column]
        return None if target_id is None else catalog.fetch_row(target.name, target_id)

    return follow


def format_datetime(moment: datetime) -> str:
    """Salesforce's JSON datetime form, always in UTC: 2026-11-29T01:24:02.000+0000."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def _shift_months(day: date, months: int) -> date:
    total = day.year * 12 + (day.month - 1) + months
    year, month = divmod(total, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def date_literal_range(name: str, number: int, today: date) -> tuple[date, date]:
    """[start, end) of a date literal, in days (UTC)."""
    if name in _FIXED_DATE_LITERALS:
        unit, offset, span = _FIXED_DATE_LITERALS[name]
    else:
        parts = name.split("_")
        unit = parts[parts.index("N") + 1].rstrip("S").lower()
        if parts[0] == "LAST":
            # LAST_N_DAYS:n is today and the n days before it; LAST_N_WEEKS:n etc. end with the
            # previous whole unit.
            offset, span = -number, number + (1 if unit == "day" else 0)
        elif parts[0] == "NEXT":
            offset, span = 1, number
        else:  # N_DAYS_AGO:n and friends: that single unit
            offset, span = -number, 1
    if unit == "day":
        start = today + timedelta(days=offset)
        return start, start + timedelta(days=span)
    if unit == "week":  # weeks start on Sunday (the default locale's first day)
        week_start = today - timedelta(days=(today.weekday() + 1) % 7)
        start = week_start + timedelta(weeks=offset)
        return start, start + timedelta(weeks=span)
    if unit == "month":
        start = _shift_months(today.replace(day=1), offset)
        return start, _shift_months(start, span)
    start = date(today.year + offset, 1, 1)
    return start, date(start.year + span, 1, 1)


def _type_error(statement: str, literal: Literal, bound: BoundField, expected: str) -> SfApiError:
    quoted = "be enclosed in quotes" if expected == "string" else "not be enclosed in quotes"
    return query_error(
        statement,
        literal.pos,
        "INVALID_QUERY_FILTER_OPERATOR",
        f"value of filter criterion for field '{bound.field.name}' must be of type {expected} "
        f"and should {quoted}",
    )


@dataclass(frozen=True)
class ComparableValue:
    """A literal converted to the stored form of the field it is compared with."""

    value: Any  # normalised scalar, or None for null
    range: tuple[Any, Any] | None = None  # [start, end) for date literals


def comparable(statement: str, bound: BoundField, literal: Literal, today: date) -> ComparableValue:
    type_ = bound.field.type
    if literal.kind == "null":
        return ComparableValue(None)
    if type_ in TEXT_TYPES:
        if literal.kind != "string":
            raise _type_error(statement, literal, bound, "string")
        return ComparableValue(literal.value.lower())
    if type_ in ID_TYPES:
        if literal.kind != "string":
            raise _type_error(statement, literal, bound, "string")
        if not is_valid_id(literal.value):
            raise query_error(
                statement, literal.pos, "INVALID_QUERY_FILTER_OPERATOR",
                f"invalid ID field: {literal.value}",
            )  # fmt: skip
        return ComparableValue(to_18(literal.value))
    if type_ == "boolean":
        if literal.kind != "boolean":
            raise _type_error(statement, literal, bound, "boolean")
        return ComparableValue(literal.value)
    if type_ in NUMBER_TYPES:
        if literal.kind != "number":
            raise _type_error(statement, literal, bound, "double" if type_ != "int" else "int")
        return ComparableValue(float(literal.value))
    if type_ == "date":
        if literal.kind == "date":
            return ComparableValue(literal.value.isoformat())
        if literal.kind == "date_literal":
            name, number = literal.value
            start, end = date_literal_range(name, number, today)
            return ComparableValue(None, (start.isoformat(), end.isoformat()))
        raise _type_error(statement, literal, bound, "date")
    if type_ == "datetime":
        if literal.kind == "datetime":
            return ComparableValue(format_datetime(literal.value))
        if literal.kind == "date_literal":
            name, number = literal.value
            start, end = date_literal_range(name, number, today)
            return ComparableValue(
                None,
                (
                    format_datetime(datetime(start.year, start.month, start.day, tzinfo=UTC)),
                    format_datetime(datetime(end.year, end.month, end.day, tzinfo=UTC)),
                ),
            )
        raise _type_error(statement, literal, bound, "dateTime")
    raise _type_error(statement, literal, bound, "string")


def normaliser(field_def: FieldDef) -> Callable[[Any], Any]:
    """Stored value -> the form comparisons use (lower-case text, float numbers)."""
    if field_def.type in TEXT_TYPES:
        return lambda value: None if value is None else value.lower()
    if field_def.type in NUMBER_TYPES:
        return lambda value: None if value is None else float(value)
    return lambda value: value


def like_matcher(pattern: str, literal_wildcards: frozenset[int]) -> Callable[[str], bool]:
    parts = []
    for index, char in enumerate(pattern):
        if char == "%" and index not in literal_wildcards:
            parts.append(".*")
        elif char == "_" and index not in literal_wildcards:
            parts.append(".")
        else:
            parts.append(re.escape(char))
    compiled = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
    return lambda value: compiled.fullmatch(value) is not None


Predicate = Callable[[Row], bool]


@dataclass
class _Compiler:
    catalog: Catalog
    root: ObjectDef
    statement: str
    today: date
    bound: dict[tuple[str, ...], BoundField] = field(default_factory=dict)

    def bind(self, ref: FieldRef) -> BoundField:
        key = tuple(part.lower() for part in ref.path)
        if key not in self.bound:
            self.bound[key] = bind_field(self.catalog, self.root, ref, self.statement)
        return self.bound[key]

    def compile(self, condition: Condition) -> Predicate:
        if isinstance(condition, BoolOp):
            parts = [self.compile(item) for item in condition.items]
            if condition.op == "AND":
                return lambda row: all(part(row) for part in parts)
            return lambda row: any(part(row) for part in parts)
        if isinstance(condition, Not):
            inner = self.compile(condition.item)
            return lambda row: not inner(row)
        if isinstance(condition, InList):
            return self.compile_in(condition)
        return self.compile_comparison(condition)

    def compile_in(self, condition: InList) -> Predicate:
        bound = self.bind(condition.field)
        norm = normaliser(bound.field)
        getter = bound.getter
        values = set()
        for literal in condition.literals:
            converted = comparable(self.statement, bound, literal, self.today)
            if converted.range is not None:
                raise _malformed(self.statement, literal.pos, "date literals are not allowed in IN")
            values.add(converted.value)
        if condition.negated:
            return lambda row: norm(getter(row)) not in values
        return lambda row: norm(getter(row)) in values

    def compile_comparison(self, condition: Comparison) -> Predicate:
        bound = self.bind(condition.field)
        getter = bound.getter
        norm = normaliser(bound.field)
        op = condition.op
        if op == "LIKE":
            if bound.field.type not in TEXT_TYPES and bound.field.type not in ID_TYPES:
                raise query_error(
                    self.statement, condition.literal.pos, "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid operator on {bound.field.type} field: LIKE",
                )  # fmt: skip
            matches = like_matcher(condition.literal.value, condition.literal.literal_wildcards)

            def like(row: Row) -> bool:
                value = getter(row)
                return value is not None and matches(value)

            return like
        converted = comparable(self.statement, bound, condition.literal, self.today)
        if converted.range is not None:
            return self.range_predicate(getter, op, converted.range)
        target = converted.value
        if target is None:
            if op == "=":
                return lambda row: getter(row) is None
            if op == "!=":
                return lambda row: getter(row) is not None
            raise _malformed(
                self.statement, condition.literal.pos, f"invalid operator for null: {op}"
            )
        if op == "=":
            return lambda row: norm(getter(row)) == target
        if op == "!=":
            # Unlike SQL, SOQL's != is true for null values.
            return lambda row: norm(getter(row)) != target
        compare = _ORDERING[op]

        def ordered(row: Row) -> bool:
            value = norm(getter(row))
            return value is not None and compare(value, target)

        return ordered

    @staticmethod
    def range_predicate(getter: Getter, op: str, bounds: tuple[Any, Any]) -> Predicate:
        start, end = bounds

        def check(row: Row) -> bool:
            value = getter(row)
            if value is None:
                return op == "!="
            if op == "=":
                return start <= value < end
            if op == "!=":
                return not start <= value < end
            if op == "<":
                return value < start
            if op == "<=":
                return value < end
            if op == ">":
                return value >= end
            return value >= start

        return check


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class CompiledQuery:
    query: Query
    root: ObjectDef
    select: tuple[BoundField, ...]
    predicate: Predicate | None
    order: tuple[tuple[BoundField, OrderKey], ...]
    hints: tuple[tuple[IndexHint, BoundField, tuple[ComparableValue, ...]], ...]


def compile_query(catalog: Catalog, query: Query, today: date) -> CompiledQuery:
    root = catalog.find_object(query.sobject)
    if root is None:
        raise query_error(
            query.statement,
            query.sobject_pos,
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )
    compiler = _Compiler(catalog, root, query.statement, today)
    select = []
    seen: set[tuple[str, ...]] = set()
    for ref in query.fields:
        bound = compiler.bind(ref)
        key = tuple(hop.relationship.lower() for hop in bound.hops) + (bound.field.name.lower(),)
        if key in seen:
            raise query_error(
                query.statement, ref.pos, "MALFORMED_QUERY", f"duplicate field selected: {ref.text}"
            )
        seen.add(key)
        select.append(bound)
    predicate = compiler.compile(query.where) if query.where is not None else None
    order = tuple((compiler.bind(key.field), key) for key in query.order_by)
    hints = []
    for hint in index_hints(query.where):
        bound = compiler.bind(hint.field)
        if bound.hops:
            continue
        values = tuple(comparable(query.statement, bound, lit, today) for lit in hint.literals)
        if any(value.range is not None for value in values):
            continue
        hints.append((hint, bound, values))
    return CompiledQuery(query, root, tuple(select), predicate, order, tuple(hints))


def sort_rows(rows: list[Row], order: Sequence[tuple[BoundField, OrderKey]]) -> list[Row]:
    """ORDER BY: stable sorts from the last key to the first; nulls placed per key."""
    for bound, key in reversed(order):
        norm = normaliser(bound.field)
        getter = bound.getter
        keyed = [(norm(getter(row)), row) for row in rows]
        present = [pair for pair in keyed if pair[0] is not None]
        missing = [pair[1] for pair in keyed if pair[0] is None]
        present.sort(key=lambda pair: pair[0], reverse=key.descending)
        ordered = [pair[1] for pair in present]
        rows = ordered + missing if key.nulls_last else missing + ordered
    return rows
