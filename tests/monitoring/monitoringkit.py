"""Helpers of the monitoring tests (plain functions; the fixtures are in conftest.py): upstream
CRDs turned into strict JSON Schemas, and finding one rendered object."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tooling import repo

CRDS = repo.SHARED / "crds"


class _CrdLoader(yaml.SafeLoader):
    """The prometheus-operator CRDs hold a bare `=` (YAML's value tag) in an enum."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def strict(schema: Any) -> Any:
    """An openAPIV3Schema as a strict JSON Schema: objects with `properties` reject unknown fields
    (unless x-kubernetes-preserve-unknown-fields), `nullable` allows null."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if schema.get("nullable") and isinstance(schema.get("type"), str):
        out["type"] = [schema["type"], "null"]
    return out


def crd_schema(relpath: str, version: str) -> dict[str, Any]:
    path = CRDS / relpath
    if not path.is_file():
        pytest.fail(f"{path} missing: the upstream CRD copies live in ../shared/crds")
    crd = yaml.load(path.read_text(), Loader=_CrdLoader)
    found = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    return strict(found["schema"]["openAPIV3Schema"])



def one(docs: list[Any], kind: str, name: str) -> Any:
    return next(d for d in docs if d.kind == kind and d.name == name)
