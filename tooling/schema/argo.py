"""Strict schema validation of Argo Workflows kinds (argoproj.io/v1alpha1).

The schema is the committed export of hera's models made strict
(`schemas/argo/workflows.strict.schema.json`, see `argo_export`); loading it
needs only `json` and `jsonschema`, not hera.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from conformance.findings import Finding, Rule, Severity
from tooling.schema.documents import Document
from tooling.schema.jsonschema_errors import findings_from_errors

ARGO_GROUP = "argoproj.io"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
# Kinds whose spec is a WorkflowSpec, and where that spec sits in the object.
WORKFLOW_SPEC_PATH: dict[str, tuple[str, ...]] = {
    "Workflow": ("spec",),
    "WorkflowTemplate": ("spec",),
    "ClusterWorkflowTemplate": ("spec",),
    "CronWorkflow": ("spec", "workflowSpec"),
}

ARGO_SCHEMA = Rule(
    "schema.argo", Severity.ERROR, "Argo kinds match the strict Argo 4.0.5 schema (no unknown fields, right types)"
)


def schema_path() -> Path:
    from tooling.schema.argo_export import ARGO_SCHEMA_PATH

    return ARGO_SCHEMA_PATH


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text())


def argo_kinds() -> tuple[str, ...]:
    return tuple(_schema()["kinds"])


def is_argo(doc: Document) -> bool:
    """An Argo Workflows object this module has a schema for."""
    return doc.api_version == ARGO_API_VERSION and doc.kind in _schema()["kinds"]


@cache
def validator_for(kind: str) -> Draft202012Validator:
    schema = _schema()
    return Draft202012Validator({"$ref": schema["kinds"][kind]["$ref"], "$defs": schema["$defs"]})


def check_argo(doc: Document) -> list[Finding]:
    """Strict schema findings of one Argo object (empty when valid)."""
    if not is_argo(doc):
        return []
    return findings_from_errors(validator_for(doc.kind).iter_errors(doc.obj), ARGO_SCHEMA, doc.where())


def workflow_spec(doc: Document) -> dict[str, Any] | None:
    """The WorkflowSpec of a Workflow-like object, None for other kinds or a malformed one."""
    path = WORKFLOW_SPEC_PATH.get(doc.kind)
    if path is None or doc.api_version != ARGO_API_VERSION:
        return None
    node: Any = doc.obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
