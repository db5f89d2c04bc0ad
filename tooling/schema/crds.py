"""Strict schemas of the custom resources this repo deploys (besides Argo's).

Each schema is a small JSON Schema written from the CRD's openAPIV3Schema and
committed under `schemas/crds/`; `metadata` refers to Kubernetes' ObjectMeta,
resolved from the same definitions as the built-in kinds.
"""

from __future__ import annotations

import json
from functools import cache

from jsonschema import Draft202012Validator

from conformance.findings import Finding, Rule, Severity
from tooling import repo
from tooling.schema import kubernetes
from tooling.schema.documents import Document
from tooling.schema.jsonschema_errors import findings_from_errors

CRD_SCHEMA = Rule("schema.crd", Severity.ERROR, "custom resources match their strict CRD schema")

CRD_DIR = repo.SCHEMAS / "crds"

# (apiVersion, kind) -> schema file under schemas/crds/
CRD_SCHEMAS: dict[tuple[str, str], str] = {
    ("bitnami.com/v1alpha1", "SealedSecret"): "sealedsecret.bitnami.com-v1alpha1.schema.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.monitoring.coreos.com-v1.schema.json",
}


def is_known_crd(doc: Document) -> bool:
    return (doc.api_version, doc.kind) in CRD_SCHEMAS


@cache
def validator_for(api_version: str, kind: str, kubernetes_version: str) -> Draft202012Validator:
    schema = json.loads((CRD_DIR / CRD_SCHEMAS[(api_version, kind)]).read_text())
    registry = kubernetes.registry(kubernetes.schema_dir(kubernetes_version))
    return Draft202012Validator(schema, registry=registry)


def check_crd(doc: Document, kubernetes_version: str) -> list[Finding]:
    """Strict schema findings of a known custom resource (empty when valid or not known)."""
    if not is_known_crd(doc):
        return []
    validator = validator_for(doc.api_version, doc.kind, kubernetes_version)
    return findings_from_errors(validator.iter_errors(doc.obj), CRD_SCHEMA, doc.where())
