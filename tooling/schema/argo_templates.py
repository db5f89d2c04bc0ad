"""Argo's validator, ported: templates, steps, DAGs and calls (workflow/validate/validate.go, v4.0.9).

Each rule names the Go function it mirrors. Rules the CRD's CEL already enforces (a timeout or
activeDeadlineSeconds on a steps/dag template, `depends` with `dependencies`, withSequence count
with end, one template type) are left to `schema.cel`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import yamlio
from tooling.argo import TAG, Call, TemplateAt, WorkflowView, as_dict, as_list
from tooling.schema.argo_fields import field_name_problem, is_leaf, template_type
from tooling.schema.argo_lint import CheckFn, LintMode

STEP_NAME = Rule("argo.step-name", Severity.ERROR, "step names are present, valid and unique in their template (validateSteps)")
DAG_TASK_NAME = Rule(
    "argo.dag-task-name", Severity.ERROR,
    "no task name starts with a digit once any task of the DAG uses depends/dependencies (validateDAG)",
)
DAG_DEPENDS_MIX = Rule(
    "argo.dag-depends-mix", Severity.ERROR,
    "once a DAG uses `depends`, no task of it uses `dependencies` or `continueOn` (validateDAG)",
)
DAG_TARGET = Rule("argo.dag-target", Severity.ERROR, "dag.target names tasks of the DAG (validateDAGTargets)")
DAG_ITEMS_DEPENDENCY = Rule(
    "argo.dag-items-dependency", Severity.ERROR,
    "`.AnySucceeded`/`.AllFailed` only on tasks that loop (validateDAG)",
)
LOOP_SOURCE = Rule("argo.loop-source", Severity.ERROR, "at most one of withItems, withParam, withSequence (addItemsToScope)")
HOOK_EXPRESSION = Rule("argo.hook-expression", Severity.ERROR, "every hook but `exit` has an expression (validateHooks)")
MOUNT_PATH = Rule(
    "argo.mount-path", Severity.ERROR,
    "volume mounts and input artifacts of a container never share a path (validateLeaf)",
)
IMAGE = Rule("argo.image", Severity.ERROR, "container/script templates have an image or a templateDefaults one (validateLeaf)")
CONTAINER_SET = Rule(
    "argo.container-set-main", Severity.ERROR,
    "a containerSet with inputs artifacts or outputs has a container named main (validateLeaf)",
)
RESOURCE = Rule(
    "argo.resource-template", Severity.ERROR,
    "resource templates: a known action, a manifest (valid YAML) or manifestFrom an input artifact (validateLeaf)",
)
ACTIVE_DEADLINE = Rule(
    "argo.active-deadline", Severity.ERROR,
    "activeDeadlineSeconds is a positive integer or an Argo variable (validateLeaf)",
)
PARALLELISM = Rule("argo.parallelism-leaf", Severity.ERROR, "parallelism only on steps and dag templates (validateLeaf)")
TIMEOUT = Rule("argo.timeout", Severity.ERROR, "a template timeout is a duration, not a bare number (validateTemplate)")
METRIC = Rule(
    "argo.metric", Severity.ERROR,
    "metric labels have values (validateTemplate -> ValidateMetricLabels; the CRD checks names, help, values)",
)
INPUT_SUPPLIED = Rule(
    "argo.input-supplied", Severity.ERROR,
    "a call supplies every input parameter the template has no value for (validateTemplateHolder -> ProcessArgs)",
)
TEMPLATE_REF_FIELDS = Rule(
    "argo.template-ref-fields", Severity.ERROR,
    "templateRef has name and template, and is not combined with template (validateTemplateHolder)",
)
WORKFLOW_TEMPLATE_REF_TEMPLATES = Rule(
    "argo.workflow-template-ref-templates", Severity.ERROR,
    "no templates beside a workflowTemplateRef (ValidateWorkflowTemplateRefFields)",
)
NAME_LENGTH = Rule(
    "argo.name-length", Severity.ERROR,
    "object names fit 63 characters, CronWorkflow names 52 (ValidateWorkflow, ValidateCronWorkflow)",
)

_ARGO_VARIABLE = re.compile(r"^{{.+}}$")
_RESOURCE_ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
_EXPRESSION = re.compile(r"{{=.*?}}", re.DOTALL)


def _at(view: WorkflowView, rule: Rule, message: str, path: str) -> Finding:
    return rule.finding(message, path=path, **view.doc.where())


def check_step_names(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        seen: set[str] = set()
        for _, step in view.steps_of(t):
            name, path = step.body.get("name"), f"{step.path}.name"
            if name in (None, ""):
                out.append(_at(view, STEP_NAME, "step name is required", path))
                continue
            name = str(name)
            if name in seen:
                out.append(_at(view, STEP_NAME, f"step name {name!r} is not unique in template {t.name!r}", path))
            elif field_name_problem(re.sub(r"{{.*?}}", "x", name)):
                out.append(_at(view, STEP_NAME, f"step name {name!r} is invalid: {field_name_problem(name)}", path))
            seen.add(name)
    return out


def check_dag_tasks(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        if not isinstance(t.body.get("dag"), dict):
            continue
        tasks = view.tasks_of(t)
        using_deps = any(c.body.get("depends") or c.body.get("dependencies") for c in tasks)
        out += _depends_mix(view, t, tasks)
        for task in tasks:
            name, path = str(task.body.get("name") or ""), f"{task.path}.name"
            if not name:
                out.append(_at(view, DAG_TASK_NAME, "task name is required", path))
            elif field_name_problem(name):
                out.append(_at(view, DAG_TASK_NAME, f"task name {name!r} is invalid: {field_name_problem(name)}", path))
            elif using_deps and name[0].isdigit():
                message = f"task name {name!r} cannot begin with a digit when using either 'depends' or 'dependencies'"
                out.append(_at(view, DAG_TASK_NAME, message, path))
        out += _targets(view, t, {str(c.body.get("name")) for c in tasks})
        out += _items_dependencies(view, tasks)
    return out


def _depends_mix(view: WorkflowView, t: TemplateAt, tasks: list[Call]) -> list[Finding]:
    """The DAG-wide form of the CRD's per-task CEL rules (a task with both is schema.cel's)."""
    if not any(c.body.get("depends") for c in tasks):
        return []
    out = []
    for task in tasks:
        if task.body.get("depends"):
            continue
        for key in ("dependencies", "continueOn"):
            if task.body.get(key) is not None and task.body.get(key) != []:
                message = f"DAG {t.name!r} uses 'depends': task {task.body.get('name')!r} cannot use {key!r}"
                out.append(_at(view, DAG_DEPENDS_MIX, message, f"{task.path}.{key}"))
    return out


def _targets(view: WorkflowView, t: TemplateAt, names: set[str]) -> list[Finding]:
    target = as_dict(t.body.get("dag")).get("target")
    if not isinstance(target, str) or not target:
        return []
    missing = [n for n in target.split(" ") if not TAG.search(n) and n not in names]
    return [_at(view, DAG_TARGET, f"target {n!r} is not a task of DAG {t.name!r}", f"{t.path}.dag.target") for n in missing]


def _loops(task: dict[str, Any]) -> bool:
    return bool(task.get("withItems")) or bool(task.get("withParam")) or task.get("withSequence") is not None


def _items_dependencies(view: WorkflowView, tasks: list[Call]) -> list[Finding]:
    by_name = {str(c.body.get("name")): c.body for c in tasks}
    out = []
    for task in tasks:
        depends = task.body.get("depends")
        if not isinstance(depends, str):
            continue
        for name in re.findall(r"([-\w]+)\.(?:AnySucceeded|AllFailed)\b", depends):
            if name in by_name and not _loops(by_name[name]):
                message = f"dependency {name!r} uses an items-based condition (.AnySucceeded/.AllFailed) but does not loop"
                out.append(_at(view, DAG_ITEMS_DEPENDENCY, message, f"{task.path}.depends"))
    return out


def check_loops_and_hooks(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        for call in [c for _, c in view.steps_of(t)] + view.tasks_of(t):
            sources = [k for k in ("withItems", "withParam", "withSequence") if call.body.get(k) not in (None, "", [])]
            if len(sources) > 1:
                message = f"only one of withItems, withParam, withSequence can be specified (has {', '.join(sources)})"
                out.append(_at(view, LOOP_SOURCE, message, call.path))
        for _, step in view.steps_of(t):
            out += _hooks(view, step.body, step.path)
    return out + _hooks(view, view.spec, view.spec_path)


def _hooks(view: WorkflowView, owner: dict[str, Any], path: str) -> list[Finding]:
    out = []
    for name, hook in as_dict(owner.get("hooks")).items():
        if name != "exit" and isinstance(hook, dict) and not hook.get("expression"):
            out.append(_at(view, HOOK_EXPRESSION, f"hook {name!r}: Expression required", f"{path}.hooks.{name}"))
    return out


def _mount_collisions(view: WorkflowView, t: TemplateAt) -> list[Finding]:
    container = as_dict(t.body.get("container"))
    mounts: dict[str, str] = {}
    out = []
    for i, mount in enumerate(as_list(container.get("volumeMounts"))):
        path = as_dict(mount).get("mountPath")
        if path in mounts:
            message = f"mountPath {path!r} already mounted in {mounts[path]}"
            out.append(_at(view, MOUNT_PATH, message, f"{t.path}.container.volumeMounts[{i}].mountPath"))
        mounts.setdefault(path, f"container.volumeMounts.{as_dict(mount).get('name')}")
    for i, art in enumerate(as_list(as_dict(t.body.get("inputs")).get("artifacts"))):
        path = as_dict(art).get("path", "")
        if path in mounts:
            message = f"input artifact path {path!r} already mounted in {mounts[path]}"
            out.append(_at(view, MOUNT_PATH, message, f"{t.path}.inputs.artifacts[{i}].path"))
        mounts.setdefault(path, f"inputs.artifacts.{as_dict(art).get('name')}")
    return out


def _image_missing(view: WorkflowView, t: TemplateAt) -> list[Finding]:
    out = []
    defaults = as_dict(view.spec.get("templateDefaults"))
    for kind in ("container", "script"):
        body = t.body.get(kind)
        if isinstance(body, dict) and not body.get("image") and not as_dict(defaults.get(kind)).get("image"):
            out.append(_at(view, IMAGE, f"{kind}.image may not be empty", f"{t.path}.{kind}.image"))
    return out


def _container_set(view: WorkflowView, t: TemplateAt) -> list[Finding]:
    cset = t.body.get("containerSet")
    if not isinstance(cset, dict):
        return []
    inputs, outputs = as_dict(t.body.get("inputs")), as_dict(t.body.get("outputs"))
    needs_main = as_list(inputs.get("artifacts")) or as_list(outputs.get("parameters")) or as_list(outputs.get("artifacts"))
    names = {as_dict(c).get("name") for c in as_list(cset.get("containers"))}
    if needs_main and "main" not in names:
        message = 'containerSet.containers must have a container named "main" for input or output'
        return [_at(view, CONTAINER_SET, message, f"{t.path}.containerSet.containers")]
    return []


def _resource_problems(t: TemplateAt) -> list[tuple[str, str]]:
    resource = t.body.get("resource")
    if not isinstance(resource, dict):
        return []
    action, path = resource.get("action"), f"{t.path}.resource"
    if not (isinstance(action, str) and TAG.search(action)) and action not in _RESOURCE_ACTIONS:
        return [(f"{path}.action", f"resource.action must be one of: {', '.join(_RESOURCE_ACTIONS)}")]
    if action in ("delete", "get"):
        return []
    manifest, manifest_from = resource.get("manifest"), resource.get("manifestFrom")
    if not manifest and manifest_from is None:
        return [(path, "either resource.manifest or resource.manifestFrom must be specified")]
    artifact = as_dict(as_dict(manifest_from).get("artifact")).get("name")
    inputs = {as_dict(a).get("name") for a in as_list(as_dict(t.body.get("inputs")).get("artifacts"))}
    if manifest_from is not None and artifact is not None and artifact not in inputs:
        return [(f"{path}.manifestFrom.artifact.name", f"artifact {artifact!r} in manifestFrom is not an input artifact")]
    if isinstance(manifest, str) and manifest and not _ARGO_VARIABLE.match(manifest.strip()):
        try:
            yamlio.load(TAG.sub("placeholder", _EXPRESSION.sub("placeholder", manifest)))
        except yaml.YAMLError:
            return [(f"{path}.manifest", "resource.manifest must be a valid yaml")]
    return []


def _active_deadline(value: Any) -> bool:
    """intstr.IsValidIntOrArgoVariable and not negative."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, str):
        return bool(_ARGO_VARIABLE.match(value)) or (value.lstrip("-").isdigit() and not value.startswith("-"))
    return True


