"""Every rule of the schema engine: a valid and an invalid fixture (table-driven).

Each invalid fixture must produce exactly the listed findings of its rule
(field path and a word of the message); each valid one no finding at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.findings import Severity

FIXTURES = Path(__file__).parent / "fixtures"

# rule id, fixture folder, standalone lint?, expected (path, message fragment) of the invalid fixture
RULES: list[tuple[str, str, bool, list[tuple[str, str]]]] = [
    ("yaml.syntax", "yaml.syntax", False, [("", "line 7")]),
    ("yaml.duplicate-key", "yaml.duplicate-key", False, [("metadata.labels", "line 8")]),
    ("yaml.not-a-mapping", "yaml.not-a-mapping", False, [("", "document 1 is a list")]),
    ("yaml.limits", "yaml.limits", False, [("", "nodes with aliases expanded")]),
    ("schema.missing-kind", "schema.missing-kind", False, [("", "no apiVersion or no kind")]),
    ("schema.unknown-kind", "schema.unknown-kind", False, [("", "no schema for ExternalSecret")]),
    ("schema.kubernetes", "schema.kubernetes", False, [("spec.storageClass", "unknown field")]),
    ("schema.crd", "schema.crd-argo", False, [("spec.templates[0].container.argz", "unknown field")]),
    ("schema.crd", "schema.crd-sealedsecret", False, [("spec.template.tpye", "unknown field")]),
    ("schema.crd", "schema.crd-prometheusrule", False, [("spec.groups[0].rules[0].for", "does not match")]),
    ("schema.cel", "schema.cel", False, [("spec.templates[0].dag.tasks[1]", "cannot use both 'depends' and 'dependencies'")]),
    ("schema.removed-api", "schema.removed-api", False, [("apiVersion", "use apiVersion batch/v1")]),
    ("argo.entrypoint", "argo.entrypoint", False, [("spec.entrypoint", "'mian' names no template")]),
    ("argo.template-name-unique", "argo.template-name-unique", False, [("spec.templates[1].name", "used twice")]),
    ("argo.template-type", "argo.template-type", False, [("spec.templates[0]", "has no type")]),
    ("argo.template-ref", "argo.template-ref", False, [("spec.templates[0].dag.tasks[1].template", "'reprot'")]),
    (
        "argo.workflow-template-ref",
        "argo.workflow-template-ref",
        False,
        [("spec.workflowSpec.workflowTemplateRef.name", "'geozarr-convert' is not in the rendered set")],
    ),
    (
        "argo.needs-cluster-object",
        "argo.needs-cluster-object",
        True,
        [("spec.templates[0].steps[0][0].templateRef", "needs a cluster object")],
    ),
    ("argo.dag-task-name-unique", "argo.dag-task-name-unique", False, [("spec.templates[0].dag.tasks[1].name", "'a'")]),
    ("argo.dag-dependency", "argo.dag-dependency", False, [("spec.templates[0].dag.tasks[1].depends", "'preflght'")]),
    ("argo.dag-cycle", "argo.dag-cycle", False, [("spec.templates[0].dag.tasks", "convert -> validate -> convert")]),
    (
        "argo.input-ref",
        "argo.input-ref",
        False,
        [("spec.templates[0].container.args[1]", "no input parameter 'spatial_chunk'")],
    ),
    (
        "argo.workflow-parameter-ref",
        "argo.workflow-parameter-ref",
        False,
        [("spec.templates[0].container.args[1]", "no parameter 'collection'")],
    ),
    (
        "argo.task-output-ref",
        "argo.task-output-ref",
        False,
        [
            ("spec.templates[0].dag.tasks[1].arguments.parameters[0].value", "no output parameter 'store'"),
            ("spec.templates[0].dag.tasks[2].arguments.parameters[0].value", "not upstream"),
        ],
    ),
    ("argo.template-name", "argo.template-name", False, [("spec.templates[0].name", "name is required")]),
    ("argo.parameter-name", "argo.parameter-name", False, [("spec.templates[0].inputs.parameters[1].name", "'item_id' is not unique")]),
    ("argo.artifact-name", "argo.artifact-name", False, [("spec.templates[0].outputs.artifacts[0].name", "'report.json' is invalid")]),
    ("argo.argument-value", "argo.argument-value", False, [("spec.templates[0].steps[0][0].arguments.parameters[0]", "value or valueFrom is required")]),
    ("argo.enum-value", "argo.enum-value", False, [("spec.arguments.parameters[0].value", "'3' is not in the enum")]),
    ("argo.argument-artifact", "argo.argument-artifact", False, [("spec.arguments.artifacts[0]", "from, artifact location, or key is required")]),
    ("argo.output-parameter", "argo.output-parameter", False, [("spec.templates[0].outputs.parameters[0]", "multiple valueFrom types")]),
    ("argo.global-name", "argo.global-name", False, [("spec.templates[0].outputs.parameters[0].globalName", "'store.url'")]),
    ("argo.artifact-path", "argo.artifact-path", False, [("spec.templates[0].inputs.artifacts[0].path", "only valid in container/script templates")]),
    ("argo.step-name", "argo.step-name", False, [("spec.templates[0].steps[1][0].name", "'a' is not unique")]),
    ("argo.dag-task-name", "argo.dag-task-name", False, [("spec.templates[0].dag.tasks[0].name", "cannot begin with a digit")]),
    ("argo.dag-depends-mix", "argo.dag-depends-mix", False, [("spec.templates[0].dag.tasks[2].dependencies", "cannot use 'dependencies'")]),
    ("argo.dag-target", "argo.dag-target", False, [("spec.templates[0].dag.target", "'b' is not a task")]),
    ("argo.dag-items-dependency", "argo.dag-items-dependency", False, [("spec.templates[0].dag.tasks[1].depends", "does not loop")]),
    ("argo.loop-source", "argo.loop-source", False, [("spec.templates[0].steps[0][0]", "only one of withItems, withParam, withSequence")]),
    ("argo.hook-expression", "argo.hook-expression", False, [("spec.hooks.running", "Expression required")]),
    ("argo.mount-path", "argo.mount-path", False, [("spec.templates[0].inputs.artifacts[0].path", "'/data' already mounted in container.volumeMounts.work")]),
    ("argo.image", "argo.image", False, [("spec.templates[0].script.image", "may not be empty")]),
    ("argo.container-set-main", "argo.container-set-main", False, [("spec.templates[0].containerSet.containers", 'named "main"')]),
    ("argo.resource-template", "argo.resource-template", False, [("spec.templates[0].resource.manifest", "valid yaml")]),
    ("argo.active-deadline", "argo.active-deadline", False, [("spec.templates[0].activeDeadlineSeconds", "positive integer")]),
    ("argo.parallelism-leaf", "argo.parallelism-leaf", False, [("spec.templates[0].parallelism", "only valid for steps and dag")]),
    ("argo.timeout", "argo.timeout", False, [("spec.templates[0].timeout", "invalid duration format")]),
    ("argo.metric", "argo.metric", False, [("spec.templates[0].metrics.prometheus[0]", "'env' has an empty value")]),
    ("argo.input-supplied", "argo.input-supplied", False, [("spec.templates[0].steps[0][0]", "inputs.parameters.item was not supplied")]),
    ("argo.template-ref-fields", "argo.template-ref-fields", False, [("spec.templates[0].steps[0][0].templateRef.template", "template name is required")]),
    (
        "argo.workflow-template-ref-templates",
        "argo.workflow-template-ref-templates",
        False,
        [("spec.templates", "templates is an invalid field")],
    ),
    ("argo.cron", "argo.cron", False, [("spec.schedules[0]", "hour: '24' is not within 0-23")]),
    (
        "argo.variable-ref",
        "argo.variable-ref",
        False,
        [
            ("spec.templates[0].steps[0][0].arguments.parameters[0].value", "{{item.name}}: the loop defines item, item.id"),
            ("spec.templates[1].container.args[1]", "{{workflow.failures}}"),
        ],
    ),
    ("argo.name-length", "argo.name-length", False, [("metadata.name", "must not be more than 52 characters")]),
    (
        "argo.step-output-ref",
        "argo.step-output-ref",
        False,
        [("spec.templates[0].steps[0][1].arguments.parameters[0].value", "earlier step group")],
    ),
]


@pytest.mark.parametrize(("rule", "folder", "standalone", "expected"), RULES, ids=[r[1] for r in RULES])
def test_invalid_fixture_fails_with_the_rule(
    check_file, rule: str, folder: str, standalone: bool, expected: list
) -> None:
    found = check_file(FIXTURES / folder / "invalid.yaml", standalone=standalone)
    mine = [f for f in found if f.rule == rule]
    assert [f.path for f in mine] == [path for path, _ in expected], found
    for finding, (_, fragment) in zip(mine, expected, strict=True):
        assert fragment in finding.message
        assert finding.file == "invalid.yaml"
    others = [f for f in found if f.rule != rule and f.severity is Severity.ERROR]
    assert not others, f"the fixture should only break {rule}: {others}"


@pytest.mark.parametrize(("rule", "folder", "standalone", "expected"), RULES, ids=[r[1] for r in RULES])
def test_valid_fixture_is_clean(check_file, rule: str, folder: str, standalone: bool, expected: list) -> None:
    assert check_file(FIXTURES / folder / "valid.yaml", standalone=standalone) == []


def test_every_fixture_folder_is_in_the_table() -> None:
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir() and (p / "invalid.yaml").exists()}
    assert folders == {r[1] for r in RULES}


def test_findings_name_kind_and_name(check_file) -> None:
    [finding] = [f for f in check_file(FIXTURES / "schema.crd-argo" / "invalid.yaml") if f.rule == "schema.crd"]
    assert (finding.kind, finding.name) == ("WorkflowTemplate", "hello")


def test_rule_severities(check_file) -> None:
    """A cluster-only reference is an error in a rendered env, a note when linting loose files."""
    [note] = check_file(FIXTURES / "argo.needs-cluster-object" / "invalid.yaml", standalone=True)
    assert note.severity is Severity.INFO
    [error] = check_file(FIXTURES / "argo.needs-cluster-object" / "invalid.yaml", standalone=False)
    assert (error.rule, error.severity) == ("argo.template-ref", Severity.ERROR)


# Rules whose fixture needs more than one file, and the test that holds it.
TESTED_ELSEWHERE = {
    "schema.deprecated-api": "test_schema_crds.py::test_deprecated_crd_version_is_a_warning "
    "(needs a CRD that deprecates a version; no vendored CRD does)",
}


def test_every_rule_of_the_engine_has_fixtures() -> None:
    from tooling.schema.check import rules

    assert {r.id for r in rules()} == {r[0] for r in RULES} | set(TESTED_ELSEWHERE)
