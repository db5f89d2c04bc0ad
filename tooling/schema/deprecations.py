"""APIs Kubernetes no longer serves at the target version, with what replaces them.

From Kubernetes' deprecated API migration guide (kubernetes.io/docs/reference/using-api/
deprecation-guide/): a manifest still written against a removed apiVersion is refused by the
cluster, so it is an error naming the apiVersion to use instead. A custom resource whose CRD
marks its version deprecated is a warning carrying the CRD's own deprecation message.
"""

from __future__ import annotations

import re

from conformance.findings import Finding, Rule, Severity
from tooling.schema.documents import Document

REMOVED_API = Rule(
    "schema.removed-api", Severity.ERROR,
    "no apiVersion the target Kubernetes no longer serves (the message names the replacement)",
)
DEPRECATED_API = Rule("schema.deprecated-api", Severity.WARNING, "no custom resource version its CRD marks deprecated")

_WORKLOADS = ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet", "ControllerRevision")
_RBAC = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")

# (apiVersion, kind) -> (Kubernetes minor that removed it, replacement apiVersion or "" for none)
REMOVED: dict[tuple[str, str], tuple[int, str]] = {
    **{("extensions/v1beta1", k): (16, "apps/v1") for k in ("Deployment", "DaemonSet", "ReplicaSet")},
    ("extensions/v1beta1", "NetworkPolicy"): (16, "networking.k8s.io/v1"),
    ("extensions/v1beta1", "PodSecurityPolicy"): (16, "policy/v1beta1"),
    **{("apps/v1beta1", k): (16, "apps/v1") for k in _WORKLOADS},
    **{("apps/v1beta2", k): (16, "apps/v1") for k in _WORKLOADS},
    ("extensions/v1beta1", "Ingress"): (22, "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "Ingress"): (22, "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "IngressClass"): (22, "networking.k8s.io/v1"),
    **{("rbac.authorization.k8s.io/v1beta1", k): (22, "rbac.authorization.k8s.io/v1") for k in _RBAC},
    **{
        ("admissionregistration.k8s.io/v1beta1", k): (22, "admissionregistration.k8s.io/v1")
        for k in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
    },
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"): (22, "apiextensions.k8s.io/v1"),
    ("apiregistration.k8s.io/v1beta1", "APIService"): (22, "apiregistration.k8s.io/v1"),
    ("authentication.k8s.io/v1beta1", "TokenReview"): (22, "authentication.k8s.io/v1"),
    **{
        ("authorization.k8s.io/v1beta1", k): (22, "authorization.k8s.io/v1")
        for k in ("SubjectAccessReview", "LocalSubjectAccessReview", "SelfSubjectAccessReview")
    },
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"): (22, "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "Lease"): (22, "coordination.k8s.io/v1"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"): (22, "scheduling.k8s.io/v1"),
    **{
        ("storage.k8s.io/v1beta1", k): (22, "storage.k8s.io/v1")
        for k in ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment")
    },
    ("batch/v1beta1", "CronJob"): (25, "batch/v1"),
    ("discovery.k8s.io/v1beta1", "EndpointSlice"): (25, "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "Event"): (25, "events.k8s.io/v1"),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"): (25, "autoscaling/v2"),
    ("policy/v1beta1", "PodDisruptionBudget"): (25, "policy/v1"),
    ("policy/v1beta1", "PodSecurityPolicy"): (25, ""),
    ("node.k8s.io/v1beta1", "RuntimeClass"): (25, "node.k8s.io/v1"),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): (26, "autoscaling/v2"),
    **{
        ("flowcontrol.apiserver.k8s.io/v1beta1", k): (26, "flowcontrol.apiserver.k8s.io/v1")
        for k in ("FlowSchema", "PriorityLevelConfiguration")
    },
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"): (27, "storage.k8s.io/v1"),
    **{
        ("flowcontrol.apiserver.k8s.io/v1beta2", k): (29, "flowcontrol.apiserver.k8s.io/v1")
        for k in ("FlowSchema", "PriorityLevelConfiguration")
    },
    **{
        ("flowcontrol.apiserver.k8s.io/v1beta3", k): (32, "flowcontrol.apiserver.k8s.io/v1")
        for k in ("FlowSchema", "PriorityLevelConfiguration")
    },
}
_NO_REPLACEMENT = {
    ("policy/v1beta1", "PodSecurityPolicy"): "use Pod Security Admission (namespace labels) instead",
}


def _minor(kubernetes_version: str) -> int:
    m = re.match(r"v?1\.(\d+)", kubernetes_version)
    return int(m.group(1)) if m else 0


def removed_api(doc: Document, kubernetes_version: str) -> Finding | None:
    """The error for an apiVersion the target Kubernetes no longer serves, else None."""
    entry = REMOVED.get((doc.api_version, doc.kind))
    if entry is None or _minor(kubernetes_version) < entry[0]:
        return None
    removed, replacement = entry
    instead = f"use apiVersion {replacement}" if replacement else _NO_REPLACEMENT[(doc.api_version, doc.kind)]
    message = (
        f"{doc.kind} {doc.api_version} was removed in Kubernetes 1.{removed} "
        f"(target {kubernetes_version}): {instead}"
    )
    return REMOVED_API.finding(message, path="apiVersion", **doc.where())


def deprecated_version(doc: Document, compiled_version: dict | None) -> Finding | None:
    """The warning for a custom resource version its CRD marks deprecated, else None."""
    if not compiled_version or not compiled_version.get("deprecated"):
        return None
    why = compiled_version.get("warning") or f"{doc.api_version} {doc.kind} is deprecated"
    return DEPRECATED_API.finding(why, path="apiVersion", **doc.where())
