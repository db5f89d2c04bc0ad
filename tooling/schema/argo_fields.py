"""Argo's validator, ported: names, arguments and outputs (workflow/validate/validate.go, v4.0.9).

Each rule names the Go function it mirrors. Argo stops at the first error; these report every one.
As in `argo lint`, `spec.arguments` parameters may lack a value (they are supplied on submission),
while the arguments a step or task passes may not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from conformance.findings import Finding, Rule, Severity
from tooling.argo import (
    LEAF_TYPES,
    TEMPLATE_TYPES,
    TemplateAt,
    WorkflowView,
    as_dict,
    as_list,
)
from tooling.schema.argo_lint import CheckFn, LintMode

TEMPLATE_NAME = Rule(
    "argo.template-name", Severity.ERROR,
    "every template has a name (validateWorkflowFieldNames; the CRD checks its format)",
)
PARAMETER_NAME = Rule(
    "argo.parameter-name", Severity.ERROR,
    "parameter names are present and unique per list (validateWorkflowFieldNames; the CRD checks their format)",
)
ARTIFACT_NAME = Rule(
    "argo.artifact-name", Severity.ERROR,
    "artifact names are present, valid and unique per list (validateWorkflowFieldNames, isValidParamOrArtifactName)",
)
ARGUMENT_VALUE = Rule(
    "argo.argument-value", Severity.ERROR,
    "step/task argument parameters have a value; valueFrom only configMapKeyRef/event/supplied (validateArgumentsValues)",
)
ENUM_VALUE = Rule(
    "argo.enum-value", Severity.ERROR, "an enum is not empty and the parameter's value is in it (validateArgumentsValues)"
)
ARGUMENT_ARTIFACT = Rule(
    "argo.argument-artifact", Severity.ERROR,
    "argument artifacts have from, a location or a key, and not both from and fromExpression (validateArgumentsValues)",
)
OUTPUT_PARAMETER = Rule(
    "argo.output-parameter", Severity.ERROR,
    "output parameters have a value or exactly one valueFrom source fitting the template type "
    "(validateOutputParameter, validateOutputs)",
)
GLOBAL_NAME = Rule("argo.global-name", Severity.ERROR, "outputs' globalName is a valid name (validateOutputs)")
ARTIFACT_PATH = Rule(
    "argo.artifact-path", Severity.ERROR,
    "artifact paths only in container/script templates; no `from` in inputs (validateInputs, validateOutputs)",
)

PARAM_OR_ARTIFACT_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
FIELD_NAME_MAX = 128
PARAMETER_TAG = re.compile(r"{{[-a-zA-Z0-9]+(\.[-a-zA-Z0-9_]+)*}}")  # isParameter
ARTIFACT_LOCATIONS = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")


def _at(view: WorkflowView, rule: Rule, message: str, path: str) -> Finding:
    return rule.finding(message, path=path, **view.doc.where())


def is_leaf(template: dict[str, Any]) -> bool:
    return any(template.get(t) is not None for t in LEAF_TYPES)


def template_type(template: dict[str, Any]) -> str:
    for t in TEMPLATE_TYPES:  # the first in GetType()'s order
        if template.get(t) is not None:
            return t
    return ""


def field_name_problem(name: str) -> str:
    """isValidWorkflowFieldName: '' when valid."""
    if len(name) > FIELD_NAME_MAX:
        return f"must be no more than {FIELD_NAME_MAX} characters"
    if not FIELD_NAME.match(name):
        return "name must consist of alpha-numeric characters or '-', and must start with an alpha-numeric character"
    return ""


def name_problems(items: Any, path: str, param_or_artifact: str = "") -> Iterator[tuple[str, str]]:
    """validateWorkflowFieldNames: (path, problem) for missing, invalid and repeated names.
    `param_or_artifact`: "parameters" or "artifacts" (isValidParamOrArtifactName), else a field."""
    seen: set[str] = set()
    for i, item in enumerate(as_list(items)):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        where = f"{path}[{i}].name"
        if name in (None, ""):
            yield where, "name is required"
            continue
        name = str(name)
        if param_or_artifact == "artifacts" and not PARAM_OR_ARTIFACT_NAME.match(name):
            yield where, f"{name!r} is invalid: must consist of alpha-numeric characters, '_' or '-'"
        elif not param_or_artifact and field_name_problem(name):
            yield where, f"{name!r} is invalid: {field_name_problem(name)}"
        elif name in seen:
            yield where, f"{name!r} is not unique"
        seen.add(name)


def argument_lists(view: WorkflowView) -> Iterator[tuple[dict[str, Any], str, bool]]:
    """(arguments, path, values required?) of spec.arguments and of every step/task call.
    `argo lint` lets spec.arguments lack values, except in a CronWorkflow (ValidateCronWorkflow
    validates its Workflow without the lint option)."""
    cron = view.doc.kind == "CronWorkflow"
    yield as_dict(view.spec.get("arguments")), f"{view.spec_path}.arguments", cron
    for t in view.all_templates():
        steps = [c for _, c in view.steps_of(t)] + view.tasks_of(t)
        for call in steps:
            yield as_dict(call.body.get("arguments")), f"{call.path}.arguments", True


def io_lists(view: WorkflowView) -> Iterator[tuple[str, Any, str]]:
    """(parameters|artifacts, list, path) of every inputs/outputs/arguments list of the object."""
    for args, path, _ in argument_lists(view):
        for kind in ("parameters", "artifacts"):
            yield kind, args.get(kind), f"{path}.{kind}"
    for t in view.all_templates():
        for io in ("inputs", "outputs"):
            block = as_dict(t.body.get(io))
            for kind in ("parameters", "artifacts"):
                yield kind, block.get(kind), f"{t.path}.{io}.{kind}"


def check_template_names(view: WorkflowView, mode: LintMode) -> list[Finding]:
    """validateWorkflowFieldNames(spec.templates); repeats are argo.template-name-unique's."""
    out = []
    for path, problem in name_problems(view.spec.get("templates"), f"{view.spec_path}.templates"):
        if problem == "name is required":
            out.append(_at(view, TEMPLATE_NAME, f"template {problem}", path))
    return out


