"""Argo's `withSequence` fan-out, unrolled for the local executor.

A DAG task with `withSequence` becomes one task per value (`convert-0`, `convert-1`, …) with
`{{item}}` replaced by the value, and every `depends` naming the group is rewritten with Argo's
group semantics: `T` / `T.Succeeded` holds when every child succeeded, `T.Failed` when any
failed, `T.AnySucceeded` / `T.AllFailed` as named. The executor then runs plain tasks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

_PARAM = re.compile(r"\{\{\s*workflow\.parameters\.([\w-]+)\s*\}\}")
_ALL = {"Succeeded": ("Succeeded", " && "), "AllFailed": ("Failed", " && "),
        "Skipped": ("Skipped", " && "), "Omitted": ("Omitted", " && "),
        "Daemoned": ("Daemoned", " && ")}
_ANY = {"Failed": ("Failed", " || "), "AnySucceeded": ("Succeeded", " || "),
        "Errored": ("Errored", " || ")}


class SequenceError(ValueError):
    """A withSequence the local executor cannot unroll (one line for the user)."""


def _number(raw: Any, values: Mapping[str, str], what: str) -> int:
    text = _PARAM.sub(lambda m: str(values.get(m.group(1), m.group(0))), str(raw))
    try:
        return int(text)
    except ValueError:
        raise SequenceError(f"withSequence.{what} {raw!r} is not a number ({text!r})") from None


def sequence_values(seq: Mapping[str, Any], values: Mapping[str, str]) -> list[int]:
    """The values of a withSequence (count, or start..end inclusive, as Argo counts them)."""
    start = _number(seq.get("start", 0), values, "start")
    if "count" in seq:
        count = _number(seq["count"], values, "count")
        if count < 1:
            raise SequenceError(f"withSequence.count must be at least 1 locally, not {count}")
        return list(range(start, start + count))
    end = _number(seq.get("end", 0), values, "end")
    step = 1 if end >= start else -1
    return list(range(start, end + step, step))


def _substitute_item(value: Any, item: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_item(v, item) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_item(v, item) for v in value]
    if isinstance(value, str):
        return re.sub(r"\{\{\s*item\s*\}\}", item, value)
    return value


def rewrite_depends(text: str, groups: Mapping[str, list[str]]) -> str:
    """TEXT with every reference to an unrolled group replaced by its children's."""
    if not groups:
        return text
    names = "|".join(re.escape(n) for n in sorted(groups, key=len, reverse=True))
    atom = re.compile(rf"(?<![\w-])({names})(?:\.(\w+))?(?![\w-])")

    def expand(m: re.Match[str]) -> str:
        children, result = groups[m.group(1)], m.group(2) or "Succeeded"
        phase, joiner = _ALL.get(result) or _ANY.get(result) or (None, "")
        if phase is None:
            raise SequenceError(f"depends {text!r}: {m.group(0)} cannot be unrolled locally")
        return "(" + joiner.join(f"{c}.{phase}" for c in children) + ")"

    return atom.sub(expand, text)


def _unroll_dag(dag: dict[str, Any], values: Mapping[str, str]) -> None:
    tasks: list[dict[str, Any]] = []
    groups: dict[str, list[str]] = {}
    for task in dag.get("tasks") or []:
        seq = task.get("withSequence")
        if seq is None:
            tasks.append(task)
            continue
        base = {k: v for k, v in task.items() if k != "withSequence"}
        children = []
        for item in sequence_values(seq, values):
            child = _substitute_item({**copy.deepcopy(base), "name": f"{task['name']}-{item}"}, str(item))
            children.append(child["name"])
            tasks.append(child)
        groups[task["name"]] = children
    for task in tasks:
        if "depends" in task:
            task["depends"] = rewrite_depends(str(task["depends"]), groups)
    dag["tasks"] = tasks


def unroll_sequences(doc: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """A copy of the WorkflowTemplate DOC with every DAG's withSequence tasks unrolled, counts
    taken from OVERRIDES over the template's own parameter defaults."""
    out = copy.deepcopy(dict(doc))
    spec = out.get("spec") or {}
    defaults = {str(p.get("name")): str(p.get("value", ""))
                for p in (spec.get("arguments") or {}).get("parameters") or []}
    values = {**defaults, **overrides}
    for template in spec.get("templates") or []:
        if isinstance(template, dict) and isinstance(template.get("dag"), dict):
            _unroll_dag(template["dag"], values)
    return out
