"""The run search language: parse ``metrics.auc > 0.9 and params.model = 'lgbm'``.

Written by hand because the language is tiny and its errors must point at the offending
position; SQL parsers (sqlparse, as MLflow uses) accept far more than we mean and report less.

Grammar (keywords case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := field OP value
                | field ["not"] "in" "(" value ("," value)* ")"
                | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags") "." name | attribute
    name       := identifier | `back quoted` | "double quoted"
    OP         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
    value      := number | 'single quoted string' | "double quoted string"

Attributes: ``run_id``, ``name``, ``status``, ``experiment``, ``parent_run_id``, ``start_time``,
``end_time`` (times compare with ISO 8601 strings or epoch milliseconds).
Order-by terms are ``field [asc|desc]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from modelcycle.errors import FilterSyntaxError

__all__ = [
    "ATTRIBUTES",
    "And",
    "Comparison",
    "Field",
    "Node",
    "Not",
    "Or",
    "OrderTerm",
    "parse_filter",
    "parse_order_by",
]

ATTRIBUTES = frozenset(
    {"run_id", "name", "status", "experiment", "parent_run_id", "start_time", "end_time"}
)
ENTITIES = frozenset({"metrics", "params", "tags"})
_ENTITY_ALIASES = {"metric": "metrics", "param": "params", "tag": "tags", "attributes": ""}

Value = float | str | None


@dataclass(frozen=True)
class Field:
    """What a comparison reads: ``entity`` is metrics/params/tags, or "" for an attribute."""

    entity: str
    key: str

    def __str__(self) -> str:
        return f"{self.entity}.{self.key}" if self.entity else self.key


@dataclass(frozen=True)
class Comparison:
    """``field op value``; for ``in`` the value is a tuple, for ``is null`` it is None."""

    field: Field
    op: str
    value: Value | tuple[Value, ...]


@dataclass(frozen=True)
class And:
    """Both sides hold."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    """Either side holds."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    """The operand does not hold."""

    operand: Node


Node = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderTerm:
    """One ``field [asc|desc]`` term of an order-by list."""

    field: Field
    direction: Literal["asc", "desc"]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<backquoted>`[^`]*`)
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),.])
      | (?P<word>[A-Za-z_][\w\-/:]*)
    )""",
    re.VERBOSE,
)
_COMPARISON_WORDS = {"like", "ilike"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    stripped_end = len(text.rstrip())
    while pos < stripped_end:
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise _error(text, _skip_space(text, pos), "unexpected character")
        start = match.start(match.lastgroup)
        tokens.append(_Token(match.lastgroup, match.group(match.lastgroup), start))
        pos = match.end()
    return tokens


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _error(text: str, pos: int, why: str) -> FilterSyntaxError:
    return FilterSyntaxError(f"invalid filter {text!r} at position {pos}: {why}")


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    return re.sub(r"\\(.)", r"\1", body) if token.kind == "string" else body


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def peek_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.lower() in words

    def take(self, why: str) -> _Token:
        token = self.peek()
        if token is None:
            raise _error(self.text, len(self.text), f"{why}, found the end")
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take(f"expected {text!r}")
        if token.text.lower() != text:
            raise _error(self.text, token.pos, f"expected {text!r}, found {token.text!r}")

    def fail(self, token: _Token, why: str) -> FilterSyntaxError:
        return _error(self.text, token.pos, why)

    def expr(self) -> Node:
        node = self.and_expr()
        while self.peek_word("or"):
            self.index += 1
            node = Or(node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.peek_word("and"):
            self.index += 1
            node = And(node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.peek_word("not"):
            self.index += 1
            return Not(self.not_expr())
        token = self.peek()
        if token is not None and token.text == "(":
            self.index += 1
            node = self.expr()
            self.expect(")")
            return node
        return self.comparison()

    def field(self) -> Field:
        token = self.take("expected a field such as metrics.auc")
        if token.kind != "word":
            raise self.fail(token, f"expected a field such as metrics.auc, found {token.text!r}")
        word = token.text.lower()
        nxt = self.peek()
        if nxt is not None and nxt.text == ".":
            entity = _ENTITY_ALIASES.get(word, word)
            if entity and entity not in ENTITIES:
                raise self.fail(
                    token,
                    f"unknown field group {token.text!r}; use metrics, "
                    "params, tags or an attribute",
                )
            self.index += 1
            key = self.take("expected a key after '.'")
            if key.kind not in ("word", "backquoted", "string", "number"):
                raise self.fail(key, f"expected a key after '.', found {key.text!r}")
            name = _unquote(key) if key.kind in ("backquoted", "string") else key.text
            if entity:
                return Field(entity, name)
            word = name.lower()
        if word not in ATTRIBUTES:
            raise self.fail(
                token,
                f"unknown attribute {token.text!r}; known: "
                f"{', '.join(sorted(ATTRIBUTES))}, or metrics./params./tags.<key>",
            )
        return Field("", word)

    def value(self) -> Value:
        token = self.take("expected a value")
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return _unquote(token)
        if token.kind == "word" and token.text.lower() == "null":
            return None
        raise self.fail(token, f"expected a number or a quoted string, found {token.text!r}")

    def comparison(self) -> Comparison:
        field = self.field()
        op_token = self.take(f"expected an operator after {field}")
        op = op_token.text.lower()
        if op == "is":
            negate = self.peek_word("not")
            self.index += negate
            self.expect("null")
            return Comparison(field, "is not null" if negate else "is null", None)
        if op == "not" and self.peek_word("in"):
            self.index += 1
            op = "not in"
        if op in ("in", "not in"):
            self.expect("(")
            values = [self.value()]
            while (token := self.peek()) is not None and token.text == ",":
                self.index += 1
                values.append(self.value())
            self.expect(")")
            return Comparison(field, op, tuple(values))
        if op_token.kind == "op" or op in _COMPARISON_WORDS:
            op = {"==": "=", "<>": "!="}.get(op, op)
            return Comparison(field, op, self.value())
        raise self.fail(op_token, f"expected an operator after {field}, found {op_token.text!r}")


def parse_filter(text: str) -> Node | None:
    """Parse a filter expression; an empty string means "no filter" (None)."""
    parser = _Parser(text)
    if not parser.tokens:
        return None
    node = parser.expr()
    leftover = parser.peek()
    if leftover is not None:
        raise parser.fail(leftover, f"unexpected {leftover.text!r}; join conditions with and/or")
    return node


def parse_order_by(terms: list[str] | tuple[str, ...]) -> list[OrderTerm]:
    """Parse order-by terms such as ``metrics.auc desc`` or ``start_time``."""
    result: list[OrderTerm] = []
    for term in terms:
        parser = _Parser(term)
        if not parser.tokens:
            continue
        field = parser.field()
        direction: Literal["asc", "desc"] = "asc"
        if parser.peek_word("asc", "desc"):
            direction = "desc" if parser.take("").text.lower() == "desc" else "asc"
        leftover = parser.peek()
        if leftover is not None:
            raise _error(term, leftover.pos, f"expected asc or desc, found {leftover.text!r}")
        result.append(OrderTerm(field, direction))
    return result
