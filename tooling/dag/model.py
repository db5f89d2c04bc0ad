"""The rendered WorkflowTemplate, read into what the local executor supports, or refused.

The local executor runs exactly the Argo features the repo's conformance template uses. Every
other field is refused here, before anything runs, with the template/task and field named
(`Unsupported`). Fields that only matter to a cluster (scheduling, pod security, resources,
garbage collection) are accepted and have no local effect; they are listed in CLUSTER_ONLY so
that nothing is ignored by accident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tooling.argo import TEMPLATE_TYPES, find_cycle, strings, tags
from tooling.dag.expressions import (
    Depends,
    Expression,
    ExpressionError,
    parse_depends,
    parse_retry_expression,
)
from tooling.errors import ToolingError

RETRY_VARIABLES = frozenset(
    {"lastRetry.exitCode", "lastRetry.status", "lastRetry.duration", "lastRetry.message"}
)
RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")

# field -> why it has no local effect (accepted, documented, never silently dropped)
CLUSTER_ONLY: dict[str, str] = {
    "serviceAccountName": "the pod's Kubernetes identity",
    "automountServiceAccountToken": "the pod's Kubernetes identity",
    "securityContext": "enforced by the kubelet",
    "resources": "requests/limits are enforced by the kubelet",
    "imagePullPolicy": "the image is replaced by the venv's console scripts",
    "podGC": "pod garbage collection",
    "ttlStrategy": "workflow garbage collection",
    "nodeSelector": "scheduling",
    "tolerations": "scheduling",
    "affinity": "scheduling",
    "priorityClassName": "scheduling",
    "podMetadata": "pod labels/annotations",
    "metadata": "pod labels/annotations",
    "imagePullSecrets": "registry credentials",
    "metrics": "Prometheus custom metrics: the Argo controller emits them (docs/metrics.md)",
    "workflowMetadata": "labels/annotations of the Workflow object",
    "synchronization": "semaphores bound concurrency across a namespace; locally --parallelism does",
}

_SPEC_KEYS = {"entrypoint", "arguments", "templates", "volumes", "activeDeadlineSeconds", "parallelism",
              "volumeClaimTemplates", "volumeClaimGC"}
_TEMPLATE_KEYS = {"name", "inputs", "outputs", "container", "script", "dag", "activeDeadlineSeconds",
                  "retryStrategy", "volumes"}
_CONTAINER_KEYS = {"name", "image", "command", "args", "env", "volumeMounts", "workingDir"}
_SCRIPT_KEYS = _CONTAINER_KEYS | {"source"}
_TASK_KEYS = {"name", "template", "depends", "dependencies", "arguments", "withParam"}
_DAG_KEYS = {"tasks", "failFast"}
_RETRY_KEYS = {"limit", "retryPolicy", "expression", "backoff"}
_BACKOFF_KEYS = {"duration", "factor", "maxDuration", "cap"}
_MOUNT_KEYS = {"name", "mountPath", "readOnly"}
# a volumeClaimTemplates entry (a PersistentVolumeClaim): one directory of the run locally. Access
# modes, size and storage class only matter to a cluster's provisioner; a claim bound to existing
# data (dataSource, selector, volumeName) or a raw block device has no local equivalent.
_CLAIM_KEYS = {"apiVersion", "kind", "metadata", "spec"}
_CLAIM_METADATA_KEYS = {"name", "labels", "annotations"}
_CLAIM_SPEC_KEYS = {"accessModes", "resources", "storageClassName", "volumeMode"}
VOLUME_CLAIM_GC = ("OnWorkflowSuccess", "OnWorkflowCompletion")  # Argo's default first


class Unsupported(ToolingError):
    """The template uses something the local executor does not run; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str | None  # None: no default (must be supplied)


@dataclass(frozen=True)
class OutputParameter:
    name: str
    path: str
    default: str | None


