"""`check_documents`: every document of a set against its strict schema, plus
Argo's semantic lint.

Dispatch by apiVersion/kind:
- an apiVersion the target Kubernetes removed -> `schema.removed-api`, naming the replacement;
- a kind with a vendored CRD (schemas/crds/: Argo, prometheus-operator, sealed-secrets, Flux, any
  other added there) -> its strict CRD schema and CEL rules; Argo's Workflow-like kinds then get
  the semantic lint (Argo's validate.go, ported);
- built-in Kubernetes kinds -> strict Kubernetes schema of the target version;
- anything else -> `schema.unknown-kind` (an error: nothing rendered goes
  unchecked) unless allow-listed with a reason, which the summary lists.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from functools import cache
from typing import Any

from conformance.findings import Finding, Rule, Severity, count_by_severity
from tooling import repo
from tooling.argo import ARGO_GROUP, ArgoSet, WorkflowView, as_dict
from tooling.schema import argo_decoding, cel, crds, deprecations, kubernetes
from tooling.schema.argo_calls import CALL_CHECKS
from tooling.schema.argo_cron import CRON_CHECKS
from tooling.schema.argo_fields import FIELD_CHECKS
from tooling.schema.argo_lint import (
    NEEDS_CLUSTER_OBJECT,
    STRUCTURAL_CHECKS,
    WORKFLOW_TEMPLATE_REF,
    LintMode,
)
from tooling.schema.argo_scope import SCOPE_CHECKS
from tooling.schema.argo_templates import TEMPLATE_CHECKS
from tooling.schema.argo_variables import VARIABLE_CHECKS
from tooling.schema.documents import Document

UNKNOWN_KIND = Rule(
    "schema.unknown-kind", Severity.ERROR, "every document has a schema (or an allow-list entry with a reason)"
)
MISSING_KIND = Rule("schema.missing-kind", Severity.ERROR, "every document has apiVersion and kind")

# (apiVersion, kind) -> why it may go unchecked. Empty: this repo deploys nothing without a schema.
ALLOWED_UNKNOWN_KINDS: dict[tuple[str, str], str] = {}


def rules() -> list[Rule]:
    """Every rule the schema engine reports, in a stable order (for docs and tests)."""
    from tooling.schema import (
        argo_calls,
        argo_cron,
        argo_fields,
        argo_lint,
        argo_scope,
        argo_templates,
        argo_variables,
        documents,
    )

    modules = (
        documents, kubernetes, deprecations, crds, sys.modules[__name__],
        argo_lint, argo_fields, argo_templates, argo_calls, argo_cron, argo_variables, argo_scope,
    )
    found: dict[str, Rule] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Rule):
                found.setdefault(value.id, value)
    return list(found.values())


def lint_view(view: WorkflowView, mode: LintMode) -> list[Finding]:
    """Every Argo semantic rule on one Workflow-like object."""
    out: list[Finding] = []
    for check in STRUCTURAL_CHECKS + FIELD_CHECKS + TEMPLATE_CHECKS + CALL_CHECKS + CRON_CHECKS + VARIABLE_CHECKS + SCOPE_CHECKS:
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
    note, message = mode.unresolved(what)
    return [(NEEDS_CLUSTER_OBJECT if note else WORKFLOW_TEMPLATE_REF).finding(message, path=path, **doc.where())]


@cache
def crd_checker(kubernetes_version: str) -> crds.CrdChecker:
    """The checker of the vendored CRDs (compiled schemas and CEL verdicts cached on disk)."""
    catalogue = crds.Catalogue(repo.CRDS, repo.SCHEMA_CACHE)
    verdicts = cel.Verdicts.load(repo.SCHEMA_CACHE / cel.cache_name())
    return crds.CrdChecker(catalogue, kubernetes_version, verdicts)


def _check_custom(doc: Document, checker: crds.CrdChecker, argo_set: ArgoSet, mode: LintMode) -> list[Finding]:
    """A custom resource: its CRD schema and CEL rules, then Argo's semantic lint where it applies."""
    argo = doc.group == ARGO_GROUP
    found = checker.check(doc, argo_decoding.as_decoded(doc.obj) if argo else None)
    deprecated = deprecations.deprecated_version(
        doc, checker.catalogue.version(doc.group, doc.kind, doc.api_version.rpartition("/")[2])
    )
    found += [deprecated] if deprecated else []
    if not argo:
        return found
    view = WorkflowView.of(doc, argo_set)
    if view is not None:
        found += lint_view(view, mode)
    elif doc.kind == "WorkflowEventBinding":
        found += _event_binding_ref(doc, argo_set, mode)
    return found


