"""The pipeline parameters: base/params.json, its schema, and the WorkflowTemplates' parameters.

- `params.schema`: params.json (and an env's effective params) valid against schemas/params.schema.json.
- `params.keys`: each WorkflowTemplate's workflow parameters are exactly params.json's keys, plus
  the extra ones it declares in its `eopf-geozarr.io/extra-parameters` annotation (comma-separated,
  e.g. the conformance DAG's `size,seed`); no parameter twice.
- `params.defaults`: each parameter's default in the rendered env equals the env's effective value:
  params.json merged with the overlay's `geozarr-params` literals (as the runner reads them).
Argo passes every value as a string: lists as JSON, booleans as true/false; values are compared
after decoding them with the schema's type of the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from conformance.findings import Finding, Rule, Severity
from tooling import repo
from tooling.errors import ToolingError

SCHEMA = Rule("params.schema", Severity.ERROR, "params.json and the env's effective params match schemas/params.schema.json")
KEYS = Rule("params.keys", Severity.ERROR, "WorkflowTemplate parameters are params.json's keys plus declared extras")
DEFAULTS = Rule("params.defaults", Severity.ERROR, "rendered parameter defaults equal the env's effective params")

EXTRA_ANNOTATION = "eopf-geozarr.io/extra-parameters"
PARAMS_CONFIGMAP = "geozarr-params"
SCHEMA_PATH = repo.SCHEMAS / "params.schema.json"


class ParamsError(ToolingError):
    """params.json or its schema cannot be read at all."""


@lru_cache(maxsize=4)
def _validator(schema_path: Path) -> Any:
    from jsonschema import Draft202012Validator

    try:
        schema = json.loads(schema_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ParamsError(f"{repo.relpath(schema_path)}: {e}") from e
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def load_params(path: Path = repo.PARAMS_JSON) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ParamsError(f"{repo.relpath(path)}: not readable JSON: {e}") from e
    if not isinstance(data, dict):
        raise ParamsError(f"{repo.relpath(path)}: expected a JSON object")
    return data


def check_schema(params: dict[str, Any], file: str, env: str = "", schema_path: Path = SCHEMA_PATH) -> list[Finding]:
    out = []
    for error in sorted(_validator(schema_path).iter_errors(params), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.path)
        out.append(SCHEMA.finding(f"{path or '(top level)'}: {error.message}", path=path, env=env, file=file))
    return out


def key_type(key: str, schema_path: Path = SCHEMA_PATH) -> str:
    prop = (_validator(schema_path).schema.get("properties") or {}).get(key) or {}
    kind = prop.get("type", "string")
    return kind if isinstance(kind, str) else "string"


def decode(value: Any, kind: str) -> Any:
    """A parameter value as Argo/ConfigMap strings carry it, decoded to the schema's TYPE."""
    if not isinstance(value, str):
        return value
    if kind in ("array", "object"):
        return json.loads(value)
    if kind == "boolean":
        if value not in ("true", "false"):
            raise ValueError(f"expected true or false, got {value!r}")
        return value == "true"
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    return value


def effective_params(docs: Sequence[Any], base: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """params.json of the rendered `geozarr-params` ConfigMap merged with its flat literals.

    Returns the params and (key, problem) for literals that do not decode to their key's type."""
    cm = next((d for d in docs if d.kind == "ConfigMap" and d.name.startswith(PARAMS_CONFIGMAP)
               and "params.json" in (d.obj.get("data") or {})), None)
    if cm is None:
        return dict(base), []
    data = cm.obj.get("data") or {}
    try:
        params = json.loads(data["params.json"])
    except json.JSONDecodeError:
        params = dict(base)
    problems = []
    for key, raw in data.items():
        if key.endswith(".json"):  # params.json, and files beside it (the env's collection.json)
            continue
        try:
            params[key] = decode(raw, key_type(key))
        except ValueError as e:
            problems.append((key, str(e)))
    return params, problems


def _extras(doc: Any) -> set[str]:
    raw = ((doc.obj.get("metadata") or {}).get("annotations") or {}).get(EXTRA_ANNOTATION, "")
    return {p.strip() for p in str(raw).split(",") if p.strip()}


def _parameters(doc: Any) -> list[Any]:
    params = ((doc.obj.get("spec") or {}).get("arguments") or {}).get("parameters")
    return [p for p in params if isinstance(p, dict)] if isinstance(params, list) else []


def check_keys(docs: Sequence[Any], keys: Sequence[str], env: str = "") -> list[Finding]:
    out = []
    for doc in docs:
        if doc.kind != "WorkflowTemplate":
            continue
        where = {"env": env, "file": doc.file, "kind": doc.kind, "name": doc.name}
        names = [str(p.get("name", "")) for p in _parameters(doc)]
        extras = _extras(doc)
        for name in sorted({n for n in names if names.count(n) > 1}):
            out.append(KEYS.finding(f"workflow parameter {name!r} is declared {names.count(name)} times",
                                    path=f"spec.arguments.parameters[name={name}]", **where))
        for key in keys:
            if key not in names:
                out.append(KEYS.finding(f"params.json key {key!r} is not a workflow parameter",
                                        path="spec.arguments.parameters", **where))
        for name in names:
            if name not in keys and name not in extras:
                out.append(KEYS.finding(
                    f"workflow parameter {name!r} is not a params.json key; declare template-only parameters "
                    f"in the {EXTRA_ANNOTATION} annotation", path=f"spec.arguments.parameters[name={name}]", **where))
        for name in sorted(extras - set(names)):
            out.append(KEYS.finding(f"{EXTRA_ANNOTATION} declares {name!r}, which is not a workflow parameter",
                                    path=f"metadata.annotations.{EXTRA_ANNOTATION}", **where))
    return out


def check_defaults(docs: Sequence[Any], effective: dict[str, Any], env: str = "") -> list[Finding]:
    out = []
    for doc in docs:
        if doc.kind != "WorkflowTemplate":
            continue
        where = {"env": env, "file": doc.file, "kind": doc.kind, "name": doc.name}
        for p in _parameters(doc):
            name = str(p.get("name", ""))
            if name not in effective:
                continue
            path = f"spec.arguments.parameters[name={name}].value"
            if "value" not in p:
                out.append(DEFAULTS.finding(f"parameter {name!r} has no default value (env value: "
                                            f"{json.dumps(effective[name])})", path=path, **where))
                continue
            try:
                value = decode(p["value"], key_type(name))
            except ValueError as e:
                out.append(DEFAULTS.finding(f"parameter {name!r}: {e}", path=path, **where))
                continue
            if value != effective[name]:
                out.append(DEFAULTS.finding(
                    f"parameter {name!r} defaults to {json.dumps(value)} but the env's params say "
                    f"{json.dumps(effective[name])} (params.json + overlay literals)", path=path, **where))
    return out


def check_env_params(docs: Sequence[Any], base: dict[str, Any], env: str, file: str) -> tuple[list[Finding], dict[str, Any]]:
    """Every params rule over one rendered env; also returns its effective params."""
    effective, problems = effective_params(docs, base)
    out = [SCHEMA.finding(f"literal {key}: {problem}", path=key, env=env, file=file) for key, problem in problems]
    out += check_schema(effective, file, env)
    out += check_keys(docs, list(base), env)
    out += check_defaults(docs, effective, env)
    return out, effective
