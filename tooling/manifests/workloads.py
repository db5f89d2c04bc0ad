"""Where the containers, images and object references of a rendered document are.

Argo keeps its containers in template fields Kubernetes does not know (`spec.templates[].container`,
`script`, `containerSet.containers`, `initContainers`, `sidecars`); built-in workloads keep them in
their pod template. The policy rules walk both through `containers`; the Argo side is read
through the one Argo document model (tooling.argo).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tooling.argo import as_dict, as_list, spec_of, templates_at

_POD_TEMPLATE_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")


@dataclass(frozen=True)
class Container:
    path: str  # field path of the container object, e.g. spec.templates[2].container
    spec: dict[str, Any]  # the container
    pod_security: dict[str, Any]  # the pod-level securityContext that applies to it


def templates(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, template) of every Argo template of OBJ."""
    found = spec_of(obj)
    if found is not None:
        yield from ((t.path, t.body) for t in templates_at(found[1], found[0]))


def _pod_spec(obj: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    kind = obj.get("kind")
    spec = as_dict(obj.get("spec"))
    if kind == "Pod":
        return "spec", spec
    if kind in _POD_TEMPLATE_KINDS:
        return "spec.template.spec", as_dict(as_dict(spec.get("template")).get("spec"))
    if kind == "CronJob":
        job = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
        return "spec.jobTemplate.spec.template.spec", as_dict(as_dict(job.get("template")).get("spec"))
    return None


def containers(obj: dict[str, Any]) -> Iterator[Container]:
    """Every container of a workload or Argo document, with the pod securityContext it runs under."""
    found = spec_of(obj)
    if found is not None:
        wf_security = as_dict(found[1].get("securityContext"))
        for path, t in templates(obj):
            pod_security = as_dict(t.get("securityContext")) or wf_security
            for field in ("container", "script"):
                if isinstance(t.get(field), dict):
                    yield Container(f"{path}.{field}", t[field], pod_security)
            for j, c in enumerate(as_list(as_dict(t.get("containerSet")).get("containers"))):
                if isinstance(c, dict):
                    yield Container(f"{path}.containerSet.containers[{j}]", c, pod_security)
            for field in ("initContainers", "sidecars"):
                for j, c in enumerate(as_list(t.get(field))):
                    if isinstance(c, dict):
                        yield Container(f"{path}.{field}[{j}]", c, pod_security)
        return
    pod = _pod_spec(obj)
    if pod is None:
        return
    path, spec = pod
    pod_security = as_dict(spec.get("securityContext"))
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for j, c in enumerate(as_list(spec.get(field))):
            if isinstance(c, dict):
                yield Container(f"{path}.{field}[{j}]", c, pod_security)


@dataclass(frozen=True)
class Mount:
    name: str  # the volume the container mounts
    path: str  # field path of the mount's name, e.g. spec.templates[2].container.volumeMounts[1].name
    volumes: frozenset[str]  # every volume name the container can mount


def _names(items: Any, *, in_metadata: bool = False) -> set[str]:
    """The names of a volume list (`name`) or of volumeClaimTemplates (`metadata.name`)."""
    out = set()
    for item in as_list(items):
        name = as_dict(as_dict(item).get("metadata")).get("name") if in_metadata else as_dict(item).get("name")
        if name:
            out.add(str(name))
    return out


def _container_mounts(c: Container, volumes: frozenset[str]) -> Iterator[Mount]:
    for i, m in enumerate(as_list(c.spec.get("volumeMounts"))):
        name = as_dict(m).get("name")
        if isinstance(name, str):
            yield Mount(name, f"{c.path}.volumeMounts[{i}].name", volumes)


def mounts(obj: dict[str, Any]) -> Iterator[Mount]:
    """Every volume mount of a workload or Argo document, with the volume names it can resolve to.

    Argo: the workflow's `volumes`, its `volumeClaimTemplates` (one claim per workflow, mounted by
    the template's name) and the mounting template's own `volumes`. Pods: `volumes`, plus a
    StatefulSet's `volumeClaimTemplates`.
    """
    found = spec_of(obj)
    if found is not None:
        spec = found[1]
        shared = _names(spec.get("volumes")) | _names(spec.get("volumeClaimTemplates"), in_metadata=True)
        by_template = {path: frozenset(shared | _names(t.get("volumes"))) for path, t in templates(obj)}
        for c in containers(obj):
            yield from _container_mounts(c, by_template.get(_template_of(c.path), frozenset(shared)))
        return
    pod = _pod_spec(obj)
    if pod is None:
        return
    available = _names(pod[1].get("volumes"))
    if obj.get("kind") == "StatefulSet":
        available |= _names(as_dict(obj.get("spec")).get("volumeClaimTemplates"), in_metadata=True)
    for c in containers(obj):
        yield from _container_mounts(c, frozenset(available))


def _template_of(container_path: str) -> str:
    """`spec.templates[2]` of `spec.templates[2].container` (CronWorkflow: spec.workflowSpec.templates[…])."""
    head, sep, _ = container_path.partition("]")
    return head + sep


@dataclass(frozen=True)
class Reference:
    kind: str  # ServiceAccount, ConfigMap, Secret, PersistentVolumeClaim
    name: str
    path: str
    key: str = ""  # the referenced key (configMapKeyRef/secretKeyRef/semaphore), if any
    optional: bool = False


def _volume_refs(volumes: Any, path: str) -> Iterator[Reference]:
    for i, v in enumerate(as_list(volumes)):
        v = as_dict(v)
        at = f"{path}[{i}]"
        if "configMap" in v:
            cm = as_dict(v["configMap"])
            yield Reference("ConfigMap", str(cm.get("name", "")), f"{at}.configMap.name", optional=bool(cm.get("optional")))
        if "secret" in v:
            s = as_dict(v["secret"])
            yield Reference("Secret", str(s.get("secretName", "")), f"{at}.secret.secretName", optional=bool(s.get("optional")))
        if "persistentVolumeClaim" in v:
            yield Reference("PersistentVolumeClaim", str(as_dict(v["persistentVolumeClaim"]).get("claimName", "")),
                            f"{at}.persistentVolumeClaim.claimName")
        for j, src in enumerate(as_list(as_dict(v.get("projected")).get("sources"))):
            src = as_dict(src)
            for kind, field in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if field in src:
                    ref = as_dict(src[field])
                    yield Reference(kind, str(ref.get("name", "")), f"{at}.projected.sources[{j}].{field}.name",
                                    optional=bool(ref.get("optional")))


def _container_refs(c: Container) -> Iterator[Reference]:
    for i, e in enumerate(as_list(c.spec.get("env"))):
        value_from = as_dict(as_dict(e).get("valueFrom"))
        for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if field in value_from:
                ref = as_dict(value_from[field])
                yield Reference(kind, str(ref.get("name", "")), f"{c.path}.env[{i}].valueFrom.{field}.name",
                                key=str(ref.get("key", "")), optional=bool(ref.get("optional")))
    for i, e in enumerate(as_list(c.spec.get("envFrom"))):
        e = as_dict(e)
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if field in e:
                ref = as_dict(e[field])
                yield Reference(kind, str(ref.get("name", "")), f"{c.path}.envFrom[{i}].{field}.name",
                                optional=bool(ref.get("optional")))


def _semaphore_refs(sync: Any, path: str) -> Iterator[Reference]:
    sync = as_dict(sync)
    entries = [(f"{path}.semaphores[{i}]", s) for i, s in enumerate(as_list(sync.get("semaphores")))]
    if "semaphore" in sync:  # the pre-3.6 single form
        entries.append((f"{path}.semaphore", sync["semaphore"]))
    for at, s in entries:
        s = as_dict(s)
        if "configMapKeyRef" in s:
            ref = as_dict(s["configMapKeyRef"])
            yield Reference("ConfigMap", str(ref.get("name", "")), f"{at}.configMapKeyRef.name",
                            key=str(ref.get("key", "")), optional=bool(ref.get("optional")))


def references(obj: dict[str, Any]) -> Iterator[Reference]:
    """Every ServiceAccount, ConfigMap, Secret and PVC a document refers to by name."""
    found = spec_of(obj)
    if found is not None:
        path, spec = found
        if spec.get("serviceAccountName"):
            yield Reference("ServiceAccount", str(spec["serviceAccountName"]), f"{path}.serviceAccountName")
        executor_sa = as_dict(spec.get("executor")).get("serviceAccountName")
        if executor_sa:
            yield Reference("ServiceAccount", str(executor_sa), f"{path}.executor.serviceAccountName")
        yield from _volume_refs(spec.get("volumes"), f"{path}.volumes")
        yield from _semaphore_refs(spec.get("synchronization"), f"{path}.synchronization")
        for tpath, t in templates(obj):
            if t.get("serviceAccountName"):
                yield Reference("ServiceAccount", str(t["serviceAccountName"]), f"{tpath}.serviceAccountName")
            yield from _volume_refs(t.get("volumes"), f"{tpath}.volumes")
            yield from _semaphore_refs(t.get("synchronization"), f"{tpath}.synchronization")
    else:
        pod = _pod_spec(obj)
        if pod is not None:
            path, spec = pod
            if spec.get("serviceAccountName"):
                yield Reference("ServiceAccount", str(spec["serviceAccountName"]), f"{path}.serviceAccountName")
            yield from _volume_refs(spec.get("volumes"), f"{path}.volumes")
    for c in containers(obj):
        yield from _container_refs(c)
