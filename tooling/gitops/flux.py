"""`clusters/<env>/`: the Flux objects that say how git reaches each cluster, checked offline.

- `flux.schema`: every GitRepository and Kustomization against the upstream Flux CRD
  (`schemas/crds/flux/`, v1.9.0), made strict (an unknown field is an error, as the API server's
  strict field validation says), `metadata` as Kubernetes' ObjectMeta.
- `flux.path`: a Kustomization's `spec.path` exists in the repository and renders
  (`kubectl kustomize`; every directory rendered once per run, concurrently, through the run's
  `Renders`: `invoke validate` shares the renders of the overlays it already made).
- `flux.reference`: `sourceRef` and `dependsOn` name objects declared for the same cluster, and
  no `dependsOn` cycle.
- `flux.health-check`: the health checks of a Kustomization that applies objects name objects it
  applies (a Secret: one a rendered SealedSecret unseals into).
- `flux.wait-health-checks`: `wait: true` makes kustomize-controller ignore `healthChecks`.

The CRD schemas come from the schema engine's conversion (tooling.schema.openapi), as for every
other custom resource `invoke validate` checks.
CEL rules (`x-kubernetes-validations`) are not evaluated: in these two CRDs they guard only
`spec.kubeConfig` and GitRepository `spec.serviceAccountName`, which clusters/ does not set.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator

from conformance.findings import Finding, Rule, Severity
from tooling import repo, yamlio
from tooling.manifests.render import RenderError, Renders
from tooling.schema.jsonschema_errors import findings_from_errors

SCHEMA = Rule("flux.schema", Severity.ERROR, "Flux objects match the upstream Flux CRDs (strict)")
PATH = Rule("flux.path", Severity.ERROR, "a Kustomization's spec.path exists and renders")
REFERENCE = Rule("flux.reference", Severity.ERROR,
                 "sourceRef and dependsOn name objects declared for the same cluster")
HEALTH = Rule("flux.health-check", Severity.ERROR,
              "health checks of a Kustomization that applies objects name objects it applies")
WAIT = Rule("flux.wait-health-checks", Severity.WARNING,
            "wait: true makes kustomize-controller ignore healthChecks")
RULES = (SCHEMA, PATH, REFERENCE, HEALTH, WAIT)

CRD_DIR = repo.SCHEMAS / "crds" / "flux"
CRD_FILES = ("kustomize.toolkit.fluxcd.io_kustomizations.yaml",
             "source.toolkit.fluxcd.io_gitrepositories.yaml")
KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
GIT_REPOSITORY = ("source.toolkit.fluxcd.io/v1", "GitRepository")

ObjectKey = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name)


@functools.lru_cache(maxsize=4)
def crd_schemas(crd_dir: Path = CRD_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema (the schema engine's conversion, `metadata` as
    Kubernetes' ObjectMeta), for every served version of the CRDs in CRD_DIR (read once per
    process: the CRD files are large)."""
    from tooling.schema.openapi import resource_schema

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name in CRD_FILES:
        crd = yamlio.load((crd_dir / name).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            api = f"{group}/{version['name']}"
            schema = resource_schema(version["schema"]["openAPIV3Schema"])
            schema["properties"]["apiVersion"] = {"const": api}
            schema["properties"]["kind"] = {"const": kind}
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            out[(api, kind)] = schema
    return out


@cache
def _validators(crd_dir: Path = CRD_DIR) -> dict[tuple[str, str], Draft202012Validator]:
    """Validators of the strict CRD schemas, `metadata` resolved against the same Kubernetes
    definitions as the built-in kinds."""
    from tooling.schema import kubernetes

    registry = kubernetes.registry(kubernetes.schema_dir(repo.TARGET_KUBERNETES_VERSION))
    out = {}
    for key, schema in crd_schemas(crd_dir).items():
        out[key] = Draft202012Validator(schema, registry=registry)
    return out


def is_flux(doc: Any) -> bool:
    return doc.group.endswith(".toolkit.fluxcd.io")


def check_schema(doc: Any, crd_dir: Path = CRD_DIR) -> list[Finding]:
    validator = _validators(crd_dir).get((doc.api_version, doc.kind))
    if validator is None:
        return [SCHEMA.finding(f"no Flux CRD for {doc.api_version} {doc.kind} in "
                               f"{repo.relpath(crd_dir)}", path="apiVersion", **doc.where())]
    return findings_from_errors(validator.iter_errors(doc.obj), SCHEMA, doc.where())


def _spec(doc: Any) -> dict[str, Any]:
    spec = doc.obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _key(obj: dict[str, Any], default_ns: str = "") -> ObjectKey:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else obj
    return (str(obj.get("apiVersion", "")), str(obj.get("kind", "")),
            str(meta.get("namespace") or default_ns), str(meta.get("name", "")))


def path_directory(doc: Any, root: Path) -> tuple[Path | None, list[Finding]]:
    """The directory a Kustomization's spec.path names, or why it names none."""
    raw = _spec(doc).get("path")
    if not isinstance(raw, str) or not raw:
        return None, []  # the schema says it (path is optional: the source's root)
    rel = PurePosixPath(raw)
    if rel.is_absolute() or ".." in rel.parts:
        return None, [PATH.finding(f"spec.path {raw!r} must be relative to the repository root "
                                   "without '..'", path="spec.path", **doc.where())]
    directory = root / rel
    if not directory.is_dir():
        return None, [PATH.finding(f"spec.path {raw!r}: no such directory in the repository",
                                   path="spec.path", **doc.where())]
    return directory, []


def render_path(doc: Any, directory: Path, renders: Renders) -> tuple[list[dict[str, Any]], list[Finding]]:
    """The objects spec.path renders (RENDERS: this run's renders, one per directory)."""
    try:
        return list(renders.rendered(directory).documents), []
    except RenderError as e:
        return [], [PATH.finding(f"spec.path does not render: {e}", path="spec.path", **doc.where())]


def check_references(docs: list[Any]) -> list[Finding]:
    """sourceRef -> a declared GitRepository; dependsOn -> a declared Kustomization."""
    declared = {_key(d.obj, "") for d in docs}
    out: list[Finding] = []
    for doc in docs:
        if (doc.api_version, doc.kind) != KUSTOMIZATION:
            continue
        spec, ns = _spec(doc), doc.namespace
        ref = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
        if ref.get("kind") == "GitRepository":
            want = (*GIT_REPOSITORY, str(ref.get("namespace") or ns), str(ref.get("name", "")))
            if want not in declared:
                out.append(REFERENCE.finding(f"sourceRef names GitRepository {want[2]}/{want[3]}, "
                                             "which this cluster does not declare",
                                             path="spec.sourceRef", **doc.where()))
        for i, dep in enumerate(spec.get("dependsOn") or []):
            want = (*KUSTOMIZATION, str(dep.get("namespace") or ns), str(dep.get("name", "")))
            if want not in declared:
                out.append(REFERENCE.finding(f"dependsOn names Kustomization {want[2]}/{want[3]}, "
                                             "which this cluster does not declare",
                                             path=f"spec.dependsOn[{i}]", **doc.where()))
    return out


def check_cycles(docs: list[Any]) -> list[Finding]:
    """A dependsOn cycle: none of its Kustomizations would ever be applied."""
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    where: dict[tuple[str, str], Any] = {}
    for doc in docs:
        if (doc.api_version, doc.kind) == KUSTOMIZATION:
            node = (doc.namespace, doc.name)
            where[node] = doc
            edges[node] = [(str(d.get("namespace") or doc.namespace), str(d.get("name", "")))
                           for d in _spec(doc).get("dependsOn") or [] if isinstance(d, dict)]
    out: list[Finding] = []
    for start, doc in where.items():
        stack, seen = list(edges.get(start, [])), set()
        while stack:
            node = stack.pop()
            if node == start:
                out.append(REFERENCE.finding(f"dependsOn cycle through {start[0]}/{start[1]}: "
                                             "Flux would never apply it", path="spec.dependsOn",
                                             **doc.where()))
                break
            if node not in seen:
                seen.add(node)
                stack += edges.get(node, [])
    return out


def check_health_checks(doc: Any, applied: Iterable[dict[str, Any]]) -> list[Finding]:
    """Each health check names an applied object (a Secret: one an applied SealedSecret makes)."""
    spec = _spec(doc)
    checks = spec.get("healthChecks") or []
    out: list[Finding] = []
    if spec.get("wait") is True and checks:
        out.append(WAIT.finding("wait: true and healthChecks: kustomize-controller ignores the "
                                "healthChecks (set wait: false to keep them)", path="spec.wait",
                                **doc.where()))
    target = str(spec.get("targetNamespace") or "")
    keys = {_key(o, target) for o in applied}
    if not keys:
        return out  # applies nothing: its health checks are about prerequisites installed elsewhere
    keys |= {("v1", "Secret", k[2], k[3]) for k in keys if k[:2] == ("bitnami.com/v1alpha1", "SealedSecret")}
    for i, check in enumerate(checks):
        want = _key({**check, "metadata": {"namespace": check.get("namespace", ""),
                                           "name": check.get("name", "")}})
        if want not in keys:
            out.append(HEALTH.finding(
                f"health check {want[1]} {want[2]}/{want[3]} ({want[0]}) is not among the objects "
                f"spec.path renders: Flux would wait for it until the timeout",
                path=f"spec.healthChecks[{i}]", **doc.where()))
    return out


def check_kustomization(doc: Any, root: Path, renders: Renders) -> list[Finding]:
    directory, out = path_directory(doc, root)
    applied: list[dict[str, Any]] = []
    if directory is not None:
        applied, rendered = render_path(doc, directory, renders)
        out += rendered
    return out + check_health_checks(doc, applied)


def check_directory(directory: Path, root: Path, env: str = "", crd_dir: Path = CRD_DIR,
                    renders: Renders | None = None) -> list[Finding]:
    """Every Flux finding of one cluster directory (rendered by kubectl kustomize); spec.path is
    resolved against ROOT, the repository the GitRepository serves. RENDERS: the run's renders
    (directories rendered already are not rendered again); default: renders of this call only."""
    if renders is None:
        with Renders() as own:
            return check_directory(directory, root, env, crd_dir, own)
    try:
        rendered = renders.rendered(directory, env)
    except RenderError as e:
        return [PATH.finding(f"{repo.relpath(directory)} does not render: {e}",
                             file=repo.relpath(directory))]
    docs = [d for d in rendered.docs if is_flux(d)]
    kustomizations = [d for d in docs if (d.api_version, d.kind) == KUSTOMIZATION]
    renders.start(*(p for p in (path_directory(d, root)[0] for d in kustomizations) if p))
    out = list(rendered.findings)
    for doc in docs:
        out += check_schema(doc, crd_dir)
        if (doc.api_version, doc.kind) == KUSTOMIZATION:
            out += check_kustomization(doc, root, renders)
    out += check_references(docs) + check_cycles(docs)
    return out


def check_cluster(env: str, root: Path = repo.ROOT, crd_dir: Path = CRD_DIR,
                  renders: Renders | None = None) -> list[Finding]:
    """Every Flux finding of clusters/ENV (each carries the env)."""
    found = check_directory(repo.cluster_dir(env), root, env, crd_dir, renders)
    return [f.with_location(env=env) for f in found]


def check_clusters(envs: Iterable[str] | None = None, renders: Renders | None = None) -> list[Finding]:
    """`invoke validate`'s Flux step: clusters/<env> of each env that has one, their renders
    begun at once (RENDERS: the run's renders, shared with the overlays' checks)."""
    if renders is None:
        with Renders() as own:
            return check_clusters(envs, own)
    present = [env for env in envs or repo.ENVS if repo.cluster_dir(env).is_dir()]
    renders.start(*(repo.cluster_dir(env) for env in present))
    return [f for env in present for f in check_cluster(env, renders=renders)]
