"""Argo Workflows kinds (argoproj.io/v1alpha1): where their WorkflowSpec sits.

Their schema is Argo's own CRD (`schemas/crds/argo-workflows/`, checked by `tooling.schema.crds`
like any custom resource); this module only knows the shape the semantic lint walks.
"""

from __future__ import annotations

from typing import Any

from tooling.schema.documents import Document

ARGO_GROUP = "argoproj.io"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
# Kinds whose spec is a WorkflowSpec, and where that spec sits in the object.
WORKFLOW_SPEC_PATH: dict[str, tuple[str, ...]] = {
    "Workflow": ("spec",),
    "WorkflowTemplate": ("spec",),
    "ClusterWorkflowTemplate": ("spec",),
    "CronWorkflow": ("spec", "workflowSpec"),
}


def workflow_spec(doc: Document) -> dict[str, Any] | None:
    """The WorkflowSpec of a Workflow-like object, None for other kinds or a malformed one."""
    path = WORKFLOW_SPEC_PATH.get(doc.kind)
    if path is None or doc.api_version != ARGO_API_VERSION:
        return None
    node: Any = doc.obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
