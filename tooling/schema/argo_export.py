"""Export the strict Argo Workflows JSON Schema from hera's pydantic models.

hera 7.1 generates its models from Argo 4.0.5's OpenAPI. Its models ignore
unknown fields; the exported schema is made strict here: every object that
declares properties gets `additionalProperties: false`, so a typo like
`imagee` is an error. A few corrections keep the schema faithful to what
Argo's controller actually accepts (see `FREE_FORM` and `_correct`).

The export is committed (`schemas/argo/workflows.strict.schema.json`) so that
validating does not import hera (~0.5-1 s); `python -m tooling.schema.argo_export`
regenerates it on request and `--check` fails when the committed file is stale
(a test runs the check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tooling import repo

ARGO_SCHEMA_PATH = repo.SCHEMAS / "argo" / "workflows.strict.schema.json"

# Argo kinds with a schema, keyed by kind (group argoproj.io, version v1alpha1).
KINDS: tuple[str, ...] = (
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "WorkflowEventBinding",
)

# Definitions whose bodies are free-form JSON by design (no properties to enforce):
# plugin templates are interpreted by the executor plugin, FieldsV1 is managedFields' raw JSON.
FREE_FORM: dict[str, str] = {
    "Plugin": "plugin template bodies are defined by the executor plugin",
    "FieldsV1": "managedFields entries are raw JSON",
}

# Schema keywords whose values are annotations only: dropped to keep the file small.
_ANNOTATIONS = ("description", "title", "default", "examples")


def _strip(schema: Any) -> Any:
    """Drop annotation keywords, recursing only through subschema positions."""
    if isinstance(schema, list):
        return [_strip(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: _strip(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "anyOf", "oneOf", "allOf", "prefixItems"):
            out[key] = _strip(value)
        else:
            out[key] = value
    return out


def _make_strict(defs: dict[str, Any]) -> None:
    for name, schema in defs.items():
        if name in FREE_FORM:
            defs[name] = {"type": "object"}
        elif schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)


def _correct(defs: dict[str, Any]) -> None:
    """Where the generated models are narrower than the Kubernetes/Argo API."""
    # Kubernetes quantities are int-or-string in the API (`cpu: 1` is valid).
    defs["Quantity"] = {"type": ["string", "number"]}


def export() -> dict[str, Any]:
    """The strict schema: `$defs` plus `kinds` mapping each kind to its definition."""
    from hera.workflows.models.io.argoproj.workflow import v1alpha1
    from pydantic.json_schema import models_json_schema

    models = [(getattr(v1alpha1, kind), "validation") for kind in KINDS]
    refs, schema = models_json_schema(models, ref_template="#/$defs/{model}")
    defs = _strip(schema["$defs"])
    _make_strict(defs)
    _correct(defs)
    from hera import _version

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"Generated from hera {_version.version} models (Argo Workflows 4.0.5) by "
            "`python -m tooling.schema.argo_export`; do not edit."
        ),
        "kinds": {kind: refs[(getattr(v1alpha1, kind), "validation")] for kind in KINDS},
        "$defs": dict(sorted(defs.items())),
    }


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.schema.argo_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed file differs from a fresh export")
    parser.add_argument("--output", type=Path, default=ARGO_SCHEMA_PATH)
    args = parser.parse_args(argv)
    try:
        fresh = dumps(export())
    except ImportError as e:
        print(f"cannot export the Argo schema: {e} (install the `tooling` group: uv sync)", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != fresh:
            print(f"{repo.relpath(args.output)} is stale: regenerate with `python -m tooling.schema.argo_export`", file=sys.stderr)
            return 1
        print(f"{repo.relpath(args.output)} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(fresh)
    tmp.replace(args.output)
    print(f"wrote {repo.relpath(args.output)} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
