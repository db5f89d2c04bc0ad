"""Each command that checks or compares prints the one report shape with --json: validate, lint,
check (geozarr-conformance), conformance (the DAG's report) and diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.__main__ import main as check_main
from conformance.report import render_json
from conformance.workflow_report import merge, parse_tasks
from tooling import repo
from tooling.dag import localrun
from tooling.errors import ToolingError
from tooling.gitops import diff
from tooling.manifests import lint, validate

SCHEMA = json.loads((repo.SCHEMAS / "conformance-report.schema.json").read_text())
COMMON = {"schema_version", "kind", "target", "passed", "exit_code", "started_at", "tool", "summary",
          "findings", "rules", "timings", "io"}
ITEM = {"type": "Feature", "stac_version": "1.1.0", "id": "x", "geometry": {"type": "Point", "coordinates": [1, 2]},
        "bbox": [1, 2, 1, 2], "properties": {"datetime": "2026-01-01T00:00:00Z"}, "links": [], "assets": {}}


def printed(capsys: pytest.CaptureFixture[str], code: int, kind: str) -> dict[str, Any]:
    """The JSON the command printed: the one shape, of KIND, its exit code the command's."""
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, SCHEMA)
    assert COMMON <= set(data) and data["kind"] == kind
    assert data["exit_code"] == code and data["passed"] is (code == 0)
    return data


def test_validate(capsys: pytest.CaptureFixture[str]) -> None:
    data = printed(capsys, validate.main(["staging"], as_json=True), "validate")
    assert set(data["envs"]) == {"staging"} and data["tool"]["name"] == "invoke validate"
    assert {r["id"] for r in data["rules"]} >= {"policy.rbac-wildcard", "env.schema"}


def test_lint(capsys: pytest.CaptureFixture[str]) -> None:
    fixture = repo.ROOT / "tests/schema/fixtures/argo.dag-cycle/invalid.yaml"
    data = printed(capsys, lint.main(str(fixture), as_json=True), "lint")
    assert [f["rule"] for f in data["findings"]] == ["argo.dag-cycle"] and data["checked"] == {"WorkflowTemplate": 1}


def test_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "item.json").write_text(json.dumps(ITEM))
    data = printed(capsys, check_main(["stac", str(tmp_path / "item.json"), "--json"]), "stac")
    assert data["rules"] and data["tool"]["name"] == "geozarr-conformance"
    printed(capsys, check_main(["geozarr", str(tmp_path / "none.zarr"), "--json"]), "geozarr")  # cannot run


def test_check_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "item.json").write_text(json.dumps(ITEM))
    assert check_main(["stac", str(tmp_path / "item.json"), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith(f"### PASS: stac `{tmp_path / 'item.json'}`")


def test_conformance_report_built_from_the_step(capsys: pytest.CaptureFixture[str],
                                                rendered_staging_template: dict[str, Any]) -> None:
    from tooling.dag.model import read_workflow_template

    step = merge("wf-1", parse_tasks("sample=Succeeded,2026-01-01T00:00:00Z,2026-01-01T00:00:07Z"),
                 {"geozarr": {"kind": "geozarr", "passed": True, "findings": []}}).to_dict()
    report = localrun.build_report(step, None, env="staging", overlay="staging",
                                   template_doc=rendered_staging_template,
                                   spec=read_workflow_template(rendered_staging_template))
    data = report.to_dict()
    jsonschema.validate(data, SCHEMA)
    assert COMMON <= set(data) and data["kind"] == "conformance" and data["passed"] is True
    assert data["run_id"] == "wf-1" and set(data["checks"]) == {"geozarr"} and data["env"] == "staging"
    assert data["template"]["rendered_hash"].startswith("sha256:")


def test_conformance_that_cannot_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise ToolingError("no render here")

    monkeypatch.setattr(localrun, "run_local", refuse)
    data = printed(capsys, localrun.main_local("staging", 144, True, 2, None, runs_dir=tmp_path), "conformance")
    assert data["error"] == "no render here"


def test_diff(capsys: pytest.CaptureFixture[str]) -> None:
    data = printed(capsys, diff.main(["staging"], against="HEAD", as_json=True), "diff")
    assert data["changes"] == {"staging": []}
    old = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\ndata: {k: '1'}\n"
    changed = json.loads(render_json(diff.diff_report({"prod": diff.compare(old, old.replace("'1'", "'2'"))},
                                                           "main")))
    jsonschema.validate(changed, SCHEMA)
    assert changed["exit_code"] == 1 and changed["changes"] == {
        "prod": [{"kind": "ConfigMap", "namespace": "ns", "name": "a", "status": "changed"}]}


@pytest.fixture(scope="module")
def rendered_staging_template() -> dict[str, Any]:
    from tooling.manifests.rendered import render_env

    return render_env("staging").workflow_template()
