"""`check_documents`: every document of a set against its strict schema, plus
Argo's semantic lint.

Dispatch by apiVersion/kind:
- Argo kinds (argoproj.io/v1alpha1) -> strict Argo schema + semantic lint;
- SealedSecret, PrometheusRule -> their strict CRD schemas;
- built-in Kubernetes kinds -> strict Kubernetes schema of the target version;
- anything else -> `schema.unknown-kind` (an error: nothing rendered goes
  unchecked) unless allow-listed with a reason, which the summary lists.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

from conformance.findings import Finding, Rule, Severity, count_by_severity
from tooling.schema import argo, crds, kubernetes
from tooling.schema.argo_lint import (
    NEEDS_CLUSTER_OBJECT,
    STRUCTURAL_CHECKS,
    WORKFLOW_TEMPLATE_REF,
    LintMode,
)
from tooling.schema.argo_model import ArgoSet, WorkflowView, as_dict
from tooling.schema.argo_variables import VARIABLE_CHECKS
from tooling.schema.documents import Document

UNKNOWN_KIND = Rule(
    "schema.unknown-kind", Severity.ERROR, "every document has a schema (or an allow-list entry with a reason)"
)
MISSING_KIND = Rule("schema.missing-kind", Severity.ERROR, "every document has apiVersion and kind")

# (apiVersion, kind) -> why it may go unchecked. Empty: this repo deploys nothing without a schema.
ALLOWED_UNKNOWN_KINDS: dict[tuple[str, str], str] = {
    # until CRD schemas are derived from ../shared/crds in validate itself
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"):
        "checked against the upstream CRD (strict) by tests/monitoring/test_alertmanager_config.py",
}


def rules() -> list[Rule]:
    """Every rule the schema engine reports, in a stable order (for docs and tests)."""
    from tooling.schema import argo_lint, argo_variables, documents

    modules = (documents, kubernetes, argo, crds, sys.modules[__name__], argo_lint, argo_variables)
    found: dict[str, Rule] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Rule):
                found.setdefault(value.id, value)
    return list(found.values())


def lint_view(view: WorkflowView, mode: LintMode) -> list[Finding]:
    """Every Argo semantic rule on one Workflow-like object."""
    out: list[Finding] = []
    for check in STRUCTURAL_CHECKS + VARIABLE_CHECKS:
        out.extend(check(view, mode))
    return out


def _event_binding_ref(doc: Document, argo_set: ArgoSet, mode: LintMode) -> list[Finding]:
    """A WorkflowEventBinding submits a WorkflowTemplate: it must be in the set."""
    ref = as_dict(as_dict(as_dict(doc.obj.get("spec")).get("submit")).get("workflowTemplateRef"))
    if not ref or argo_set.lookup(ref.get("name"), ref.get("clusterScope")) is not None:
        return []
    scope = "ClusterWorkflowTemplate" if ref.get("clusterScope") is True else "WorkflowTemplate"
    what = f"{scope} {ref.get('name')!r}"
    path = "spec.submit.workflowTemplateRef.name"
    if mode.standalone:
        return [NEEDS_CLUSTER_OBJECT.finding(f"{what} is not among the linted files: needs a cluster object", path=path, **doc.where())]
    return [WORKFLOW_TEMPLATE_REF.finding(f"{what} is not in the rendered set", path=path, **doc.where())]


def _check_argo(doc: Document, argo_set: ArgoSet, mode: LintMode) -> list[Finding]:
    found = argo.check_argo(doc)
    view = WorkflowView.of(doc, argo_set)
    if view is not None:
        found += lint_view(view, mode)
    elif doc.kind == "WorkflowEventBinding":
        found += _event_binding_ref(doc, argo_set, mode)
    return found


def check_documents(
    docs: list[Document],
    kubernetes_version: str = "1.32",
    *,
    standalone: bool = False,
    allow_unknown: Mapping[tuple[str, str], str] | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings for every document, and a summary:
    `{"kubernetes_version", "documents", "checked": {kind: n}, "by_schema": {schema: n},
    "skipped": [{"file", "kind", "name", "path", "reason"}], "findings": {severity: n}}`.

    `standalone`: the set is loose files, not a rendered env: references to objects
    outside it become `argo.needs-cluster-object` notes (and skips) instead of errors.
    Raises `kubernetes.SchemaUnavailable` when the Kubernetes version has no schemas.
    """
    kubernetes.schema_dir(kubernetes_version)  # fail early on an unsupported version
    allowed = dict(ALLOWED_UNKNOWN_KINDS) | dict(allow_unknown or {})
    mode = LintMode(standalone=standalone)
    argo_set = ArgoSet.of(docs)
    findings: list[Finding] = []
    checked: Counter[str] = Counter()
    by_schema: Counter[str] = Counter()
    skipped: list[dict[str, str]] = []
    for doc in docs:
        where = doc.where()
        if not doc.api_version or not doc.kind:
            findings.append(MISSING_KIND.finding("document has no apiVersion or no kind", **where))
            continue
        if argo.is_argo(doc):
            found, schema = _check_argo(doc, argo_set, mode), "argo"
        elif crds.is_known_crd(doc):
            found, schema = crds.check_crd(doc, kubernetes_version), "crd"
        elif kubernetes.is_builtin(doc, kubernetes_version):
            found, schema = kubernetes.check_kubernetes(doc, kubernetes_version), f"kubernetes-{kubernetes_version}"
        elif (doc.api_version, doc.kind) in allowed:
            skipped.append(where | {"path": "", "reason": allowed[(doc.api_version, doc.kind)]})
            continue
        else:
            message = f"no schema for {doc.kind} ({doc.api_version}): add one under schemas/crds/ or allow-list it with a reason"
            findings.append(UNKNOWN_KIND.finding(message, **where))
            continue
        checked[doc.kind] += 1
        by_schema[schema] += 1
        findings.extend(found)
        skipped += [
            f.to_dict() | {"reason": f.message} for f in found if f.rule == NEEDS_CLUSTER_OBJECT.id
        ]
    summary: dict[str, Any] = {
        "kubernetes_version": kubernetes_version,
        "documents": len(docs),
        "checked": dict(sorted(checked.items())),
        "by_schema": dict(sorted(by_schema.items())),
        "skipped": [{k: s.get(k, "") for k in ("file", "kind", "name", "path", "reason")} for s in skipped],
        "findings": count_by_severity(findings),
    }
    return findings, summary
