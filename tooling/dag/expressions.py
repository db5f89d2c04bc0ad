"""The two small expression languages the conformance template uses, parsed and evaluated.

- Argo's DAG `depends` logic: `(a.Succeeded || a.Failed) && !b.Skipped`, a bare task name
  meaning `(t.Succeeded || t.Skipped || t.Daemoned)`.
- The subset of expr-lang that a `retryStrategy.expression` uses: literals, dotted names,
  `asInt()`/`asFloat()`/`string()`, comparisons, `in [..]`, `&&`/`||`/`!` (and `and`/`or`/`not`).

Parsing happens before a run, so an expression outside this subset is refused up front
(`ExpressionError`) instead of being guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tooling.argo import DEPENDS_RESULTS
from tooling.errors import ToolingError

# what a bare task name means in a depends expression
_BARE_OK = ("Succeeded", "Skipped", "Daemoned")


class ExpressionError(ToolingError, ValueError):
    """The expression is outside the supported subset, or malformed."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, str, name, op, end
    value: str


_OPS = ("&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "[", "]", ",", "-")


def _tokenize(text: str, name_chars: str) -> list[_Tok]:
    name_re = re.compile(rf"[A-Za-z_][{name_chars}]*")
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit():
            m = re.compile(r"\d+(\.\d+)?").match(text, i)
            assert m
            out.append(_Tok("num", m.group()))
            i = m.end()
            continue
        if ch in "\"'":
            end = text.find(ch, i + 1)
            if end < 0:
                raise ExpressionError(f"unterminated string in {text!r}")
            out.append(_Tok("str", text[i + 1 : end]))
            i = end + 1
            continue
        m = name_re.match(text, i)
        if m:
            word = m.group()
            if word in ("and", "or", "not", "in", "true", "false"):
                out.append(_Tok("op" if word not in ("true", "false") else "bool", word))
            else:
                out.append(_Tok("name", word))
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                out.append(_Tok("op", op))
                i += len(op)
                break
        else:
            raise ExpressionError(f"unsupported character {ch!r} in {text!r}")
    out.append(_Tok("end", ""))
    return out


# An AST node is a closure over the evaluation environment.
Node = Callable[[Mapping[str, Any]], Any]

_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "asInt": lambda v: int(str(v).strip()),
    "asFloat": lambda v: float(str(v).strip()),
    "string": str,
    "int": lambda v: int(v),
    "float": lambda v: float(v),
}

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
}


def _or(left: Node, right: Node) -> Node:
    return lambda env: bool(left(env)) or bool(right(env))


def _and(left: Node, right: Node) -> Node:
    return lambda env: bool(left(env)) and bool(right(env))


class _Parser:
    """Precedence climbing: or < and < not < comparison < unary minus < primary."""

    def __init__(self, text: str, tokens: list[_Tok]) -> None:
        self.text = text
        self.toks = tokens
        self.i = 0
        self.names: set[str] = set()

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok.value != value:
            raise ExpressionError(f"expected {value!r} in {self.text!r}, got {tok.value or 'end'!r}")

    def parse(self) -> Node:
        node = self.or_()
        if self.peek().kind != "end":
            raise ExpressionError(f"unexpected {self.peek().value!r} in {self.text!r}")
        return node

    def or_(self) -> Node:
        left = self.and_()
        while self.peek().value in ("||", "or"):
            self.take()
            left = _or(left, self.and_())
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.peek().value in ("&&", "and"):
            self.take()
            left = _and(left, self.not_())
        return left

    def not_(self) -> Node:
        if self.peek().value in ("!", "not"):
            self.take()
            inner = self.not_()
            return lambda env: not inner(env)
        return self.compare()

    def compare(self) -> Node:
        left = self.unary()
        op = self.peek().value
        if self.peek().kind == "op" and op in _COMPARE:
            self.take()
            right = self.unary()
            fn = _COMPARE[op]
            return lambda env: fn(left(env), right(env))
        return left

    def unary(self) -> Node:
        if self.peek().value == "-":
            self.take()
            inner = self.unary()
            return lambda env: -inner(env)
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            value: Any = float(tok.value) if "." in tok.value else int(tok.value)
            return lambda env: value
        if tok.kind == "str":
            return lambda env: tok.value
        if tok.kind == "bool":
            flag = tok.value == "true"
            return lambda env: flag
        if tok.value == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if tok.value == "[":
            items: list[Node] = []
            while self.peek().value != "]":
                items.append(self.or_())
                if self.peek().value == ",":
                    self.take()
            self.expect("]")
            return lambda env: [item(env) for item in items]
        if tok.kind == "name":
            if self.peek().value == "(":
                if tok.value not in _FUNCTIONS:
                    raise ExpressionError(f"unsupported function {tok.value}() in {self.text!r}")
                self.take()
                arg = self.or_()
                self.expect(")")
                fn = _FUNCTIONS[tok.value]
                return lambda env: fn(arg(env))
            self.names.add(tok.value)
            name = tok.value
            return lambda env: env[name]
        raise ExpressionError(f"unexpected {tok.value or 'end'!r} in {self.text!r}")


@dataclass(frozen=True)
class Expression:
    text: str
    names: frozenset[str]
    _node: Node

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self._node(env)


def parse_retry_expression(text: str, allowed: frozenset[str]) -> Expression:
    """Parse a retryStrategy expression; names must be among `allowed` (e.g. lastRetry.exitCode)."""
    parser = _Parser(text, _tokenize(text, r"\w."))
    node = parser.parse()
    unknown = sorted(parser.names - allowed)
    if unknown:
        raise ExpressionError(
            f"unsupported variable {unknown[0]!r} in {text!r} (supported: {', '.join(sorted(allowed))})"
        )
    return Expression(text, frozenset(parser.names), node)


@dataclass(frozen=True)
class Depends:
    """A parsed `depends` expression: the tasks it waits for, and its value given their phases."""

    text: str
    tasks: frozenset[str]
    _node: Node

    def evaluate(self, results: Mapping[str, frozenset[str]]) -> bool:
        """`results[task]` = the depends results that hold for that task (e.g. {Failed})."""
        env: dict[str, bool] = {}
        for task in self.tasks:
            held = results[task]
            env[task] = any(r in held for r in _BARE_OK)
            for r in DEPENDS_RESULTS:
                env[f"{task}.{r}"] = r in held
        return bool(self._node(env))


def parse_depends(text: str, known_tasks: frozenset[str]) -> Depends:
    """Parse Argo's enhanced depends logic; every task named must exist in the DAG."""
    parser = _Parser(text, _tokenize(text, r"\w.\-"))
    node = parser.parse()
    tasks: set[str] = set()
    for name in parser.names:
        task, _, result = name.partition(".")
        if result and result not in DEPENDS_RESULTS:
            raise ExpressionError(
                f"unknown result {result!r} for task {task!r} in {text!r} "
                f"(Argo knows: {', '.join(DEPENDS_RESULTS)})"
            )
        if task not in known_tasks:
            raise ExpressionError(f"depends names task {task!r}, which is not in the DAG")
        tasks.add(task)
    return Depends(text, frozenset(tasks), node)


def results_for_phase(phase: str) -> frozenset[str]:
    """The depends results that hold for a finished (non-expanded) task in PHASE."""
    return frozenset(
        {
            "Succeeded": {"Succeeded", "AnySucceeded"},
            "Failed": {"Failed", "AllFailed"},
            "Error": {"Errored", "AllFailed"},
            "Skipped": {"Skipped"},
            "Omitted": {"Omitted"},
        }.get(phase, set())
    )
