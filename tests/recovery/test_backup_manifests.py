"""The catalog backup as each env deploys it (real `kubectl kustomize`). Its alerts live with the
others in base/monitoring/alerts.yaml, tested by `invoke validate` (base/monitoring/tests/backup.test.yaml)."""

from __future__ import annotations

import pytest
import yaml

from runner.catalog_backup import BACKUP_PREFIX
from tooling import repo
from tooling.envconfig import read_env_config
from tooling.manifests.render import kustomize

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
