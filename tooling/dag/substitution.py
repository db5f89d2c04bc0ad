"""Argo's `{{…}}` substitution, strict: a reference that does not resolve is an error that names
the field, never left in place or replaced by an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tooling.argo import TAG
from tooling.errors import ToolingError


class SubstitutionError(ToolingError, ValueError):
    def __init__(self, field: str, variable: str, reason: str) -> None:
        super().__init__(f"{field}: {{{{{variable}}}}} {reason}")
        self.field = field
        self.variable = variable


def substitute(value: Any, scope: Mapping[str, str], field: str = "") -> Any:
    """A copy of VALUE (nested dicts/lists/strings) with every `{{name}}` replaced from SCOPE."""
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name = m.group(1).strip()
            if name.startswith("="):
                raise SubstitutionError(field, name, "is an expression template: not supported locally")
            if name not in scope:
                raise SubstitutionError(field, name, "does not resolve")
            return scope[name]

        return TAG.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, scope, f"{field}.{k}" if field else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, scope, f"{field}[{i}]") for i, v in enumerate(value)]
    return value


_K8S_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_env_refs(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in command/args/env values (`$$` escapes; unknown stays)."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _K8S_VAR.sub(repl, text)