@dataclass(frozen=True)
class Backoff:
    duration: float = 0.0
    factor: float = 1.0
    max_duration: float | None = None
    cap: float | None = None

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number RETRY (1-based), at most `cap`."""
        delay = self.duration * self.factor ** (retry - 1)
        return delay if self.cap is None else min(delay, self.cap)


@dataclass(frozen=True)
class RetryStrategy:
    limit: int
    policy: str
    expression: Expression | None
    backoff: Backoff

    def allows(self, phase: str, exit_code: int | None, message: str, duration: float) -> bool:
        """Argo's decision for one finished attempt (the attempt count is checked by the caller)."""
        if self.policy == "OnFailure" and phase != "Failed":
            return False
        if self.policy in ("OnError", "OnTransientError") and phase != "Error":
            return False
        if self.expression is None:
            return True
        env = {
            "lastRetry.exitCode": "" if exit_code is None else str(exit_code),
            "lastRetry.status": phase,
            "lastRetry.duration": str(int(duration)),
            "lastRetry.message": message,
        }
        try:
            return bool(self.expression.evaluate(env))
        except (ValueError, TypeError):
            return False  # e.g. asInt("") when the process never started: not retried


@dataclass(frozen=True)
class VolumeSource:
    name: str
    kind: str  # emptyDir | configMap | persistentVolumeClaim | volumeClaimTemplate
    ref: str = ""  # ConfigMap name or claim name
    items: tuple[tuple[str, str], ...] = ()  # configMap items: (key, path)


@dataclass(frozen=True)
class Template:
    name: str
    kind: str  # container | script | dag
    body: Mapping[str, Any]  # the raw template, substituted at run time
    inputs: tuple[Parameter, ...] = ()
    outputs: tuple[OutputParameter, ...] = ()
    deadline: float | None = None
    retry: RetryStrategy | None = None
    volumes: Mapping[str, VolumeSource] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    name: str
    template: str
    depends: Depends | None
    arguments: tuple[Parameter, ...]
    with_param: str | None = None  # a JSON list: one child per item, `{{item}}`/`{{item.KEY}}`


@dataclass(frozen=True)
class WorkflowSpec:
    name: str  # the WorkflowTemplate's name
    namespace: str
    service_account: str
    entrypoint: str
    arguments: tuple[Parameter, ...]
    templates: Mapping[str, Template]
    tasks: tuple[Task, ...]
    fail_fast: bool
    volumes: Mapping[str, VolumeSource]
    deadline: float | None
    parallelism: int | None
    claims: tuple[str, ...] = ()  # volumeClaimTemplates names: one directory per run
    volume_claim_gc: str = VOLUME_CLAIM_GC[0]

    def deletes_claims(self, phase: str) -> bool:
        """Whether Argo deletes the run's claims when the workflow ends in PHASE (volumeClaimGC)."""
        return self.volume_claim_gc == "OnWorkflowCompletion" or phase == "Succeeded"

    @property
    def images(self) -> list[str]:
        seen: list[str] = []
        for t in self.templates.values():
            image = (t.body.get("container") or t.body.get("script") or {}).get("image")
            if image and image not in seen:
                seen.append(image)
        return seen


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Argo durations: a number of seconds, or Go-style `10s`, `1m30s`, `500ms`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * scale[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r}")
    return total