def check_leaf_templates(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out: list[Finding] = []
    for t in view.all_templates():
        if not is_leaf(t.body):
            continue
        out += _mount_collisions(view, t) + _image_missing(view, t) + _container_set(view, t)
        out += [_at(view, RESOURCE, message, path) for path, message in _resource_problems(t)]
        if "activeDeadlineSeconds" in t.body and not _active_deadline(t.body["activeDeadlineSeconds"]):
            message = "activeDeadlineSeconds must be a positive integer > 0 or an argo variable"
            out.append(_at(view, ACTIVE_DEADLINE, message, f"{t.path}.activeDeadlineSeconds"))
        if t.body.get("parallelism") is not None:
            message = f"parallelism is only valid for steps and dag templates ({template_type(t.body)} is a leaf)"
            out.append(_at(view, PARALLELISM, message, f"{t.path}.parallelism"))
    return out


def _metric_problems(metric: dict[str, Any]) -> list[str]:
    name = metric.get("name", "?")
    return [
        f"metric {name!r}: label {as_dict(label).get('key')!r} has an empty value"
        for label in as_list(metric.get("labels"))
        if as_dict(label).get("value") in ("", None)
    ]


def check_template_settings(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        timeout = t.body.get("timeout")
        if isinstance(timeout, str) and timeout.lstrip("+-").isdigit():
            out.append(_at(view, TIMEOUT, f"{t.name or 'template'} has invalid duration format in timeout: {timeout!r}", f"{t.path}.timeout"))
        for i, metric in enumerate(as_list(as_dict(t.body.get("metrics")).get("prometheus"))):
            for problem in _metric_problems(as_dict(metric)):
                out.append(_at(view, METRIC, problem, f"{t.path}.metrics.prometheus[{i}]"))
    return out


TEMPLATE_CHECKS: tuple[CheckFn, ...] = (
    check_step_names,
    check_dag_tasks,
    check_loops_and_hooks,
    check_leaf_templates,
    check_template_settings,
)
