"""The DAG's report step (`geozarr-conformance report`): merging check reports and task phases
into one verdict, written to a local path or S3; and the env config it is located with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.workflow_report import main, merge, parse_tasks
from tooling import repo
from tooling.envconfig import EnvConfigError, read_env_config

SCHEMA = json.loads((repo.SCHEMAS / "conformance-report.schema.json").read_text())
OK_TASKS = "sample=Succeeded,2026-01-01T00:00:00Z,2026-01-01T00:00:07Z convert=Succeeded,2026-01-01T00:00:07Z,2026-01-01T00:00:20Z"
GEOZARR_OK = {"kind": "geozarr", "passed": True, "findings": [
    {"rule": "geozarr.r", "severity": "warning", "path": "/a", "message": "m"}]}
STAC_BAD = {"kind": "stac", "passed": False, "findings": [
    {"rule": "stac.bbox", "severity": "error", "path": "bbox", "message": "off by a degree"}]}


def test_parse_tasks() -> None:
    assert parse_tasks(OK_TASKS) == [{"name": "sample", "phase": "Succeeded", "seconds": 7.0},
                                     {"name": "convert", "phase": "Succeeded", "seconds": 13.0}]
    with pytest.raises(ValueError, match="not name=phase"):
        parse_tasks("sample")


@pytest.mark.parametrize(
    ("checks", "tasks", "passed", "rules"),
    [
        ({"geozarr": GEOZARR_OK}, OK_TASKS, True, ["geozarr.r"]),
        ({"geozarr": GEOZARR_OK, "stac": STAC_BAD}, OK_TASKS, False, ["geozarr.r", "stac.bbox"]),
        ({"geozarr": GEOZARR_OK, "stac": "no report at s3://b/k (the check could not run)"}, OK_TASKS, False,
         ["conformance.report.check-missing", "geozarr.r"]),
        ({"geozarr": GEOZARR_OK}, OK_TASKS + " check-stac=Failed,2026-01-01T00:00:20Z,2026-01-01T00:00:21Z", False,
         ["conformance.dag.task-failed", "geozarr.r"]),
        ({"geozarr": {"kind": "geozarr", "passed": False, "error": "store unreadable", "findings": []}}, OK_TASKS,
         False, ["conformance.report.check-missing"]),
    ],
)
def test_merge(checks: dict[str, Any], tasks: str, passed: bool, rules: list[str]) -> None:
    report = merge("wf-1", parse_tasks(tasks), checks).to_dict()
    assert report["passed"] is passed
    assert sorted(f["rule"] for f in report["findings"]) == rules
    jsonschema.validate(report, SCHEMA)


def test_step_writes_locally_and_exits_by_verdict(tmp_path: Path) -> None:
    (tmp_path / "geozarr.json").write_text(json.dumps(GEOZARR_OK))
    (tmp_path / "stac.json").write_text(json.dumps(STAC_BAD))
    args = ["--run-id", "wf-1", "--tasks", OK_TASKS, "--check", str(tmp_path / "geozarr.json")]
    assert main([*args, "--output", str(tmp_path / "ok.json")]) == 0
    assert json.loads((tmp_path / "ok.json").read_text())["passed"] is True
    assert main([*args, "--check", str(tmp_path / "stac.json"), "--output", str(tmp_path / "bad.json")]) == 1
    bad = json.loads((tmp_path / "bad.json").read_text())
    assert bad["passed"] is False and set(bad["checks"]) == {"geozarr", "stac"}


def test_step_on_s3_through_the_console_script(s3_server, s3_bucket, s3_env, tmp_path: Path) -> None:
    c = s3_server.client()
    c.put_object(Bucket=s3_bucket, Key="run/checks/geozarr.json", Body=json.dumps(GEOZARR_OK).encode())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "geozarr-conformance"), "report", "--run-id", "wf-1", "--tasks", OK_TASKS,
         "--check", f"s3://{s3_bucket}/run/checks/geozarr.json", "--check", f"s3://{s3_bucket}/run/checks/stac.json",
         "--output", f"s3://{s3_bucket}/run/report.json", "--json"],
        capture_output=True, text=True, env={**s3_env, "PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    assert done.returncode == 1, done.stderr  # the stac check wrote nothing
    stored = json.loads(c.get_object(Bucket=s3_bucket, Key="run/report.json")["Body"].read())
    assert stored == json.loads(done.stdout)
    assert any(f["rule"] == "conformance.report.check-missing" and f["path"] == "checks.stac"
               for f in stored["findings"])


def test_step_unreachable_s3_is_transient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    code = main(["--run-id", "wf", "--check", "s3://b/k.json", "--output", str(tmp_path / "r.json")])
    assert code == 3
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_env_config_of_the_repo(env: str) -> None:
    cfg = read_env_config(env)
    assert cfg.env == env and cfg.bucket and cfg.namespace and cfg.context
    assert cfg.report_uri("wf").endswith("/wf/report.json")


def test_env_config_invalid(tmp_path: Path) -> None:
    bad = tmp_path / "env.yaml"
    bad.write_text("context: c\nnamespace: Not_A_Namespace\n")
    with pytest.raises(EnvConfigError, match="env.yaml"):
        read_env_config("staging", path=bad)
