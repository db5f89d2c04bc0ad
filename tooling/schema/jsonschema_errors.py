"""Turn jsonschema validation errors into findings with readable field paths.

One finding per problem: an unknown field is reported at its own path
(`spec.templates[2].container.imagee`), and for `anyOf`/`oneOf` failures
(optional fields are `anyOf: [X, null]` in generated schemas) the most
specific error inside is reported instead of "is not valid under any of the
given schemas".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema import ValidationError

from conformance.findings import Finding, Rule
from tooling.schema import quantity


def field_path(parts: Iterable[Any]) -> str:
    """`spec.templates[2].container` from a jsonschema path deque."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out = f"{out}.{p}" if out else str(p)
    return out


def _is_null_branch(error: ValidationError) -> bool:
    schema = error.schema
    return isinstance(schema, dict) and schema.get("type") in ("null", ["null"])


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The specific errors under an anyOf/oneOf failure (all of them, in the branch that applies).

    Optional fields are `anyOf: [X, null]`: the errors inside X are what matters. For a real
    union (int-or-string) whose every branch fails on the type itself, the union error is kept.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context or _only_required(error.validator_value):
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    real = [errs for errs in branches.values() if not (len(errs) == 1 and _is_null_branch(errs[0]))]
    if not real:
        return [error]
    if len(real) > 1:
        depth = len(error.absolute_path)
        if all(e.validator == "type" and len(e.absolute_path) == depth for errs in real for e in errs):
            return [error]
        real = [max(real, key=lambda errs: (max(len(e.absolute_path) for e in errs), -len(errs)))]
    return [leaf for sub in real[0] for leaf in _leaves(sub)]


def _type_mismatch(error: ValidationError) -> int:
    return 1 if error.validator == "type" else 0


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expected_types(error: ValidationError) -> str:
    types: list[str] = []
    for sub in error.context or ():
        t = sub.schema.get("type") if isinstance(sub.schema, dict) else None
        for name in [t] if isinstance(t, str) else (t or []):
            if name != "null" and name not in types:
                types.append(name)
    return " or ".join(types)


def _only_required(branches: Any) -> bool:
    return isinstance(branches, list) and all(isinstance(b, dict) and set(b) == {"required"} for b in branches)


def describe(error: ValidationError) -> Iterator[tuple[str, str]]:
    """(field path, message) for one jsonschema error (several for unknown fields or unions)."""
    for leaf in _leaves(error):
        yield from _describe_one(leaf)


def _describe_one(error: ValidationError) -> Iterator[tuple[str, str]]:
    path = field_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema.get("properties") or {}).keys())
        patterns = error.schema.get("patternProperties") or {}
        extras = [k for k in error.instance if k not in allowed] if not patterns else []
        if extras:
            for key in extras:
                yield f"{path}.{key}" if path else str(key), f"unknown field {key!r}"
            return
    if error.validator == "required":
        missing = error.message.split(" is a required property")[0]
        yield path, f"missing required field {missing}"
        return
    if error.validator in ("anyOf", "oneOf") and _only_required(error.validator_value):
        fields = [f for sub in error.validator_value for f in sub["required"]]
        yield path, f"needs exactly one of the fields {', '.join(fields)}"
        return
    if error.validator in ("anyOf", "oneOf"):
        expected = _expected_types(error)
        if expected:
            yield path, f"{_short(error.instance)} has the wrong type: expected {expected}"
            return
    if error.validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else [t for t in expected if t != "null"]
        yield path, f"{_short(error.instance)} has the wrong type: expected {' or '.join(names)}"
        return
    if error.validator == "pattern" and error.validator_value == quantity.PATTERN:
        yield path, f"{_short(error.instance)} is not a Kubernetes quantity (e.g. 2Gi, 500m, 1e3)"
        return
    if error.validator == "enum":
        allowed_values = ", ".join(repr(v) for v in error.validator_value)
        yield path, f"{_short(error.instance)} is not one of {allowed_values}"
        return
    yield path, error.message if len(error.message) < 200 else error.message[:197] + "..."


def findings_from_errors(errors: Iterable[ValidationError], rule: Rule, where: dict[str, str]) -> list[Finding]:
    """Findings for every error, sorted by path, without repeats."""
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        for path, message in describe(error):
            if (path, message) in seen:
                continue
            seen.add((path, message))
            out.append(rule.finding(message, path=path, **where))
    return sorted(out, key=lambda f: f.path)
