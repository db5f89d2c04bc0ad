"""The catalog backup as each env deploys it (real `kubectl kustomize`), and its alert under
`promtool test rules`: a backup older than the daily schedule allows fires, a fresh one does not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from runner.catalog_backup import BACKUP_PREFIX
from tooling import repo
from tooling.envconfig import read_env_config
from tooling.manifests.render import kustomize

ALERTS = repo.BASE / "backup" / "alerts.yaml"
METRIC = "argo_workflows_geozarr_catalog_backup_last_success_timestamp_seconds"


@pytest.mark.parametrize("env", repo.ENVS)
def test_each_env_runs_the_backup_module_into_its_bucket(env: str) -> None:
    docs = [d for d in yaml.safe_load_all(kustomize(repo.overlay_dir(env))) if d]
    cron = next(d for d in docs if d["kind"] == "CronWorkflow")
    spec = cron["spec"]["workflowSpec"]
    container = spec["templates"][0]["container"]
    assert container["command"] == ["python", "-m", "runner.catalog_backup"]
    assert f"s3://$(OUTPUT_BUCKET)/{BACKUP_PREFIX}" in container["args"]
    params = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("geozarr-params")
    )
    refs = {
        e["name"]: e["valueFrom"]["configMapKeyRef"]
        for e in container["env"]
        if "configMapKeyRef" in e.get("valueFrom", {})
    }
    assert refs["OUTPUT_BUCKET"] == {"name": params["metadata"]["name"], "key": "output_bucket"}
    metric = spec["metrics"]["prometheus"][0]
    assert (
        "argo_workflows_" + metric["name"] == METRIC
        and metric["when"] == "{{workflow.status}} == Succeeded"
    )
    assert cron["metadata"]["namespace"] == read_env_config(env).namespace


def _promtool_test(
    tmp_path: Path, series: str, eval_time: str, alerts: list[dict]
) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    assert exe, "promtool is not installed: scripts/bootstrap.sh"
    spec = yaml.safe_load(ALERTS.read_text())["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'{METRIC}{{workflow_namespace="geozarr"}}', "values": series}
                ],
                "alert_rule_test": [
                    {
                        "eval_time": eval_time,
                        "alertname": "GeozarrCatalogBackupStale",
                        "exp_alerts": alerts,
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    return subprocess.run(
        [exe, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_stale_backup_fires(tmp_path: Path) -> None:
    # one success at t=0 (value 0 = 1970-01-01T00:00:00), never again: stale after 26 h + 15 m
    fired = [
        {
            "exp_labels": {"severity": "critical", "workflow_namespace": "geozarr"},
            "exp_annotations": {
                "summary": "No catalog backup in geozarr for 1d 3h 0m 0s",
                "description": (
                    "The last pgSTAC backup that succeeded in geozarr is older than the daily "
                    "schedule allows. `argo cron list -n geozarr` and `argo list -n geozarr -l "
                    "app.kubernetes.io/name=geozarr-catalog-backup`; "
                    "docs/runbooks/disaster-recovery.md."
                ),
            },
        }
    ]
    done = _promtool_test(tmp_path, "0x1700", "27h", fired)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _promtool_test(tmp_path, "0x1700", "26h10m", [])
    assert done.returncode == 0, done.stdout + done.stderr


def test_daily_backups_do_not_fire(tmp_path: Path) -> None:
    # a success every 24 h: the gauge steps 0, 86400, 172800 ...
    series = " ".join(f"{86400 * day}x1439" for day in range(3))
    done = _promtool_test(tmp_path, series, "71h", [])
    assert done.returncode == 0, done.stdout + done.stderr
