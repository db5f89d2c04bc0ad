"""The versions this repository targets, declared once.

`KUBERNETES` is the cluster (OVH MKS) the manifests are validated against: built-in kinds use its
strict schemas, and APIs it no longer serves are errors. `UPSTREAM_CRDS` names each vendored CRD
folder under `schemas/crds/`, the project it comes from and the release it was copied from
(unmodified, with its LICENSE); the schema engine derives every custom resource's schema from
those files. A test asserts the folders and this table agree.
"""

from __future__ import annotations

KUBERNETES = "1.32"

# folder under schemas/crds/ -> (upstream project, release, where in the project the files are)
UPSTREAM_CRDS: dict[str, tuple[str, str, str]] = {
    "argo-workflows": ("argoproj/argo-workflows", "v4.0.9", "manifests/base/crds/full/"),
    "prometheus-operator": (
        "prometheus-operator/prometheus-operator", "v0.93.0", "example/prometheus-operator-crd/",
    ),
    "sealed-secrets": ("bitnami-labs/sealed-secrets", "v0.36.6", "helm/sealed-secrets/crds/"),
    "flux": (
        "fluxcd/kustomize-controller, fluxcd/source-controller", "v1.9.0", "config/crd/bases/",
    ),
}


def upstream_version(folder: str) -> str:
    """The release a vendored CRD folder was copied from (`v4.0.9`)."""
    return UPSTREAM_CRDS[folder][1]
