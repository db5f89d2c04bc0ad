"""`invoke lint PATH` (tooling.manifests.lint.main): exit codes and output shapes."""

from __future__ import annotations

import json
from pathlib import Path

from tooling.manifests import lint

FIXTURES = Path(__file__).parent / "fixtures"


def test_missing_path_is_exit_2_with_one_line(capsys) -> None:
    assert lint.main("/nonexistent/workflows") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file or directory" in err


def test_directory_without_yaml_is_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "README.md").write_text("# nothing here\n")
    assert lint.main(str(tmp_path)) == 2
    assert "no .yaml/.yml files" in capsys.readouterr().err


def test_clean_file_exit_0_and_table(capsys) -> None:
    assert lint.main(str(FIXTURES / "argo.task-output-ref" / "valid.yaml")) == 0
    out = capsys.readouterr().out
    assert "1 Argo documents checked (1 WorkflowTemplate)" in out and "0 errors" in out


def test_findings_exit_1_json(capsys) -> None:
    assert lint.main(str(FIXTURES / "argo.dag-cycle" / "invalid.yaml"), as_json=True) == 1
    report = json.loads(capsys.readouterr().out)
    [finding] = report["findings"]
    assert finding["rule"] == "argo.dag-cycle"
    assert set(finding) == {"rule", "severity", "env", "file", "kind", "name", "path", "message", "check"}
    assert finding["kind"] == "WorkflowTemplate" and finding["name"] == "pipeline"
    assert report["summary"]["error"] == 1 and report["kind"] == "lint" and report["exit_code"] == 1
    assert report["checked"] == {"WorkflowTemplate": 1}


def test_non_argo_documents_are_ignored_but_yaml_errors_count(tmp_path: Path, capsys) -> None:
    (tmp_path / "pvc.yaml").write_text((FIXTURES / "schema.kubernetes" / "invalid.yaml").read_text())
    assert lint.main(str(tmp_path), as_json=True) == 0  # not Argo: no schema check in lint
    summary = json.loads(capsys.readouterr().out)
    assert summary["ignored"] == {"PersistentVolumeClaim": 1} and summary["documents"] == 0
    (tmp_path / "broken.yml").write_text((FIXTURES / "yaml.duplicate-key" / "invalid.yaml").read_text())
    assert lint.main(str(tmp_path)) == 1
    assert "yaml.duplicate-key" in capsys.readouterr().out


def test_refs_resolve_across_files_of_a_directory(tmp_path: Path, capsys) -> None:
    """A templateRef to a WorkflowTemplate in another linted file resolves; alone, like `argo lint`
    with no such template, it is an error."""
    workflow, library = (FIXTURES / "argo.template-ref" / "valid.yaml").read_text().split("\n---\n")
    (tmp_path / "pipeline.yaml").write_text(workflow)
    assert lint.main(str(tmp_path / "pipeline.yaml"), as_json=True) == 1
    report = json.loads(capsys.readouterr().out)
    [finding] = report["findings"]
    assert finding["rule"] == "argo.template-ref" and "not among the linted files" in finding["message"]
    (tmp_path / "library.yaml").write_text(library)
    assert lint.main(str(tmp_path), as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_unknown_argo_kind_is_listed_as_skipped(tmp_path: Path, capsys) -> None:
    (tmp_path / "sensor.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Sensor\nmetadata: {name: s}\nspec: {}\n"
    )
    assert lint.main(str(tmp_path), as_json=True) == 0
    [skip] = json.loads(capsys.readouterr().out)["skipped"]
    assert skip["kind"] == "Sensor" and "no schema" in skip["reason"]