class _Reader:
    """Walks the raw template collecting every problem instead of stopping at the first."""

    def __init__(self, wt_name: str) -> None:
        self.where = f"WorkflowTemplate {wt_name}"
        self.problems: list[str] = []

    def refuse(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where}: {path}: {message}")

    def keys(self, obj: Any, path: str, supported: set[str]) -> dict[str, Any]:
        if not isinstance(obj, dict):
            self.refuse(path, f"expected a mapping, got {type(obj).__name__}")
            return {}
        for key in obj:
            if key not in supported and key not in CLUSTER_ONLY:
                self.refuse(f"{path}.{key}", "not supported by the local executor")
        return obj

    def integer(self, value: Any, path: str) -> int | None:
        try:
            if isinstance(value, bool):  # YAML `true` is not a number of seconds
                raise TypeError(value)
            return int(str(value))
        except (TypeError, ValueError):
            self.refuse(path, f"expected an integer, got {value!r} (templated values are not supported locally)")
            return None

    def parameters(self, raw: Any, path: str, need_value: bool) -> tuple[Parameter, ...]:
        out: list[Parameter] = []
        for i, p in enumerate(raw or []):
            where = f"{path}[{i}]"
            p = self.keys(p, where, {"name", "value", "description", "default"})
            if "name" not in p:
                self.refuse(where, "parameter without a name")
                continue
            value = p.get("value", p.get("default"))
            if need_value and value is None:
                self.refuse(f"{where} ({p['name']})", "no value")
            out.append(Parameter(str(p["name"]), None if value is None else str(value)))
        return tuple(out)

    def volumes(self, raw: Any, path: str) -> dict[str, VolumeSource]:
        out: dict[str, VolumeSource] = {}
        for i, v in enumerate(raw or []):
            where = f"{path}[{i}]"
            v = self.keys(v, where, {"name", "emptyDir", "configMap", "persistentVolumeClaim"})
            kinds = [k for k in ("emptyDir", "configMap", "persistentVolumeClaim") if k in v]
            if len(kinds) != 1:
                if not kinds and set(v) <= {"name"}:
                    r_msg = "no volume source (emptyDir, configMap or persistentVolumeClaim)"
                    self.refuse(where, r_msg)
                elif len(kinds) > 1:
                    self.refuse(where, "more than one volume source")
                continue  # an unsupported source was refused by keys()
            name = str(v.get("name", ""))
            kind = kinds[0]
            if kind == "emptyDir":
                self.keys(v[kind] or {}, f"{where}.emptyDir", {"medium", "sizeLimit"})
                out[name] = VolumeSource(name, kind)
            elif kind == "configMap":
                cm = self.keys(v[kind], f"{where}.configMap", {"name", "items", "defaultMode", "optional"})
                items = []
                for j, item in enumerate(cm.get("items") or []):
                    item = self.keys(item, f"{where}.configMap.items[{j}]", {"key", "path", "mode"})
                    items.append((str(item.get("key")), str(item.get("path"))))
                out[name] = VolumeSource(name, kind, str(cm.get("name", "")), tuple(items))
            else:
                pvc = self.keys(v[kind], f"{where}.persistentVolumeClaim", {"claimName", "readOnly"})
                out[name] = VolumeSource(name, kind, str(pvc.get("claimName", "")))
        return out

    def claim_templates(self, raw: Any, path: str, taken: Mapping[str, VolumeSource]) -> dict[str, VolumeSource]:
        """spec.volumeClaimTemplates: a claim per run, mounted by its metadata.name."""
        out: dict[str, VolumeSource] = {}
        if raw is not None and not isinstance(raw, list):
            self.refuse(path, f"expected a list, got {type(raw).__name__}")
            return out
        for i, c in enumerate(raw or []):
            c = self.keys(c, f"{path}[{i}]", _CLAIM_KEYS)
            meta = self.keys(c.get("metadata") or {}, f"{path}[{i}].metadata", _CLAIM_METADATA_KEYS)
            name = str(meta.get("name") or "")
            where = f"{path}[{i}] ({name or '?'})"
            if c.get("kind", "PersistentVolumeClaim") != "PersistentVolumeClaim":
                self.refuse(f"{where}.kind", f"expected PersistentVolumeClaim, got {c['kind']!r}")
            if not name or "{{" in name:
                self.refuse(f"{where}.metadata.name", "missing or templated: volumeMounts name the "
                            "claim by it")
                continue
            if name in out:
                self.refuse(f"{where}.metadata.name", f"claim name {name!r} used twice")
            if name in taken:
                self.refuse(f"{where}.metadata.name", f"{name!r} is also a volume of spec.volumes "
                            "(the pod would get two volumes of that name)")
            spec = self.keys(c.get("spec") or {}, f"{where}.spec", _CLAIM_SPEC_KEYS)
            mode = spec.get("volumeMode", "Filesystem")
            if mode != "Filesystem":
                self.refuse(f"{where}.spec.volumeMode", f"{mode!r}: only Filesystem claims run locally "
                            "(a directory of the run)")
            res = self.keys(spec.get("resources") or {}, f"{where}.spec.resources", {"requests", "limits"})
            for key in ("requests", "limits"):
                self.keys(res.get(key) or {}, f"{where}.spec.resources.{key}", {"storage"})
            out[name] = VolumeSource(name, "volumeClaimTemplate")
        return out

    def volume_claim_gc(self, raw: Any, path: str) -> str:
        if raw is None:
            return VOLUME_CLAIM_GC[0]
        gc = self.keys(raw, path, {"strategy"})
        strategy = str(gc.get("strategy") or VOLUME_CLAIM_GC[0])
        if strategy not in VOLUME_CLAIM_GC:
            self.refuse(f"{path}.strategy", f"unknown strategy {strategy!r} (expected "
                        f"{' or '.join(VOLUME_CLAIM_GC)})")
        return strategy

    def retry(self, raw: Any, path: str) -> RetryStrategy | None:
        if raw is None:
            return None
        r = self.keys(raw, path, _RETRY_KEYS)
        limit = self.integer(r.get("limit", 0), f"{path}.limit") or 0
        policy = str(r.get("retryPolicy", "OnFailure"))
        if policy not in RETRY_POLICIES:
            self.refuse(f"{path}.retryPolicy", f"unknown policy {policy!r}")
        expression = None
        if "expression" in r:
            try:
                expression = parse_retry_expression(str(r["expression"]), RETRY_VARIABLES)
            except ExpressionError as e:
                self.refuse(f"{path}.expression", str(e))
        b = self.keys(r.get("backoff") or {}, f"{path}.backoff", _BACKOFF_KEYS)
        try:
            backoff = Backoff(
                duration=parse_duration(b.get("duration", 0)),
                factor=float(str(b.get("factor", 1))),
                max_duration=parse_duration(b["maxDuration"]) if "maxDuration" in b else None,
                cap=parse_duration(b["cap"]) if "cap" in b else None,
            )
        except ValueError as e:
            self.refuse(f"{path}.backoff", str(e))
            backoff = Backoff()
        return RetryStrategy(limit, policy, expression, backoff)

    def container(self, raw: Any, path: str, kind: str) -> None:
        c = self.keys(raw, path, _SCRIPT_KEYS if kind == "script" else _CONTAINER_KEYS)
        if not c.get("command"):
            self.refuse(f"{path}.command", "missing: the image's entrypoint is unknown locally, "
                        "a template run locally must name its command")
        for i, env in enumerate(c.get("env") or []):
            where = f"{path}.env[{i}]"
            env = self.keys(env, where, {"name", "value", "valueFrom"})
            if "valueFrom" in env:
                src = self.keys(env["valueFrom"], f"{where}.valueFrom", {"secretKeyRef", "configMapKeyRef"})
                for ref in ("secretKeyRef", "configMapKeyRef"):
                    if ref in src:
                        self.keys(src[ref], f"{where}.valueFrom.{ref}", {"name", "key", "optional"})
        for i, m in enumerate(c.get("volumeMounts") or []):
            self.keys(m, f"{path}.volumeMounts[{i}]", _MOUNT_KEYS)


