"""Argo's validator, ported: what a call must supply, and how references are written
(workflow/validate/validate.go, v4.0.9).

A call (a step, a DAG task, the Workflow's entrypoint, the exit handler) runs a template through
`validateTemplateHolder`, whose `ProcessArgs` fails when an input parameter of the called
template has no value: neither a default (`value`, `valueFrom.default`) nor an argument of the
call. The called template may come from a `templateRef` to any WorkflowTemplate of the set (the
rendered env, or the files given to `lint`).
"""

from __future__ import annotations

from typing import Any

from conformance.findings import Finding
from tooling.argo import Call, WorkflowView, as_dict, as_list, names
from tooling.schema.argo_fields import ARTIFACT_LOCATIONS
from tooling.schema.argo_lint import CheckFn, LintMode
from tooling.schema.argo_templates import (
    INPUT_SUPPLIED,
    NAME_LENGTH,
    TEMPLATE_REF_FIELDS,
    WORKFLOW_TEMPLATE_REF_TEMPLATES,
)


def _at(view: WorkflowView, rule: Any, message: str, path: str) -> Finding:
    return rule.finding(message, path=path, **view.doc.where())


def _has_default(param: dict[str, Any]) -> bool:
    value_from = as_dict(param.get("valueFrom"))
    return any(x is not None for x in (param.get("value"), param.get("default"), value_from.get("default"))) or bool(value_from)


def missing_inputs(template: dict[str, Any], arguments: dict[str, Any]) -> list[str]:
    """`inputs.parameters.x` / `inputs.artifacts.x` a call leaves unsupplied (ProcessArgs)."""
    given = names(arguments.get("parameters"))
    missing = []
    inputs = as_dict(template.get("inputs"))
    for param in as_list(inputs.get("parameters")):
        param = as_dict(param)
        if param.get("name") not in given and not _has_default(param):
            missing.append(f"inputs.parameters.{param.get('name')}")
    given_artifacts = names(arguments.get("artifacts"))
    for art in as_list(inputs.get("artifacts")):
        art = as_dict(art)
        located = any(art.get(k) is not None for k in ARTIFACT_LOCATIONS) or art.get("from")
        if art.get("name") not in given_artifacts and not located and not art.get("optional"):
            missing.append(f"inputs.artifacts.{art.get('name')}")
    return missing


def _entry_calls(view: WorkflowView) -> list[tuple[Call, dict[str, Any]]]:
    """The entrypoint (Workflow, CronWorkflow) and the exit handler, called with spec.arguments."""
    arguments = as_dict(view.spec.get("arguments"))
    referenced = view.referenced_workflow()
    if referenced is not None:
        ref_args = as_dict(referenced.spec.get("arguments"))
        arguments = {
            "parameters": as_list(arguments.get("parameters")) + as_list(ref_args.get("parameters")),
            "artifacts": as_list(arguments.get("artifacts")) + as_list(ref_args.get("artifacts")),
        }
    calls = []
    entrypoint = view.spec.get("entrypoint") or (referenced.spec.get("entrypoint") if referenced else None)
    if view.doc.kind in ("Workflow", "CronWorkflow") and isinstance(entrypoint, str):
        calls.append((Call({"template": entrypoint}, f"{view.spec_path}.entrypoint", None), arguments))
    if isinstance(view.spec.get("onExit"), str):
        calls.append((Call({"template": view.spec["onExit"]}, f"{view.spec_path}.onExit", None), arguments))
    return calls


def check_inputs_supplied(view: WorkflowView, mode: LintMode) -> list[Finding]:
    calls = [
        (call, as_dict(call.body.get("arguments")))
        for t in view.all_templates()
        for call in [c for _, c in view.steps_of(t)] + view.tasks_of(t)
    ] + _entry_calls(view)
    out = []
    for call, arguments in calls:
        template = view.resolve(call).template
        if template is None:
            continue  # unresolvable: argo.template-ref / argo.needs-cluster-object says so
        for missing in missing_inputs(template, arguments):
            called = call.body.get("template") or as_dict(call.body.get("templateRef")).get("template") or "inline"
            message = f"{missing} was not supplied (template {called!r} has no default for it)"
            out.append(_at(view, INPUT_SUPPLIED, message, call.path))
    return out


def check_template_ref_fields(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for call in view.calls():
        ref = call.body.get("templateRef")
        if not isinstance(ref, dict):
            continue
        path = f"{call.path}.templateRef"
        if call.body.get("template"):
            out.append(_at(view, TEMPLATE_REF_FIELDS, "template name cannot be specified with templateRef", path))
        for key, what in (("name", "resource name"), ("template", "template name")):
            if not ref.get(key):
                out.append(_at(view, TEMPLATE_REF_FIELDS, f"templateRef.{key}: {what} is required", f"{path}.{key}"))
    return out


def check_workflow_template_ref_fields(view: WorkflowView, mode: LintMode) -> list[Finding]:
    if view.workflow_template_ref() is None or not as_list(view.spec.get("templates")):
        return []
    message = "templates is an invalid field in spec when the workflow refers to a WorkflowTemplate"
    return [_at(view, WORKFLOW_TEMPLATE_REF_TEMPLATES, message, f"{view.spec_path}.templates")]


def check_name_length(view: WorkflowView, mode: LintMode) -> list[Finding]:
    meta = as_dict(view.doc.obj.get("metadata"))
    name = meta.get("name")
    limit = 52 if view.doc.kind == "CronWorkflow" else 63
    if not isinstance(name, str) or len(name) <= limit:
        return []
    kind = view.doc.kind
    message = f"{kind} name {name!r} must not be more than {limit} characters long (currently {len(name)})"
    return [_at(view, NAME_LENGTH, message, "metadata.name")]


CALL_CHECKS: tuple[CheckFn, ...] = (
    check_inputs_supplied,
    check_template_ref_fields,
    check_workflow_template_ref_fields,
    check_name_length,
)
