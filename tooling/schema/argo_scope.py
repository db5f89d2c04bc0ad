"""Argo's validator, ported: `{{item...}}` and `{{workflow...}}` resolve (resolveAllVariables,
addItemsToScope, ValidateWorkflow's global parameters; validate.go v4.0.9).

- `{{item}}` exists only in a step or task that loops (withItems, withParam, withSequence); with
  withItems of objects, `{{item.key}}` must name a key of one of them. A named leaf template is
  validated on its own, where no item is in scope.
- `{{workflow.x}}` must be one of Argo's globals: name, namespace, uid, mainEntrypoint,
  serviceAccountName, status, creationTimestamp…, scheduledTime, duration, priority (when set),
  parameters…, annotations.k / labels.k (keys the object declares), failures (only with an exit
  handler, and not in a template the entrypoint runs), outputs.parameters.g / outputs.artifacts.g (a globalName some template declares).
`{{workflow.parameters.x}}` is `argo.workflow-parameter-ref`'s; expressions (`{{=…}}`) are left to Argo.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.findings import Finding, Rule, Severity
from tooling.argo import Call, WorkflowView, as_dict, as_list, strings, tags
from tooling.schema.argo_fields import is_leaf
from tooling.schema.argo_lint import CheckFn, LintMode

VARIABLE_REF = Rule(
    "argo.variable-ref", Severity.ERROR,
    "{{item...}} only in looping steps/tasks, {{workflow...}} only Argo's globals (resolveAllVariables)",
)

_ALWAYS = {
    "workflow.name", "workflow.namespace", "workflow.uid", "workflow.mainEntrypoint",
    "workflow.serviceAccountName", "workflow.status", "workflow.annotations", "workflow.labels",
    "workflow.annotations.json", "workflow.labels.json",
}
_PREFIXES = ("workflow.creationTimestamp", "workflow.scheduledTime", "workflow.duration", "workflow.parameters")


def _at(view: WorkflowView, message: str, path: str) -> Finding:
    return VARIABLE_REF.finding(message, path=path, **view.doc.where())


def _plain_tags(text: str) -> Iterator[str]:
    for tag in tags(text):
        if not tag.startswith("="):
            yield tag


def _metadata_keys(view: WorkflowView, field: str) -> set[str]:
    specs = [view.spec] + ([view.referenced_workflow().spec] if view.referenced_workflow() else [])
    keys = set(as_dict(as_dict(view.doc.obj.get("metadata")).get(field)))
    for spec in specs:
        meta = as_dict(spec.get("workflowMetadata"))
        keys |= set(as_dict(meta.get(field)))
        if field == "labels":
            keys |= set(as_dict(meta.get("labelsFrom")))
    return keys


def workflow_globals(view: WorkflowView) -> tuple[set[str], bool]:
    """The `workflow.*` names in scope, and whether any global output name is dynamic."""
    names = set(_ALWAYS)
    names |= {f"workflow.annotations.{k}" for k in _metadata_keys(view, "annotations")}
    names |= {f"workflow.labels.{k}" for k in _metadata_keys(view, "labels")}
    referenced = view.referenced_workflow()
    specs = [view.spec] + ([referenced.spec] if referenced else [])
    if any(spec.get("priority") is not None for spec in specs):
        names.add("workflow.priority")
    if any(isinstance(spec.get("onExit"), str) and spec.get("onExit") for spec in specs):
        names.add("workflow.failures")
    dynamic = False
    templates = list(view.all_templates()) + (list(referenced.all_templates()) if referenced else [])
    for t in templates:
        outputs = as_dict(t.body.get("outputs"))
        for kind in ("parameters", "artifacts"):
            for item in as_list(outputs.get(kind)):
                name = as_dict(item).get("globalName")
                if isinstance(name, str) and name:
                    dynamic = dynamic or "{{" in name
                    names.add(f"workflow.outputs.{kind}.{name}")
    return names, dynamic


def _workflow_problem(tag: str, names: set[str], dynamic: bool) -> str:
    if not tag.startswith("workflow.") or tag in names or tag.startswith(_PREFIXES):
        return ""
    if dynamic and tag.startswith("workflow.outputs."):
        return ""
    return f"failed to resolve {{{{{tag}}}}}: not one of Argo's workflow variables here"


def item_scope(call: dict[str, Any]) -> set[str] | None:
    """The `item…` names a step/task loop defines; None when any is possible (withParam)."""
    if call.get("withParam"):
        return None
    if call.get("withSequence") is not None:
        return {"item"}
    items = as_list(call.get("withItems"))
    scope: set[str] = {"item"} if items else set()  # Argo accepts a bare {{item}} in any loop
    for item in items:
        if isinstance(item, dict):
            scope |= {f"item.{k}" for k in item}
        elif isinstance(item, list):
            scope |= {f"item.[{i}]" for i in range(len(item))}
    return scope


def _item_problem(tag: str, scope: set[str] | None) -> str:
    if tag != "item" and not tag.startswith("item."):
        return ""
    if scope is None or tag in scope:
        return ""
    return f"failed to resolve {{{{{tag}}}}}: " + ("no withItems/withParam/withSequence here" if not scope else f"the loop defines {', '.join(sorted(scope))}")


def _call_problems(view: WorkflowView, call: Call, scope: set[str] | None, names: set[str], dynamic: bool) -> list[Finding]:
    out = []
    for path, text in strings(call.body, call.path, frozenset({"inline", "hooks"})):
        for tag in _plain_tags(text):
            problem = _item_problem(tag, scope) or _workflow_problem(tag, names, dynamic)
            if problem:
                out.append(_at(view, problem, path))
    return out


def reachable_from_entrypoint(view: WorkflowView) -> set[str]:
    """Names of the local templates the entrypoint runs, directly or not. ValidateWorkflow walks
    them before it adds `workflow.failures` (for the exit handler) and never walks them again."""
    by_name = {t.name: t for t in view.templates()}
    todo = [view.spec.get("entrypoint")] if isinstance(view.spec.get("entrypoint"), str) else []
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        for call in view.calls_of(by_name[name]):
            if isinstance(call.body.get("template"), str):
                todo.append(call.body["template"])
    return seen


def check_variable_refs(view: WorkflowView, mode: LintMode) -> list[Finding]:
    all_names, dynamic = workflow_globals(view)
    early = reachable_from_entrypoint(view)
    out: list[Finding] = []
    for t in view.templates():
        names = all_names - {"workflow.failures"} if t.name in early else all_names
        steps_scope: set[str] | None = set()  # validateSteps adds each step's items to one scope
        for _, step in view.steps_of(t):
            own = item_scope(step.body)
            steps_scope = None if own is None or steps_scope is None else steps_scope | own
            out += _call_problems(view, step, steps_scope, names, dynamic)
        for task in view.tasks_of(t):  # validateDAG: a task scope of its own
            out += _call_problems(view, task, item_scope(task.body), names, dynamic)
        body = {k: v for k, v in t.body.items() if k not in ("steps", "dag")}
        for path, text in strings(body, t.path):
            for tag in _plain_tags(text):
                problem = _workflow_problem(tag, names, dynamic)
                if not problem and is_leaf(t.body):
                    problem = _item_problem(tag, set())
                if problem:
                    out.append(_at(view, problem, path))
    return out


SCOPE_CHECKS: tuple[CheckFn, ...] = (check_variable_refs,)
