"""Local mode: the rendered staging template run on this machine. One real end-to-end run
(slow), and planted breaks in the rendered template that must fail the run at their step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tooling import repo
from tooling.dag.cli import main
from tooling.dag.localrun import LocalOutcome, failure_details, run_local
from tooling.dag.provenance import rendered_hash
from tooling.errors import ToolingError
from tooling.manifests.rendered import Rendered

SCHEMA = json.loads((repo.SCHEMAS / "conformance-report.schema.json").read_text())
TASKS = ["sample", "convert", "check-geozarr", "build-stac", "check-stac", "report"]


def template_of(rendered: Rendered, name: str) -> dict[str, Any]:
    wt = rendered.workflow_template()
    return next(t for t in wt["spec"]["templates"] if t["name"] == name)


# -- the end-to-end run ---------------------------------------------------------------------


@pytest.mark.slow
def test_e2e_passes(e2e_run: LocalOutcome) -> None:
    report = e2e_run.report.to_dict()
    failed = [f for f in report["findings"] if f["severity"] == "error"]
    assert report["passed"] is True, failed
    assert e2e_run.exit_code == 0
    assert sorted(t["name"] for t in report["tasks"]) == sorted(TASKS)
    assert all(t["phase"] == "Succeeded" and t["seconds"] > 0 for t in report["tasks"])
    # every declared STAC extension was validated (the schema cache reached the steps)
    assert not [f for f in report["findings"] if f["rule"] == "stac.schema-unavailable"]


@pytest.mark.slow
def test_e2e_report(e2e_run: LocalOutcome, rendered_staging: Rendered) -> None:
    report = e2e_run.report.to_dict()
    jsonschema.validate(report, SCHEMA)
    assert report["env"] == "local" and report["overlay"] == "staging"
    assert report["template"]["rendered_hash"] == rendered_hash(rendered_staging.workflow_template())
    assert report["template"]["git_sha"]
    assert report["image"] == "ghcr.io/eopf-explorer/geozarr-runner:0.1.0"
    assert set(report["checks"]) == {"geozarr", "stac"}
    assert all(c.get("rules") for c in report["checks"].values())  # the real checks ran their rules
    saved = json.loads((e2e_run.run_dir / "report.json").read_text())
    assert saved == report
    assert e2e_run.run_dir == repo.BUILD / "conformance" / report["run_id"]


@pytest.mark.slow
def test_e2e_ran_the_templates_commands(e2e_run: LocalOutcome) -> None:
    """The steps ran the rendered commands against the loopback S3 bucket of the overlay."""
    run_id = e2e_run.report.extra["run_id"]
    convert = e2e_run.run_dir / "tasks" / "convert" / "attempt-1"
    events = [json.loads(line) for line in (convert / "stderr.log").read_text().splitlines() if line.startswith("{")]
    done = next(e for e in events if e.get("message") == "conversion complete")
    assert done["output"] == (f"s3://eopf-geozarr-staging/geozarr/conformance/{run_id}/"
                              f"sentinel-2-l2a-staging/{run_id}.zarr")
    outputs = convert / "volumes" / "tmp" / "outputs"
    assert (outputs / "output").read_text().strip() == done["output"]
    assert (e2e_run.run_dir / "configmaps").is_dir()  # geozarr-params mounted from the rendered ConfigMap
    # the per-workflow claim `scratch` (volumeClaimTemplates) was convert's GEOZARR_SCRATCH_DIR, and
    # volumeClaimGC (OnWorkflowCompletion) deleted it when the run ended
    claim = e2e_run.run_dir / "volumes" / "claim-scratch"
    staged = [e["output_path"] for e in events if e.get("message") == "Starting S2 optimized conversion"]
    assert staged and all(p.startswith(str(claim) + "/") for p in staged), staged
    assert e2e_run.result.claims_deleted == ("scratch",)
    assert not claim.exists()


# -- planted breaks (fast: the sample is local, the run stops early) -------------------------


def test_wrong_parameter_reference_fails_at_that_step(staging_copy: Rendered, tmp_path: Path) -> None:
    convert = template_of(staging_copy, "convert")
    i = convert["container"]["args"].index("{{inputs.parameters.source}}")
    convert["container"]["args"][i] = "{{inputs.parameters.sourse}}"
    out = run_local("staging", size=72, output=str(tmp_path / "out"), rendered=staging_copy,
                    runs_dir=tmp_path / "runs")
    phases = {t["name"]: t["phase"] for t in out.report.extra["tasks"]}
    assert phases == {"sample": "Succeeded", "convert": "Error", "check-geozarr": "Omitted",
                      "build-stac": "Omitted", "check-stac": "Omitted", "report": "Omitted"}
    assert out.exit_code == 1 and out.report.passed is False
    message = out.result.task("convert").message
    assert message == ("task convert: template convert: container.args[1]: "
                       "{{inputs.parameters.sourse}} does not resolve")
    assert any(f.path == "tasks.convert" and "sourse" in f.message for f in out.report.findings)
    assert (tmp_path / "out" / "geozarr" / "conformance" / out.report.extra["run_id"] / "sample.zarr").is_dir()


def test_wrong_flag_fails_the_step_with_its_stderr(staging_copy: Rendered, tmp_path: Path) -> None:
    sample = template_of(staging_copy, "sample")
    sample["container"]["args"][sample["container"]["args"].index("--size")] = "--sise"
    out = run_local("staging", size=72, output=str(tmp_path / "out"), rendered=staging_copy,
                    runs_dir=tmp_path / "runs")
    assert out.result.task("sample").phase == "Failed"
    assert out.result.task("sample").exit_code == 2
    assert len(out.result.task("sample").attempts) == 1  # exit 2 (bad input) is never retried
    details = "\n".join(failure_details(out))
    assert details.startswith("task sample Failed: exit code 2")
    assert "--sise" in details  # the tail of the step's stderr


def test_config_map_reference_broken_by_kustomize(staging_copy: Rendered, tmp_path: Path) -> None:
    """What a missing `configurations:` fieldSpec does: the template names the un-hashed ConfigMap."""
    wt = staging_copy.workflow_template()
    wt["spec"]["volumes"][0]["configMap"]["name"] = "geozarr-params"
    out = run_local("staging", size=72, output=str(tmp_path / "out"), rendered=staging_copy,
                    runs_dir=tmp_path / "runs")
    assert out.result.task("sample").phase == "Error"
    assert "volume 'params': ConfigMap 'geozarr-params' is not in the rendered set" in out.result.task("sample").message


def test_unsupported_feature_is_refused_before_running(staging_copy: Rendered, tmp_path: Path) -> None:
    template_of(staging_copy, "convert")["sidecars"] = [{"name": "proxy", "image": "envoy"}]
    with pytest.raises(ToolingError, match=r"spec.templates\[2\] \(convert\).sidecars: not supported"):
        run_local("staging", size=72, output=str(tmp_path / "out"), rendered=staging_copy, run_id="refused-1",
                  runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"overlay": "dev"}, "unknown overlay 'dev'"),
     ({"env": "qa"}, "unknown env 'qa'"),
     ({"env": "staging", "output": "/tmp/x"}, "--output is for local runs"),
     ({"parallelism": 0}, "--parallelism must be at least 1")],
)
def test_cli_refuses_bad_flags(kwargs: dict[str, Any], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(**kwargs) == 2
    assert message in capsys.readouterr().err


def test_without_moto_the_run_cannot_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from tooling.dag.localrun import main_local

    monkeypatch.setitem(sys.modules, "moto.moto_server.werkzeug_app", None)  # import raises ImportError
    assert main_local("staging", 144, True, 2, None, runs_dir=tmp_path / "runs") == 2
    captured = capsys.readouterr()
    assert [f["rule"] for f in json.loads(captured.out)["findings"]] == ["cannot-run"]  # --json
    assert captured.err.startswith("conformance: cannot run: the loopback S3 server needs moto[server]")
    assert "--output DIR" in captured.err and len(captured.err.splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("tasks"))


def test_a_failed_run_stops_its_s3_server(staging_copy: Rendered, tmp_path: Path) -> None:
    import threading

    convert = template_of(staging_copy, "convert")
    convert["container"]["args"][1] = "{{inputs.parameters.sourse}}"
    before = {t.ident for t in threading.enumerate()}
    out = run_local("staging", size=72, rendered=staging_copy, runs_dir=tmp_path / "runs")
    assert out.result.task("sample").phase == "Succeeded"  # it wrote to the loopback server
    assert out.exit_code == 1
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.name != "preload-s3"]
    assert left == []
