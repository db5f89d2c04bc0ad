"""Strict Kubernetes schema validation of built-in kinds, offline.

Uses the JSON Schemas shipped by the `kubernetes-validate` package (1.25-1.37,
"strict" variants reject unknown fields) but compiles ONE validator per
(Kubernetes version, apiVersion, kind) and reuses it: `kubernetes_validate.validate()`
re-reads the 1.3 MB definitions file on every call (~6 ms per document).
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource

from conformance.findings import Finding, Rule, Severity
from tooling.schema import quantity as quantity_grammar
from tooling.schema.documents import Document
from tooling.schema.jsonschema_errors import findings_from_errors

KUBERNETES_SCHEMA = Rule(
    "schema.kubernetes", Severity.ERROR, "built-in kinds match the strict Kubernetes schema (no unknown fields)"
)


class SchemaUnavailable(Exception):
    """The schema set cannot be used (package missing, version not covered)."""


def _schema_root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")  # locate without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SchemaUnavailable("the kubernetes-validate package is not installed (uv sync)")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def _minor(version: str) -> tuple[int, int]:
    m = re.match(r"v?(\d+)\.(\d+)", version)
    if not m:
        raise SchemaUnavailable(f"not a Kubernetes version: {version!r}")
    return int(m.group(1)), int(m.group(2))


@cache
def schema_dir(kubernetes_version: str) -> Path:
    """The strict schema folder for the newest release not newer than the version."""
    wanted = _minor(kubernetes_version)
    root = _schema_root()
    available = sorted(
        (_minor(p.name), p)
        for p in root.iterdir()
        if p.name.endswith("-local-strict") and re.match(r"v\d+\.\d+", p.name)
    )
    usable = [p for v, p in available if v <= wanted]
    if not usable or wanted > available[-1][0]:
        have = f"{available[0][1].name[1:5]}-{available[-1][1].name[1:5]}" if available else "none"
        raise SchemaUnavailable(f"no Kubernetes schemas for {kubernetes_version} (have {have})")
    return usable[-1]


# kubernetes-validate's Quantity accepts any string: constrain it to Kubernetes' grammar.
def _is_string(checker: object, instance: object) -> bool:
    """YAML's unquoted dates (`2024-01-01`) are strings to Kubernetes (sigs.k8s.io/yaml), dates
    to PyYAML: both are strings here."""
    return isinstance(instance, str | datetime.date)


# The JSON Schema validator class for manifests as Kubernetes reads them.
Validator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("string", _is_string)
)

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


@cache
def registry(directory: Path) -> Registry:
    definitions = json.loads((directory / "_definitions.json").read_text())
    quantity = definitions.get("$defs", {}).get(_QUANTITY)
    if isinstance(quantity, dict):
        quantity["pattern"] = quantity_grammar.PATTERN  # only constrains the string form
    return Resource.from_contents(definitions) @ Registry()


def _schema_file(directory: Path, api_version: str, kind: str) -> Path:
    # kubernetes-validate's naming: rbac.authorization.k8s.io/v1 Role -> role-rbac-v1.json
    group, _, version = api_version.rpartition("/")
    prefix = f"{group.split('.')[0]}-" if group else ""
    return directory / f"{kind.lower()}-{prefix}{version}.json"


def _declares(schema: dict[str, Any], api_version: str, kind: str) -> bool:
    group, _, version = api_version.rpartition("/")
    for gvk in schema.get("x-kubernetes-group-version-kind") or ():
        if gvk.get("group", "") == group and gvk.get("version") == version and gvk.get("kind") == kind:
            return True
    return False


@cache
def validator_for(kubernetes_version: str, api_version: str, kind: str) -> Validator | None:
    """The compiled strict validator for a built-in kind, or None when the kind is not built in."""
    directory = schema_dir(kubernetes_version)
    path = _schema_file(directory, api_version, kind)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    if not _declares(schema, api_version, kind):
        return None  # same file name, other group (e.g. a CRD group sharing a first label)
    return Validator(schema, registry=registry(directory))


def is_builtin(doc: Document, kubernetes_version: str) -> bool:
    return validator_for(kubernetes_version, doc.api_version, doc.kind) is not None


def check_kubernetes(doc: Document, kubernetes_version: str) -> list[Finding]:
    """Strict schema findings of one built-in object (empty when valid)."""
    validator = validator_for(kubernetes_version, doc.api_version, doc.kind)
    if validator is None:
        return []
    return findings_from_errors(validator.iter_errors(doc.obj), KUBERNETES_SCHEMA, doc.where())