def read_workflow_template(doc: Mapping[str, Any]) -> WorkflowSpec:
    """Read a rendered WorkflowTemplate; raise Unsupported listing every unsupported field."""
    meta = doc.get("metadata") or {}
    name = str(meta.get("name", "?"))
    r = _Reader(name)
    spec = r.keys(doc.get("spec") or {}, "spec", _SPEC_KEYS)
    arguments = r.keys(spec.get("arguments") or {}, "spec.arguments", {"parameters"})
    params = r.parameters(arguments.get("parameters"), "spec.arguments.parameters", need_value=False)
    volumes = r.volumes(spec.get("volumes"), "spec.volumes")
    claims = r.claim_templates(spec.get("volumeClaimTemplates"), "spec.volumeClaimTemplates", volumes)
    claim_gc = r.volume_claim_gc(spec.get("volumeClaimGC"), "spec.volumeClaimGC")
    deadline = r.integer(spec["activeDeadlineSeconds"], "spec.activeDeadlineSeconds") \
        if "activeDeadlineSeconds" in spec else None
    parallelism = r.integer(spec["parallelism"], "spec.parallelism") if "parallelism" in spec else None
    templates = _read_templates(spec.get("templates") or [], r)
    entry = str(spec.get("entrypoint", ""))
    tasks, fail_fast = _read_entrypoint(spec, entry, templates, r)
    _check_template_variables(spec, r)
    if r.problems:
        raise Unsupported(r.problems)
    return WorkflowSpec(
        name=name,
        namespace=str(meta.get("namespace", "")),
        service_account=str(spec.get("serviceAccountName", "")),
        entrypoint=entry,
        arguments=params,
        templates=templates,
        tasks=tuple(tasks),
        fail_fast=fail_fast,
        volumes={**volumes, **claims},
        deadline=float(deadline) if deadline is not None else None,
        parallelism=parallelism,
        claims=tuple(claims),
        volume_claim_gc=claim_gc,
    )


