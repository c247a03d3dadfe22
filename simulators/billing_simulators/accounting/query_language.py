"""The QuickBooks query language (external-apis.md 2.5), parsed into a `Query`.

`SELECT * | count(*) | *, p, ... | p, ... FROM <Entity> [WHERE p op v [AND ...]]
[ORDERBY p [ASC|DESC]] [STARTPOSITION n] [MAXRESULTS n]`; operators
`=, <, >, <=, >=, IN, LIKE`; no OR. Intuit's grammar names only `*` and
count(*), yet the service takes a column list (clients send `SELECT Id, SyncToken
FROM ...` and `SELECT *, Sku FROM Item`); `*` with columns still returns whole
objects, columns alone return just those properties, marked sparse [T].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .wire import QboError

DEFAULT_PAGE = 100
MAX_PAGE = 1000

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool


@dataclass(frozen=True)
class Condition:
    path: str
    op: str  # "=", "<", ">", "<=", ">=", "IN", "LIKE"
    values: tuple[Literal, ...]


@dataclass
class Query:
    entity: str
    count_only: bool = False
    columns: tuple[str, ...] = ()  # the properties asked for when there is no `*`
    conditions: list[Condition] = field(default_factory=list)
    order_by: str | None = None
    descending: bool = False
    start_position: int = 1
    max_results: int = DEFAULT_PAGE


def parse_error(detail: str) -> QboError:
    return QboError(400, "4000", "Error parsing query", f"QueryParserError: {detail}")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip().rstrip(";")
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise parse_error(f"Encountered unexpected text at {text[position:position + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise parse_error("The query ended too early")
        self.index += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.index += 1
            return token[1].upper()
        return None

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise parse_error(f"Expected {word} near {self.peek()[1] if self.peek() else 'the end'!r}")

    def expect(self, text: str) -> None:
        kind, value = self.take()
        if value != text:
            raise parse_error(f"Expected {text!r}, found {value!r}")


def parse_query(text: str) -> Query:
    reader = _Reader(_tokens(text))
    reader.expect_keyword("SELECT")
    count_only = False
    columns: tuple[str, ...] = ()
    if reader.keyword("COUNT"):
        reader.expect("(")
        reader.expect("*")
        reader.expect(")")
        count_only = True
    else:
        columns = _select_list(reader)
    reader.expect_keyword("FROM")
    kind, entity = reader.take()
    if kind != "word":
        raise parse_error(f"Expected an entity name, found {entity!r}")
    query = Query(entity=entity, count_only=count_only, columns=columns)
    if reader.keyword("WHERE"):
        query.conditions.append(_condition(reader))
        while reader.keyword("AND"):
            query.conditions.append(_condition(reader))
        if reader.keyword("OR"):
            raise parse_error("OR is not supported; run one query per alternative")
    if reader.keyword("ORDERBY", "ORDER"):
        if reader.tokens[reader.index - 1][1].upper() == "ORDER":
            reader.expect_keyword("BY")
        query.order_by = reader.take()[1]
        direction = reader.keyword("ASC", "DESC")
        query.descending = direction == "DESC"
    if reader.keyword("STARTPOSITION"):
        query.start_position = _positive_int(reader.take()[1], "STARTPOSITION")
    if reader.keyword("MAXRESULTS"):
        query.max_results = _positive_int(reader.take()[1], "MAXRESULTS")
        if query.max_results > MAX_PAGE:
            raise parse_error(f"MAXRESULTS may not exceed {MAX_PAGE}")
    leftover = reader.peek()
    if leftover is not None:
        if leftover[1].upper() == "OR":
            raise parse_error("OR is not supported; run one query per alternative")
        raise parse_error(f"Unexpected {leftover[1]!r}")
    return query


def _select_list(reader: _Reader) -> tuple[str, ...]:
    """`*`, `*, p, ...` or `p, ...`: the named properties, or () for whole objects."""
    star, columns = False, []
    while True:
        kind, value = reader.take()
        if value == "*" and not star and not columns:
            star = True
        elif kind == "word" and not value[0].isdigit() and value.upper() != "FROM":
            columns.append(value)
        else:
            raise parse_error(f"Expected * or a property name, found {value!r}")
        if not (reader.peek() and reader.peek()[1] == ","):
            break
        reader.take()
    return () if star else tuple(columns)


def _condition(reader: _Reader) -> Condition:
    kind, path = reader.take()
    if kind != "word":
        raise parse_error(f"Expected a property name, found {path!r}")
    if reader.keyword("IN"):
        reader.expect("(")
        values = [_literal(reader)]
        while reader.peek() and reader.peek()[1] == ",":
            reader.take()
            values.append(_literal(reader))
        reader.expect(")")
        return Condition(path, "IN", tuple(values))
    if reader.keyword("LIKE"):
        return Condition(path, "LIKE", (_literal(reader),))
    kind, op = reader.take()
    if kind != "op" or op in ("!=", "<>"):
        raise parse_error(f"Unsupported operator {op!r}")
    return Condition(path, op, (_literal(reader),))


def _literal(reader: _Reader) -> Literal:
    kind, value = reader.take()
    if kind == "string":
        inner = value[1:-1].replace("''", "'")
        return Literal(re.sub(r"\\(.)", r"\1", inner), quoted=True)
    if kind == "word":
        return Literal(value, quoted=False)
    raise parse_error(f"Expected a value, found {value!r}")


def _positive_int(text: str, keyword: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise parse_error(f"{keyword} must be a positive integer, got {text!r}")
    return int(text)