def check_io_names(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for kind, items, path in io_lists(view):
        rule = PARAMETER_NAME if kind == "parameters" else ARTIFACT_NAME
        for where, problem in name_problems(items, path, kind):
            out.append(_at(view, rule, f"{kind[:-1]} {problem}", where))
    return out


def _value_text(value: Any) -> str:
    """A parameter value as Argo's AnyString holds it (`3` and `"3"` are the same)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_problems(param: dict[str, Any], required: bool) -> Iterator[tuple[Rule, str, str]]:
    """(rule, field, problem) of one argument parameter (validateArgumentsValues)."""
    value_from = param.get("valueFrom")
    if value_from is None and param.get("value") is None and required:
        yield ARGUMENT_VALUE, "", "value or valueFrom is required"
    if isinstance(value_from, dict):
        allowed = value_from.get("configMapKeyRef") or value_from.get("event") or value_from.get("supplied") is not None
        forbidden = [k for k in ("path", "jsonPath", "parameter", "expression") if value_from.get(k)]
        if not allowed or forbidden:
            yield ARGUMENT_VALUE, ".valueFrom", "valueFrom only allows: default, configMapKeyRef and supplied"
    enum = param.get("enum")
    if enum is None:
        return
    if not as_list(enum):
        yield ENUM_VALUE, ".enum", "enum should contain at least one value"
    elif param.get("value") is None:
        if required:
            yield ENUM_VALUE, ".value", "value is required (the parameter has an enum)"
    elif _value_text(param["value"]) not in {_value_text(v) for v in as_list(enum)}:
        yield ENUM_VALUE, ".value", f"value {_value_text(param['value'])!r} is not in the enum {as_list(enum)}"


def check_argument_values(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for args, path, required in argument_lists(view):
        for i, param in enumerate(as_list(args.get("parameters"))):
            if not isinstance(param, dict):
                continue
            name = param.get("name", "?")
            for rule, field, problem in _parameter_problems(param, required):
                out.append(_at(view, rule, f"parameter {name!r}: {problem}", f"{path}.parameters[{i}]{field}"))
        for i, art in enumerate(as_list(args.get("artifacts"))):
            if not isinstance(art, dict):
                continue
            where = f"{path}.artifacts[{i}]"
            has_location = any(art.get(k) is not None for k in ARTIFACT_LOCATIONS) or bool(art.get("artifactLocationKey"))
            if not art.get("from") and not has_location:
                out.append(_at(view, ARGUMENT_ARTIFACT, f"artifact {art.get('name')!r}: from, artifact location, or key is required", where))
            if art.get("from") and art.get("fromExpression"):
                out.append(_at(view, ARGUMENT_ARTIFACT, f"artifact {art.get('name')!r} has both `from` and `fromExpression`", where))
    return out


def _enum_miss(value: Any, enum: Any) -> bool:
    """A static value (no `{{...}}`) that is not in a non-empty enum."""
    if value is None or not as_list(enum) or "{{" in _value_text(value):
        return False
    return _value_text(value) not in {_value_text(v) for v in as_list(enum)}


def check_input_enums(view: WorkflowView, mode: LintMode) -> list[Finding]:
    """An input's own value/default, and the value a call passes, must be in the input's enum."""
    out = []
    for t in view.all_templates():
        for i, param in enumerate(as_list(as_dict(t.body.get("inputs")).get("parameters"))):
            param = as_dict(param)
            for key in ("value", "default"):
                if _enum_miss(param.get(key), param.get("enum")):
                    message = f"input {param.get('name')!r}: {key} {_value_text(param[key])!r} is not in the enum {as_list(param['enum'])}"
                    out.append(_at(view, ENUM_VALUE, message, f"{t.path}.inputs.parameters[{i}].{key}"))
        for call in [c for _, c in view.steps_of(t)] + view.tasks_of(t):
            out += _call_enum_misses(view, call)
    return out


def _call_enum_misses(view: WorkflowView, call: Any) -> list[Finding]:
    template = view.resolve(call).template
    if template is None:
        return []
    enums = {as_dict(p).get("name"): as_dict(p).get("enum") for p in as_list(as_dict(template.get("inputs")).get("parameters"))}
    out = []
    for i, arg in enumerate(as_list(as_dict(call.body.get("arguments")).get("parameters"))):
        arg = as_dict(arg)
        if _enum_miss(arg.get("value"), enums.get(arg.get("name"))):
            message = f"parameter {arg.get('name')!r}: value {_value_text(arg['value'])!r} is not in the called template's enum {as_list(enums[arg['name']])}"
            out.append(_at(view, ENUM_VALUE, message, f"{call.path}.arguments.parameters[{i}].value"))
    return out


def _value_from_problem(value_from: dict[str, Any], ttype: str) -> str:
    """validateOutputParameter's count of sources, then validateOutputs' per-type requirement."""
    sources = [k for k in ("path", "jqFilter", "jsonPath", "parameter", "expression") if value_from.get(k)]
    sources += ["supplied"] if value_from.get("supplied") is not None else []
    if not sources:
        return "valueFrom type unspecified. choose one of: path, jqFilter, jsonPath, parameter, raw, expression"
    if len(sources) > 1:
        return f"multiple valueFrom types specified ({', '.join(sources)}): choose one"
    if ttype in ("container", "containerSet", "script") and not value_from.get("path"):
        return f"valueFrom.path must be specified for {ttype} templates"
    if ttype == "resource" and not (value_from.get("jqFilter") or value_from.get("jsonPath")):
        return "valueFrom.jqFilter or jsonPath must be specified for resource templates"
    if ttype in ("dag", "steps") and not (value_from.get("parameter") or value_from.get("expression")):
        return f"valueFrom.parameter or expression must be specified for {ttype} templates"
    return ""


def check_output_parameters(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        for i, param in enumerate(as_list(as_dict(t.body.get("outputs")).get("parameters"))):
            if not isinstance(param, dict):
                continue
            path, name = f"{t.path}.outputs.parameters[{i}]", param.get("name", "?")
            value_from = param.get("valueFrom")
            if value_from is not None and param.get("value") is not None:
                problem = "has both valueFrom and value specified. Choose one."
            elif param.get("value") is not None:
                problem = ""
            elif not isinstance(value_from, dict):
                problem = "does not have valueFrom or value specified"
            else:
                problem = _value_from_problem(value_from, template_type(t.body))
            if problem:
                out.append(_at(view, OUTPUT_PARAMETER, f"output parameter {name!r} {problem}", path))
    return out


def check_global_names(view: WorkflowView, mode: LintMode) -> list[Finding]:
    out = []
    for t in view.all_templates():
        outputs = as_dict(t.body.get("outputs"))
        for kind in ("parameters", "artifacts"):
            for i, item in enumerate(as_list(outputs.get(kind))):
                name = as_dict(item).get("globalName")
                if isinstance(name, str) and name and not PARAMETER_TAG.search(name) and not PARAM_OR_ARTIFACT_NAME.match(name):
                    message = f"globalName {name!r} must consist of alpha-numeric characters, '_' or '-'"
                    out.append(_at(view, GLOBAL_NAME, message, f"{t.path}.outputs.{kind}[{i}].globalName"))
    return out


def _artifact_problems(t: TemplateAt) -> Iterator[tuple[Rule, str, str]]:
    leaf = is_leaf(t.body)
    for io in ("inputs", "outputs"):
        for i, art in enumerate(as_list(as_dict(t.body.get(io)).get("artifacts"))):
            art, where = as_dict(art), f"{t.path}.{io}.artifacts[{i}]"
            if art.get("path") and not leaf:
                yield ARTIFACT_PATH, f"{where}.path", f"{io}.artifacts.{art.get('name')}.path only valid in container/script templates"
            if io == "inputs" and art.get("from"):
                yield ARTIFACT_PATH, f"{where}.from", f"inputs.artifacts.{art.get('name')}.from not valid in inputs"


def check_artifacts(view: WorkflowView, mode: LintMode) -> list[Finding]:
    return [_at(view, rule, message, path) for t in view.all_templates() for rule, path, message in _artifact_problems(t)]


FIELD_CHECKS: tuple[CheckFn, ...] = (
    check_template_names,
    check_io_names,
    check_argument_values,
    check_input_enums,
    check_output_parameters,
    check_global_names,
    check_artifacts,
)