def _read_templates(raw_templates: list[Any], r: _Reader) -> dict[str, Template]:
    templates: dict[str, Template] = {}
    for i, t in enumerate(raw_templates):
        tname = str((t or {}).get("name", f"#{i}"))
        path = f"spec.templates[{i}] ({tname})"
        t = r.keys(t, path, _TEMPLATE_KEYS)
        types = [k for k in TEMPLATE_TYPES if k in t]
        if len(types) != 1:
            if not types:
                r.refuse(path, "no template type (container, script or dag)")
            continue
        kind = types[0]
        if kind not in ("container", "script", "dag"):
            continue  # already refused as an unsupported field
        if tname in templates:
            r.refuse(path, f"template name {tname!r} used twice")
        templates[tname] = _read_template(t, tname, kind, path, r)
    return templates


def _read_template(t: Mapping[str, Any], tname: str, kind: str, path: str, r: _Reader) -> Template:
    inputs = r.keys(t.get("inputs") or {}, f"{path}.inputs", {"parameters"})
    if kind in ("container", "script"):
        r.container(t[kind], f"{path}.{kind}", kind)
    tdeadline = None
    if "activeDeadlineSeconds" in t:
        v = r.integer(t["activeDeadlineSeconds"], f"{path}.activeDeadlineSeconds")
        tdeadline = float(v) if v is not None else None
    return Template(
        name=tname,
        kind=kind,
        body=t,
        inputs=r.parameters(inputs.get("parameters"), f"{path}.inputs.parameters", need_value=False),
        outputs=_read_outputs(t, path, r),
        deadline=tdeadline,
        retry=r.retry(t.get("retryStrategy"), f"{path}.retryStrategy"),
        volumes=r.volumes(t.get("volumes"), f"{path}.volumes"),
    )


def _read_outputs(t: Mapping[str, Any], path: str, r: _Reader) -> tuple[OutputParameter, ...]:
    outputs = r.keys(t.get("outputs") or {}, f"{path}.outputs", {"parameters"})
    outs: list[OutputParameter] = []
    for j, o in enumerate(outputs.get("parameters") or []):
        where = f"{path}.outputs.parameters[{j}]"
        o = r.keys(o, where, {"name", "valueFrom", "description"})
        vf = r.keys(o.get("valueFrom") or {}, f"{where}.valueFrom", {"path", "default"})
        if "path" not in vf:
            r.refuse(f"{where}.valueFrom", "only valueFrom.path is supported")
            continue
        default = vf.get("default")
        outs.append(OutputParameter(str(o.get("name")), str(vf["path"]),
                                    None if default is None else str(default)))
    return tuple(outs)


def _read_entrypoint(spec: Mapping[str, Any], entry: str, templates: Mapping[str, Template],
                     r: _Reader) -> tuple[list[Task], bool]:
    """The entrypoint DAG's tasks and its failFast."""
    if entry not in templates:
        r.refuse("spec.entrypoint", f"names no template: {entry!r}")
        return [], True
    if templates[entry].kind != "dag":
        r.refuse("spec.entrypoint", f"template {entry!r} is a {templates[entry].kind}; the local executor runs a DAG entrypoint")
        return [], True
    idx = next(i for i, t in enumerate(spec["templates"]) if t.get("name") == entry)
    dpath = f"spec.templates[{idx}] ({entry}).dag"
    dag = r.keys(templates[entry].body["dag"], dpath, _DAG_KEYS)
    raw_tasks = dag.get("tasks") or []
    names = frozenset(str((t or {}).get("name", "")) for t in raw_tasks)
    tasks = [_read_task(t, i, dpath, names, templates, r) for i, t in enumerate(raw_tasks)]
    _check_acyclic(tasks, r)
    for i, t in enumerate(raw_tasks):
        where = f"{dpath}.tasks[{i}] ({t.get('name')})"
        looped = isinstance(t, dict) and "withParam" in t
        _check_variables((t or {}).get("arguments") or {}, f"{where}.arguments",
                         _LOOP_VARIABLES if looped else _DAG_VARIABLES, r)
        if looped:
            _check_variables(t["withParam"], f"{where}.withParam", _DAG_VARIABLES, r)
    return tasks, bool(dag.get("failFast", True))


