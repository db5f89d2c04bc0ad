"""Schema sources: Kubernetes version selection, validator reuse, the committed Argo export."""

from __future__ import annotations

import pytest

from tooling.schema import check_documents, kubernetes
from tooling.schema.documents import load_documents

PVC = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: scratch}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""


def test_schema_dir_picks_the_target_version() -> None:
    assert kubernetes.schema_dir("1.32").name == "v1.32.0-local-strict"
    assert kubernetes.schema_dir("v1.30.4").name == "v1.30.0-local-strict"


@pytest.mark.parametrize("version", ["1.24", "1.99", "latest"])
def test_unsupported_versions_are_refused(version: str) -> None:
    with pytest.raises(kubernetes.SchemaUnavailable):
        check_documents([], version)


def test_one_validator_per_version_and_kind_is_reused() -> None:
    first = kubernetes.validator_for("1.32", "v1", "PersistentVolumeClaim")
    assert first is kubernetes.validator_for("1.32", "v1", "PersistentVolumeClaim")
    assert first is not kubernetes.validator_for("1.31", "v1", "PersistentVolumeClaim")


def test_crd_groups_are_not_mistaken_for_builtin_kinds() -> None:
    assert kubernetes.validator_for("1.32", "bitnami.com/v1alpha1", "SealedSecret") is None
    # same file name as apps/v1 Deployment would need group `apps`, not `apps.example.com`
    assert kubernetes.validator_for("1.32", "apps.example.com/v1", "Deployment") is None


def test_the_target_version_decides_which_kinds_exist() -> None:
    """flowcontrol v1beta3 was removed in Kubernetes 1.32: checked in 1.31, an error naming v1 in 1.32."""
    docs, _ = load_documents(
        "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata: {name: f}\n"
        "spec: {priorityLevelConfiguration: {name: p}}\n",
        "f.yaml",
    )
    found, summary = check_documents(docs, "1.31")
    assert found == [] and summary["by_schema"] == {"kubernetes-1.31": 1}
    found, _ = check_documents(docs, "1.32")
    assert [(f.rule, f.path) for f in found] == [("schema.removed-api", "apiVersion")]
    assert "use apiVersion flowcontrol.apiserver.k8s.io/v1" in found[0].message


def test_summary_counts_and_allow_list() -> None:
    docs, _ = load_documents(PVC + "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", "f.yaml")
    found, summary = check_documents(docs, allow_unknown={("example.com/v1", "Widget"): "tested elsewhere"})
    assert found == []
    assert summary["checked"] == {"PersistentVolumeClaim": 1}
    assert summary["skipped"] == [
        {"file": "f.yaml", "kind": "Widget", "name": "w", "path": "", "reason": "tested elsewhere"}
    ]
    found, _ = check_documents(docs)
    assert [f.rule for f in found] == ["schema.unknown-kind"]


def test_every_schema_error_of_a_document_is_reported_at_its_field() -> None:
    """Generated schemas wrap optional fields in anyOf[X, null]: errors inside X must all surface."""
    docs, _ = load_documents(
        """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: t}
spec:
  templates:
  - name: main
    retryStrategy: {limit: [1]}
    container: busybox
  - name: b
    container: {image: x, resources: {limits: {cpu: [1]}}, env: [{name: A, value: 1}]}
""",
        "t.yaml",
    )
    found, _ = check_documents(docs)
    assert [(f.path, f.message.split(": expected ")[-1]) for f in found] == [
        ("spec.templates[0].container", "object"),
        ("spec.templates[0].retryStrategy.limit", "integer or string"),
        ("spec.templates[1].container.env[0].value", "string"),
        ("spec.templates[1].container.resources.limits.cpu", "integer or string"),
    ]
