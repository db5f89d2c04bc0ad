"""`invoke lint` against Argo's own examples and its lint-failure cases.

../shared/corpora/argo is test data that CI clones beside the repo: when it is
missing these tests fail (they never skip).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.findings import Severity
from tooling.manifests import lint
from tooling.repo import SHARED

CORPUS = SHARED / "corpora" / "argo"
EXAMPLES = CORPUS / "examples"
LINTFAIL = CORPUS / "lintfail"

# Examples lint rejects, each with the rule and why. Nothing else may fail.
REJECTED: dict[str, tuple[str, str]] = {
    "pod-resources.yaml": ("schema.crd", "`podResources` is newer than Argo v4.0.9 (not in its CRD)"),
    "pod-resources-template-override.yaml": ("schema.crd", "`podResources` is newer than Argo v4.0.9"),
    "resource-claims.yaml": ("schema.crd", "`resourceClaims` is newer than Argo v4.0.9"),
    "resource-claims-template-override.yaml": ("schema.crd", "`resourceClaims` is newer than Argo v4.0.9"),
    "workflow-level-executor-plugin.yaml": ("schema.crd", "`executorPlugins` is newer than Argo v4.0.9"),
    "k8s-patch-json-workflow.yaml": (
        "yaml.duplicate-key",
        "the example really repeats `metadata.annotations` (YAML loaders keep the second one)",
    ),
}
# Examples accepted with an info note (not an error), and why.
NOTED: dict[str, tuple[str, str]] = {
    "workflow-event-binding/event-consumer-workflowtemplate.yaml": (
        "argo.workflow-parameter-ref",
        "`appellation` is supplied on submission by the WorkflowEventBinding, as Argo's lint allows",
    ),
}
LINTFAIL_EXPECTED: dict[str, tuple[str, str]] = {
    "disallow-unknown.yaml": ("schema.crd", "spec.templates[0].container.someExtraField"),
    "invalid-spec.yaml": ("argo.entrypoint", "spec.entrypoint"),
    "malformed-spec.yaml": ("schema.crd", "spec.entrypoint"),
}


def _examples() -> list[Path]:
    assert EXAMPLES.is_dir(), f"{EXAMPLES} is missing: CI must clone shared/ beside the repo"
    return lint.yaml_files(EXAMPLES)


def _name(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


@pytest.fixture(scope="module")
def examples_result():
    files = _examples()
    return files, lint.lint_paths(files)


def test_examples_corpus_is_there(examples_result) -> None:
    files, (_, summary) = examples_result
    assert len(files) > 200
    assert summary["documents"] >= 220
    assert set(summary["checked"]) >= {"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"}


def test_examples_are_accepted_except_the_listed_ones(examples_result) -> None:
    _, (found, _) = examples_result
    errors: dict[str, set[str]] = {}
    for f in found:
        if f.severity is Severity.ERROR:
            errors.setdefault(_name(Path(f.file), EXAMPLES), set()).add(f.rule)
    assert errors == {name: {rule} for name, (rule, _) in REJECTED.items()}


def test_examples_notes_are_the_listed_ones(examples_result) -> None:
    _, (found, _) = examples_result
    notes = {_name(Path(f.file), EXAMPLES): f.rule for f in found if f.severity is Severity.INFO}
    assert notes == {name: rule for name, (rule, _) in NOTED.items()}


def test_lint_exits_0_on_the_accepted_examples(tmp_path: Path, capsys) -> None:
    """The CLI function on a copy of the corpus without the rejected files: exit 0."""
    for path in _examples():
        name = _name(path, EXAMPLES)
        if name not in REJECTED:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(path.read_bytes())
    assert lint.main(str(tmp_path)) == 0
    assert "0 errors" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_each_rejected_example_fails_alone(name: str, capsys) -> None:
    rule, _ = REJECTED[name]
    assert lint.main(str(EXAMPLES / name)) == 1
    assert rule in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(LINTFAIL_EXPECTED))
def test_lintfail_cases_are_rejected(name: str) -> None:
    rule, path = LINTFAIL_EXPECTED[name]
    found, _ = lint.lint_paths([LINTFAIL / name])
    errors = [(f.rule, f.path) for f in found if f.severity is Severity.ERROR]
    assert errors == [(rule, path)]


def test_lintfail_folder_is_fully_covered() -> None:
    assert LINTFAIL.is_dir(), f"{LINTFAIL} is missing: CI must clone shared/ beside the repo"
    assert {p.name for p in lint.yaml_files(LINTFAIL)} == set(LINTFAIL_EXPECTED)
    assert lint.main(str(LINTFAIL)) == 1
