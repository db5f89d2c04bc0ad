"""Argo variable references (`{{inputs.parameters.x}}` ...) that must resolve.

Checked forms, each a rule:
- `argo.input-ref`: `{{inputs.parameters.x}}` / `{{inputs.artifacts.x}}` inside a
  template name one of that template's inputs;
- `argo.workflow-parameter-ref`: `{{workflow.parameters.x}}` names a parameter of
  `spec.arguments` (or of the referenced WorkflowTemplate);
- `argo.task-output-ref`: `{{tasks.t....}}` in a DAG task names a task of the same
  DAG that the task depends on (directly or not), and `tasks.t.outputs.parameters.x`
  an output the task's template declares;
- `argo.step-output-ref`: the same for `{{steps.s....}}`, where `s` must run in an
  earlier step group.

Every other variable (`item`, `pod.name`, `workflow.name`, `retries`, ...) is
Argo's and accepted. Expression tags (`{{=...}}`) are only searched for the
plain `inputs.parameters.x` / `workflow.parameters.x` forms (and their
`['x']` spelling); anything else in an expression is left to Argo.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from conformance.findings import Finding, Rule, Severity
from tooling.argo import (
    Call,
    TemplateAt,
    WorkflowView,
    as_dict,
    as_list,
    dependencies,
    names,
    strings,
    tags,
)
from tooling.schema.argo_lint import CheckFn, LintMode

INPUT_REF = Rule("argo.input-ref", Severity.ERROR, "{{inputs.parameters.x}} / {{inputs.artifacts.x}} name a declared input")
WORKFLOW_PARAMETER_REF = Rule(
    "argo.workflow-parameter-ref", Severity.ERROR, "{{workflow.parameters.x}} names a workflow argument"
)
TASK_OUTPUT_REF = Rule(
    "argo.task-output-ref", Severity.ERROR, "{{tasks.t...}} names an upstream task of the DAG and a declared output"
)
STEP_OUTPUT_REF = Rule(
    "argo.step-output-ref", Severity.ERROR, "{{steps.s...}} names a step of an earlier group and a declared output"
)

_NAME = r"[-A-Za-z0-9_]+"
_PLAIN = {
    "inputs": re.compile(rf"^inputs\.(parameters|artifacts)\.({_NAME})"),
    "workflow": re.compile(rf"^workflow\.parameters\.({_NAME})"),
    "tasks": re.compile(r"^tasks\.([^.\s]+)(?:\.(.*))?$", re.DOTALL),
    "steps": re.compile(r"^steps\.([^.\s]+)(?:\.(.*))?$", re.DOTALL),
}
# inside `{{= ...}}`: `inputs.parameters.x` or `inputs.parameters['x-y']`
_EXPR = {
    "inputs": re.compile(r"\binputs\.(parameters|artifacts)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]+)['\"]\])"),
    "workflow": re.compile(r"\bworkflow\.parameters(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]+)['\"]\])"),
}
# keys of a step/task that are not evaluated in its scope
_CALL_OWN_KEYS = {"name", "template", "templateRef", "inline", "hooks", "dependencies", "depends", "onExit"}


def _at(view: WorkflowView, rule: Rule, message: str, path: str) -> Finding:
    return rule.finding(message, path=path, **view.doc.where())


# -- inputs ------------------------------------------------------------------
def _input_refs(tag: str) -> list[tuple[str, str]]:
    """(parameters|artifacts, name) a tag reads from `inputs`."""
    if tag.startswith("="):
        return [(m.group(1), m.group(2) or m.group(3)) for m in _EXPR["inputs"].finditer(tag)]
    m = _PLAIN["inputs"].match(tag)
    return [(m.group(1), m.group(2))] if m else []


def check_input_refs(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        inputs = as_dict(t.body.get("inputs"))
        declared = {"parameters": names(inputs.get("parameters")), "artifacts": names(inputs.get("artifacts"))}
        label = f"template {t.name!r}" if t.name else "inline template"
        for path, text in strings(t.body, t.path, frozenset({"inline"})):
            for tag in tags(text):
                for kind, name in _input_refs(tag):
                    if name not in declared[kind]:
                        have = ", ".join(sorted(declared[kind])) or "none"
                        message = f"{{{{inputs.{kind}.{name}}}}}: {label} declares no input {kind[:-1]} {name!r} (has: {have})"
                        out.append(_at(view, INPUT_REF, message, path))
    return out


# -- workflow.parameters ------------------------------------------------------
def _workflow_parameter_refs(tag: str) -> list[str]:
    if tag.startswith("="):
        return [m.group(1) or m.group(2) for m in _EXPR["workflow"].finditer(tag)]
    m = _PLAIN["workflow"].match(tag)
    return [m.group(1)] if m else []


def workflow_parameters(view: WorkflowView) -> set[str] | None:
    """Names `{{workflow.parameters.x}}` may use; None when unknowable (unresolved workflowTemplateRef)."""
    declared = names(as_dict(view.spec.get("arguments")).get("parameters"))
    if view.workflow_template_ref() is not None:
        referenced = view.referenced_workflow()
        if referenced is None:
            return None
        declared |= names(as_dict(referenced.spec.get("arguments")).get("parameters"))
    return declared


def check_workflow_parameter_refs(view: WorkflowView, mode: LintMode) -> list[Finding]:
    """In a rendered env every parameter must be declared. A standalone
    WorkflowTemplate may expect parameters from whoever submits it (Argo's lint
    accepts that): there an undeclared one is an info note."""
    declared = workflow_parameters(view)
    if declared is None:
        return []
    lenient = mode.standalone and view.doc.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")
    out = []
    for path, text in strings(view.spec, view.spec_path):
        for tag in tags(text):
            for name in _workflow_parameter_refs(tag):
                if name in declared or name == "json":  # `workflow.parameters.json`: all of them, as JSON
                    continue
                have = ", ".join(sorted(declared)) or "none"
                message = f"{{{{workflow.parameters.{name}}}}}: {view.spec_path}.arguments declares no parameter {name!r} (has: {have})"
                finding = _at(view, WORKFLOW_PARAMETER_REF, message, path)
                if lenient:
                    finding = replace(finding, severity=Severity.INFO, message=message + "; must be supplied on submission")
                out.append(finding)
    return out


# -- tasks.* and steps.* ------------------------------------------------------
# Templates with a result and an exit code (Argo's Template.HasOutput).
_HAS_RESULT = ("container", "containerSet", "script", "data", "http", "plugin")


def _output_problem(view: WorkflowView, call: Call, rest: str) -> str:
    """Why `<node>.<rest>` names no output of the call's template ('' when fine or unknowable)."""
    if rest in ("outputs.result", "exitCode"):
        template = view.resolve(call).template
        if template is None or any(template.get(t) is not None for t in _HAS_RESULT):
            return ""
        kind = next((t for t in ("steps", "dag", "resource", "suspend") if template.get(t) is not None), "")
        return f"a {kind} template has no {rest} (only container, script, containerSet, data, http, plugin)" if kind else ""
    parts = rest.split(".", 2)
    if len(parts) < 3 or parts[0] != "outputs" or parts[1] not in ("parameters", "artifacts"):
        return ""
    kind, name = parts[1], parts[2]
    template = view.resolve(call).template
    if template is None:
        return ""  # from a cluster object, or reported by argo.template-ref
    declared = names(as_dict(template.get("outputs")).get(kind))
    if name in declared:
        return ""
    have = ", ".join(sorted(declared)) or "none"
    return f"its template declares no output {kind[:-1]} {name!r} (has: {have})"