def _read_task(t: Any, i: int, dpath: str, names: frozenset[str], templates: Mapping[str, Template],
               r: _Reader) -> Task:
    tname = str((t or {}).get("name", f"#{i}"))
    path = f"{dpath}.tasks[{i}] ({tname})"
    t = r.keys(t, path, _TASK_KEYS)
    target = str(t.get("template", ""))
    if target not in templates:
        r.refuse(f"{path}.template", f"names no template: {target!r}")
    elif templates[target].kind == "dag":
        r.refuse(f"{path}.template", f"{target!r} is a nested DAG: not supported locally")
    depends: Depends | None = None
    if "depends" in t and "dependencies" in t:
        r.refuse(path, "both depends and dependencies (Argo rejects this)")
    text = ""
    if "depends" in t:
        text = str(t["depends"])
    elif t.get("dependencies"):
        text = " && ".join(str(d) for d in t["dependencies"])
    if text:
        try:
            depends = parse_depends(text, names)
        except ExpressionError as e:
            r.refuse(f"{path}.depends", str(e))
    args = r.keys(t.get("arguments") or {}, f"{path}.arguments", {"parameters"})
    with_param = None
    if "withParam" in t:
        with_param = t["withParam"]
        if not isinstance(with_param, str) or "{{" not in with_param:
            r.refuse(f"{path}.withParam", "expected a `{{...}}` reference to a JSON list")
        with_param = str(with_param)
    return Task(tname, target, depends,
                r.parameters(args.get("parameters"), f"{path}.arguments.parameters", True), with_param)


def _check_template_variables(spec: Mapping[str, Any], r: _Reader) -> None:
    for i, t in enumerate(spec.get("templates") or []):
        if isinstance(t, dict) and "dag" not in t:
            in_pods = {k: v for k, v in t.items() if k not in CLUSTER_ONLY}  # metrics: the controller's
            _check_variables(in_pods, f"spec.templates[{i}] ({t.get('name')})", _POD_VARIABLES, r)
    _check_variables(spec.get("volumeClaimTemplates") or [], "spec.volumeClaimTemplates", _WORKFLOW_VARIABLES, r)


# The variables the local executor provides. A reference of another kind ({{pod.name}},
# {{workflow.status}}, {{tasks.x.outputs.result}}, {{=expr}}, …) is refused before running; a
# reference of a supported kind naming something that does not exist fails its task at run time
# (as Argo would fail that node).
_WORKFLOW_VARIABLES = re.compile(
    r"workflow\.(name|namespace|uid|serviceAccountName|creationTimestamp)|workflow\.parameters\.[\w-]+"
)
_POD_VARIABLES = re.compile(
    r"workflow\.(name|namespace|uid|serviceAccountName|creationTimestamp)"
    r"|workflow\.parameters\.[\w-]+|inputs\.parameters\.[\w-]+"
)
_DAG_VARIABLES = re.compile(
    _POD_VARIABLES.pattern
    + r"|tasks\.[\w-]+\.(status|startedAt|finishedAt|exitCode|id)|tasks\.[\w-]+\.outputs\.parameters\.[\w-]+"
)

# a withParam task's arguments also see its item: `{{item}}`, `{{item.KEY}}`
_LOOP_VARIABLES = re.compile(_DAG_VARIABLES.pattern + r"|item|item\.[\w-]+")


def _check_variables(value: Any, path: str, allowed: re.Pattern[str], r: _Reader) -> None:
    for where, text in strings(value, path):
        for name in sorted(set(tags(text))):
            if not allowed.fullmatch(name):
                r.refuse(where, f"{{{{{name}}}}}: variable not supported by the local executor")


def _check_acyclic(tasks: list[Task], r: _Reader) -> None:
    cycle = find_cycle({t.name: sorted(t.depends.tasks) if t.depends else [] for t in tasks})
    if cycle:
        r.refuse("dag", "dependency cycle: " + " -> ".join(cycle))