def _check_one(
    doc: Document, kubernetes_version: str, checker: crds.CrdChecker, argo_set: ArgoSet, mode: LintMode
) -> tuple[list[Finding], str | None]:
    """(findings, schema used); schema None when the document could not be checked (the
    findings then say why: no kind, a removed API, no schema)."""
    where = doc.where()
    if not doc.api_version or not doc.kind:
        return [MISSING_KIND.finding("document has no apiVersion or no kind", **where)], None
    removed = deprecations.removed_api(doc, kubernetes_version)
    if removed is not None:
        return [removed], None
    if checker.knows(doc):
        return _check_custom(doc, checker, argo_set, mode), f"crd-{doc.group}"
    if kubernetes.is_builtin(doc, kubernetes_version):
        return kubernetes.check_kubernetes(doc, kubernetes_version), f"kubernetes-{kubernetes_version}"
    message = f"no schema for {doc.kind} ({doc.api_version}): add its CRD under schemas/crds/ or allow-list it with a reason"
    return [UNKNOWN_KIND.finding(message, **where)], None


def check_documents(
    docs: list[Document],
    kubernetes_version: str = "1.32",
    *,
    standalone: bool = False,
    refs_must_resolve: bool = False,
    allow_unknown: Mapping[tuple[str, str], str] | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings for every document, and a summary:
    `{"kubernetes_version", "documents", "checked": {kind: n}, "by_schema": {schema: n},
    "skipped": [{"file", "kind", "name", "path", "reason"}], "findings": {severity: n}}`.

    `standalone`: the set is loose files, not a rendered env: references to objects
    outside it become `argo.needs-cluster-object` notes (and skips) instead of errors, unless
    `refs_must_resolve` (`invoke lint`, like `argo lint`: they must be among the files).
    Raises `kubernetes.SchemaUnavailable` when the Kubernetes version has no schemas.
    """
    kubernetes.schema_dir(kubernetes_version)  # fail early on an unsupported version
    allowed = dict(ALLOWED_UNKNOWN_KINDS) | dict(allow_unknown or {})
    mode = LintMode(standalone=standalone, refs_must_resolve=refs_must_resolve)
    argo_set = ArgoSet.of(docs)
    checker = crd_checker(kubernetes_version)
    findings: list[Finding] = []
    checked: Counter[str] = Counter()
    by_schema: Counter[str] = Counter()
    skipped: list[dict[str, str]] = []
    for doc in docs:
        found, schema = _check_one(doc, kubernetes_version, checker, argo_set, mode)
        if schema is None:
            reason = allowed.get((doc.api_version, doc.kind))
            if reason is not None and found[0].rule == UNKNOWN_KIND.id:
                skipped.append(doc.where() | {"path": "", "reason": reason})
            else:
                findings += found
            continue
        checked[doc.kind] += 1
        by_schema[schema] += 1
        findings.extend(found)
        skipped += [
            f.to_dict() | {"reason": f.message} for f in found if f.rule == NEEDS_CLUSTER_OBJECT.id
        ]
    checker.verdicts.save()
    summary: dict[str, Any] = {
        "kubernetes_version": kubernetes_version,
        "documents": len(docs),
        "checked": dict(sorted(checked.items())),
        "by_schema": dict(sorted(by_schema.items())),
        "skipped": [{k: s.get(k, "") for k in ("file", "kind", "name", "path", "reason")} for s in skipped],
        "findings": count_by_severity(findings),
    }
    return findings, summary