def _node_refs(text: str, prefix: str) -> Iterator[tuple[str, str]]:
    """(node name, rest) of `{{tasks.x.rest}}` / `{{steps.x.rest}}` tags (not expressions)."""
    for tag in tags(text):
        m = _PLAIN[prefix].match(tag)
        if m and m.group(1) != "name":  # `{{tasks.name}}` is the current task's name
            yield m.group(1), m.group(2) or ""


def _ancestors(tasks: list[Call]) -> dict[str, set[str]]:
    direct = {str(c.body.get("name")): {d for d, _ in dependencies(c.body)} for c in tasks}
    out: dict[str, set[str]] = {}

    def walk(name: str, seen: set[str]) -> set[str]:
        if name in out:
            return out[name]
        found: set[str] = set()
        for dep in direct.get(name, ()):
            if dep in seen:
                continue  # a cycle: argo.dag-cycle reports it
            found |= {dep} | walk(dep, seen | {dep})
        out[name] = found
        return found

    for name in direct:
        walk(name, {name})
    return out


def _node_ref_findings(
    view: WorkflowView, rule: Rule, prefix: str, where: str, node: str, rest: str,
    nodes: dict[str, Call], allowed: set[str], why_not: str, path: str,
) -> list[Finding]:
    ref = f"{{{{{prefix}.{node}{'.' + rest if rest else ''}}}}}"
    if node not in nodes:
        return [_at(view, rule, f"{ref}: {where} has no {prefix[:-1]} {node!r}", path)]
    if node not in allowed:
        return [_at(view, rule, f"{ref}: {prefix[:-1]} {node!r} {why_not}", path)]
    problem = _output_problem(view, nodes[node], rest)
    return [_at(view, rule, f"{ref}: {problem}", path)] if problem else []


