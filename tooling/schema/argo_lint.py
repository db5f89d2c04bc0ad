"""Argo semantic lint: what the schema cannot see (like `argo lint --offline`).

One small function per rule; each takes a `WorkflowView` and returns findings.
References to objects outside the document set (a WorkflowTemplate that only
the cluster has) are errors when validating a rendered env, and an info note
`argo.needs-cluster-object` when linting standalone files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.findings import Finding, Rule, Severity
from tooling.argo import Call, WorkflowView, dependencies, find_cycle

ENTRYPOINT = Rule("argo.entrypoint", Severity.ERROR, "the entrypoint names a template (required without workflowTemplateRef)")
TEMPLATE_NAME_UNIQUE = Rule("argo.template-name-unique", Severity.ERROR, "template names are unique")
TEMPLATE_TYPE = Rule("argo.template-type", Severity.ERROR, "every template has exactly one type (container, dag, ...)")
TEMPLATE_REF = Rule("argo.template-ref", Severity.ERROR, "every template/templateRef of steps, tasks, hooks and onExit resolves")
WORKFLOW_TEMPLATE_REF = Rule("argo.workflow-template-ref", Severity.ERROR, "workflowTemplateRef names a WorkflowTemplate of the set")
DAG_TASK_NAME_UNIQUE = Rule("argo.dag-task-name-unique", Severity.ERROR, "DAG task names are unique within their DAG")
DAG_DEPENDENCY = Rule("argo.dag-dependency", Severity.ERROR, "dependencies/depends name tasks of the same DAG")
DAG_CYCLE = Rule("argo.dag-cycle", Severity.ERROR, "DAG dependencies are acyclic")
NEEDS_CLUSTER_OBJECT = Rule(
    "argo.needs-cluster-object", Severity.INFO,
    "a reference only the cluster can resolve (check_documents(standalone=True), e.g. before a submit)"
)

@dataclass(frozen=True)
class LintMode:
    """standalone: loose files, not a rendered env. `refs_must_resolve`: a reference to an object
    outside the set is an error, as `argo lint` says (it resolves against the files it is given
    or the cluster); otherwise, standalone, it is a `needs-cluster-object` note."""

    standalone: bool = False
    refs_must_resolve: bool = False

    def unresolved(self, what: str) -> tuple[bool, str]:
        """(a note?, message) for a reference to WHAT that the set does not hold."""
        if self.standalone and not self.refs_must_resolve:
            return True, f"{what} is not among the linted files: needs a cluster object"
        if self.standalone:
            return False, f"{what} is not among the linted files (lint it together with the file defining it)"
        return False, f"{what} is not in the rendered set"


def _at(view: WorkflowView, rule: Rule, message: str, path: str) -> Finding:
    return rule.finding(message, path=path, **view.doc.where())


def _external(view: WorkflowView, mode: LintMode, rule: Rule, what: str, path: str) -> Finding:
    note, message = mode.unresolved(what)
    return _at(view, NEEDS_CLUSTER_OBJECT if note else rule, message, path)


def check_entrypoint(view: WorkflowView, mode: LintMode) -> list[Finding]:
    path = f"{view.spec_path}.entrypoint"
    entrypoint = view.spec.get("entrypoint")
    if view.workflow_template_ref() is not None:
        resolvable = isinstance(entrypoint, str) and view.referenced_workflow() is not None
        if resolvable and entrypoint not in view.local_templates():
            return [_at(view, ENTRYPOINT, f"entrypoint {entrypoint!r} names no template", path)]
        return []
    if entrypoint is None or entrypoint == "":
        if view.doc.kind in ("Workflow", "CronWorkflow"):
            return [_at(view, ENTRYPOINT, "no entrypoint and no workflowTemplateRef: nothing to run", path)]
        return []
    if isinstance(entrypoint, str) and entrypoint not in view.local_templates():
        known = ", ".join(sorted(view.local_templates())) or "none"
        return [_at(view, ENTRYPOINT, f"entrypoint {entrypoint!r} names no template (templates: {known})", path)]
    return []


def check_template_names(view: WorkflowView, mode: LintMode) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for t in view.templates():
        if t.name in seen:
            out.append(_at(view, TEMPLATE_NAME_UNIQUE, f"template name {t.name!r} is used twice", f"{t.path}.name"))
        seen.add(t.name)
    return out


def check_template_type(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        types = t.types()
        label = f"template {t.name!r}" if t.name else "inline template"
        if not types:
            out.append(_at(view, TEMPLATE_TYPE, f"{label} has no type (container, script, dag, steps, ...)", t.path))
        elif len(types) > 1:
            out.append(_at(view, TEMPLATE_TYPE, f"{label} has {len(types)} types: {', '.join(types)}", t.path))
    return out


def _call_field(call: Call) -> str:
    for key in ("inline", "templateRef", "template"):
        if key in call.body:
            return f"{call.path}.{key}" if not call.path.endswith(".onExit") else call.path
    return call.path


def check_template_refs(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for call in view.calls():
        found = view.resolve(call)
        if found.template is not None or not found.missing:
            continue
        if found.external:
            out.append(_external(view, mode, TEMPLATE_REF, found.missing, _call_field(call)))
        else:
            out.append(_at(view, TEMPLATE_REF, f"{found.missing} does not exist", _call_field(call)))
    return out


def check_workflow_template_ref(view: WorkflowView, mode: LintMode) -> list[Finding]:
    ref = view.workflow_template_ref()
    if ref is None or view.referenced_workflow() is not None:
        return []
    scope = "ClusterWorkflowTemplate" if ref.get("clusterScope") is True else "WorkflowTemplate"
    return [_external(view, mode, WORKFLOW_TEMPLATE_REF, f"{scope} {ref.get('name')!r}", f"{view.spec_path}.workflowTemplateRef.name")]


def check_dag_task_names(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        seen: set[str] = set()
        for task in view.tasks_of(t):
            name = task.body.get("name")
            if name in seen:
                out.append(_at(view, DAG_TASK_NAME_UNIQUE, f"task name {name!r} is used twice in DAG {t.name!r}", f"{task.path}.name"))
            seen.add(name)
    return out


def check_dag_dependencies(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        tasks = view.tasks_of(t)
        known = {c.body.get("name") for c in tasks}
        for task in tasks:
            for dep, where in dependencies(task.body):
                if dep not in known:
                    out.append(_at(view, DAG_DEPENDENCY, f"task {task.body.get('name')!r} depends on {dep!r}, which is not a task of DAG {t.name!r}", f"{task.path}.{where}"))
    return out


def check_dag_cycles(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        tasks = view.tasks_of(t)
        graph = {str(c.body.get("name")): [d for d, _ in dependencies(c.body)] for c in tasks}
        cycle = find_cycle(graph)
        if cycle:
            out.append(_at(view, DAG_CYCLE, f"DAG {t.name!r} has a dependency cycle: {' -> '.join(cycle)}", f"{t.path}.dag.tasks"))
    return out


CheckFn = Callable[[WorkflowView, LintMode], list[Finding]]

# in the order they run
STRUCTURAL_CHECKS: tuple[CheckFn, ...] = (
    check_entrypoint,
    check_template_names,
    check_template_type,
    check_workflow_template_ref,
    check_template_refs,
    check_dag_task_names,
    check_dag_dependencies,
    check_dag_cycles,
)
