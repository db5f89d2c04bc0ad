"""What Argo v4.0.9 accepts and refuses beyond one fixture per rule (inline, table-driven)."""

from __future__ import annotations

import pytest

from conformance.findings import Severity
from tooling.schema import check_documents
from tooling.schema.documents import load_documents

WT = "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\nspec:\n"
WF = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: w-}\nspec:\n"
LEAF = "    - {name: leaf, inputs: {parameters: [{name: level, value: mid, enum: [low, mid]}]}, container: {image: b}}\n"


def _errors(text: str) -> list[tuple[str, str]]:
    docs, found = load_documents(text, "t.yaml")
    found += check_documents(docs, "1.32", standalone=True)[0]
    return [(f.rule, f.path) for f in found if f.severity is Severity.ERROR]


ACCEPTED = {
    "numeric and boolean parameter values (AnyString)": WT
    + "  arguments: {parameters: [{name: n, value: 3, enum: [1, 3]}, {name: b, value: true}]}\n  templates:\n"
    + "    - {name: leaf, container: {image: b}}\n",
    "a gauge without realtime": WT
    + "  templates:\n    - name: leaf\n      container: {image: b}\n"
    + "      metrics: {prometheus: [{name: runs, help: runs, gauge: {value: '1'}}]}\n",
    "{{workflow.status}} outside an exit handler (a global in v4.0.9)": WF
    + "  entrypoint: leaf\n  templates:\n    - {name: leaf, container: {image: b, args: ['{{workflow.status}}']}}\n",
    "spec.arguments without a value in a WorkflowTemplate": WT
    + "  arguments: {parameters: [{name: item}]}\n  templates:\n    - {name: leaf, container: {image: b}}\n",
    "a templateRef with a variable (resolved at run time)": WT
    + "  templates:\n    - name: main\n      steps: [[{name: a, templateRef: {name: '{{workflow.name}}', template: x}}]]\n",
    "an enum value passed through a loop variable": WT
    + "  templates:\n    - name: main\n      steps: [[{name: a, template: leaf, arguments: {parameters: [{name: level, value: '{{item}}'}]}, withItems: [low]}]]\n"
    + LEAF,
}
REFUSED = {
    "a call passing a value outside the called template's enum": (
        WT + "  templates:\n    - name: main\n      steps: [[{name: a, template: leaf, arguments: {parameters: [{name: level, value: high}]}}]]\n" + LEAF,
        [("argo.enum-value", "spec.templates[0].steps[0][0].arguments.parameters[0].value")],
    ),
    "a Workflow whose entrypoint input is not supplied": (
        WF + "  entrypoint: leaf\n  templates:\n    - {name: leaf, inputs: {parameters: [{name: item}]}, container: {image: b}}\n",
        [("argo.input-supplied", "spec.entrypoint")],
    ),
    "a CronWorkflow's arguments without a value": (
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: c}\nspec:\n"
            "  schedules: ['0 3 * * *']\n  workflowSpec:\n    entrypoint: leaf\n"
            "    arguments: {parameters: [{name: item}]}\n    templates:\n      - {name: leaf, container: {image: b}}\n"
        ),
        [("argo.argument-value", "spec.workflowSpec.arguments.parameters[0]")],
    ),
    "{{workflow.failures}} in a template the entrypoint runs, even with an exit handler": (
        WF + "  entrypoint: leaf\n  onExit: leaf\n  templates:\n"
        + "    - {name: leaf, container: {image: b, args: ['{{workflow.failures}}']}}\n",
        [("argo.variable-ref", "spec.templates[0].container.args[0]")],
    ),
    "outputs.result of a steps template (Template.HasOutput)": (
        WT + "  templates:\n    - name: main\n      steps:\n        - [{name: inner, template: sub}]\n"
        + "        - [{name: use, template: echo, arguments: {parameters: [{name: v, value: '{{steps.inner.outputs.result}}'}]}}]\n"
        + "    - {name: sub, steps: [[{name: x, template: echo, arguments: {parameters: [{name: v, value: a}]}}]]}\n"
        + "    - {name: echo, inputs: {parameters: [{name: v}]}, container: {image: b}}\n",
        [("argo.step-output-ref", "spec.templates[0].steps[1][0].arguments.parameters[0].value")],
    ),
    "{{item}} in a leaf template": (
        WT + "  templates:\n    - {name: leaf, container: {image: b, args: ['{{item}}']}}\n",
        [("argo.variable-ref", "spec.templates[0].container.args[0]")],
    ),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_argo_accepts(name: str) -> None:
    assert _errors(ACCEPTED[name]) == []


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_argo_refuses(name: str) -> None:
    text, expected = REFUSED[name]
    assert _errors(text) == expected