def check_task_output_refs(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out: list[Finding] = []
    for t in view.all_templates():
        tasks = view.tasks_of(t)
        if not tasks:
            continue
        by_name = {str(c.body.get("name")): c for c in tasks}
        ancestors = _ancestors(tasks)
        where = f"DAG {t.name!r}"
        scopes: list[tuple[Any, str, set[str], frozenset[str]]] = []
        for task in tasks:
            own = str(task.body.get("name"))
            scopes.append((task.body, task.path, ancestors.get(own, set()), frozenset(_CALL_OWN_KEYS)))
            for hook_name, hook in as_dict(task.body.get("hooks")).items():
                scopes.append((hook, f"{task.path}.hooks.{hook_name}", set(by_name), frozenset({"inline"})))
        scopes.append((t.body.get("outputs"), f"{t.path}.outputs", set(by_name), frozenset()))
        for body, base, allowed, skip in scopes:
            for path, text in strings(body, base, skip):
                for node, rest in _node_refs(text, "tasks"):
                    out += _node_ref_findings(
                        view, TASK_OUTPUT_REF, "tasks", where, node, rest, by_name, allowed,
                        "is not upstream of this task (add it to depends/dependencies)", path,
                    )
    return out


def _step_scopes(view: WorkflowView, t: TemplateAt) -> tuple[dict[str, Call], list[tuple[Any, str, set[str], frozenset[str]]]]:
    steps = list(view.steps_of(t))
    by_name = {str(c.body.get("name")): c for _, c in steps}
    scopes: list[tuple[Any, str, set[str], frozenset[str]]] = []
    for group, step in steps:
        earlier = {str(c.body.get("name")) for g, c in steps if g < group}
        scopes.append((step.body, step.path, earlier, frozenset(_CALL_OWN_KEYS)))
        for hook_name, hook in as_dict(step.body.get("hooks")).items():
            scopes.append((hook, f"{step.path}.hooks.{hook_name}", set(by_name), frozenset({"inline"})))
    scopes.append((t.body.get("outputs"), f"{t.path}.outputs", set(by_name), frozenset()))
    return by_name, scopes


def check_step_output_refs(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out: list[Finding] = []
    for t in view.all_templates():
        if not as_list(t.body.get("steps")):
            continue
        by_name, scopes = _step_scopes(view, t)
        for body, base, allowed, skip in scopes:
            for path, text in strings(body, base, skip):
                for node, rest in _node_refs(text, "steps"):
                    out += _node_ref_findings(
                        view, STEP_OUTPUT_REF, "steps", f"steps template {t.name!r}", node, rest, by_name,
                        allowed, "does not run in an earlier step group", path,
                    )
    return out


VARIABLE_CHECKS: tuple[CheckFn, ...] = (
    check_input_refs,
    check_workflow_parameter_refs,
    check_task_output_refs,
    check_step_output_refs,
)
