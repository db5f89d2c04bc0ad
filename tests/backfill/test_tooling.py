"""`invoke backfill` / `backfill.status` / `replay`: submission against a fake Kubernetes client
(no API server exists here), the submitted Workflow linted against the rendered template, and
status/replay read from a real S3 API on loopback."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from runner.backfill.batch import Outcome, write_outcome
from runner.backfill.bulk_register import DeadLetter, write_dead_letters
from runner.backfill.plan import PlanCounts, PlanEntry, write_plan
from tooling.backfill import cli, cluster
from tooling.dag.cluster import lint_workflow
from tooling.envconfig import EnvConfig
from tooling.manifests.rendered import render_env

WINDOW = {"collection": "sentinel-2-l2a", "start": "2025-06-01", "end": "2025-07-01"}


class FakeClient:
    def __init__(self) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []

    def create_workflow(self, namespace: str, wf: dict[str, Any]) -> dict[str, Any]:
        self.created.append((namespace, copy.deepcopy(wf)))
        return {**wf, "metadata": {**wf["metadata"], "name": "geozarr-backfill-x1"}}


@pytest.fixture
def cfg(s3_bucket: str, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> EnvConfig:
    config = EnvConfig(env="staging", context="ctx", namespace="geozarr-staging", bucket=s3_bucket,
                       prefix="geozarr", s3_endpoint=s3_env["AWS_ENDPOINT_URL"], stac_api_url="",
                       report_prefix="geozarr/conformance")
    monkeypatch.setattr(cli, "read_env_config", lambda env: config)
    return config


def _params(wf: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}


@pytest.mark.fake_cluster
def test_submit_creates_a_workflow_that_lints_against_the_rendered_template(cfg, capsys):
    client = FakeClient()
    code = cli.main_submit(env="staging", **WINDOW, bbox="5,45,10,48", limit=7, batches=3,
                           run="june", search_concurrency=5, client=client)
    assert code == 0 and "geozarr-backfill-x1" in capsys.readouterr().out
    [(namespace, wf)] = client.created
    params = _params(wf)
    assert namespace == "geozarr-staging"
    assert params["limit"] == "7" and params["batches"] == "3" and params["run"] == "june"
    assert params["search_concurrency"] == "5"
    assert params["bbox"] == "5.0,45.0,10.0,48.0" and params["source_collection"] == "sentinel-2-l2a"
    assert params["start"].startswith("2025-06-01T00:00:00") and params["output_bucket"] == cfg.bucket
    template = render_env("staging").workflow_template(cluster.TEMPLATE)
    assert lint_workflow(wf, template) == []


@pytest.mark.fake_cluster
@pytest.mark.parametrize(("change", "says"), [
    ({"start": "2025-08-01"}, "inverted"), ({"bbox": "1,2"}, "four numbers"),
    ({"limit": 0}, "positive"), ({"collection": "a/b"}, "collection"), ({"batches": 0}, "batches"),
    ({"search_concurrency": 0}, "--search-concurrency must be within 1..16"),
    ({"search_concurrency": 17}, "--search-concurrency must be within 1..16"),
])
def test_bad_input_submits_nothing(cfg, capsys, change, says):
    client = FakeClient()
    args = {**WINDOW, "limit": 5, "batches": 2, **change}
    assert cli.main_submit(env="staging", client=client, **args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and client.created == []


def _state(cfg: EnvConfig, run: str) -> str:
    state = cluster.state_uri(cfg, run)
    entries = [PlanEntry(f"P{n}", f"s3://src/P{n}.zarr", f"s3://out/P{n}.zarr", "") for n in range(4)]
    request = {"collection": "sentinel-2-l2a", "datetime": "2025-06-01T00:00:00Z/2025-07-01T00:00:00Z",
               "bbox": None, "ids": [], "limit": 4, "source_api": "http://source.invalid"}
    write_plan(f"{state}/plan.jsonl", entries, PlanCounts(found=5, planned=4, skipped=1), request)
    write_outcome(state, Outcome("P0", "converted", 3.0, item_uri=f"{state}/items/P0.json"))
    write_outcome(state, Outcome("P1", "failed", 1.0, "convert", "no r20m group", 2))
    write_dead_letters(f"{state}/dead-letter.jsonl",
                       [DeadLetter("P0", f"{state}/items/P0.json", "circuit open", 3)])
    return state


def test_status_shows_progress_of_a_running_backfill(cfg, capsys):
    _state(cfg, "june")
    assert cli.main_status(run="june", env="staging", as_json=True) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"] == {"planned": 4, "converted": 1, "skipped": 1, "failed": 1,
                             "registered": 0, "dead_lettered": 1}
    assert doc["failed"] == [{"item": "P1", "step": "convert", "reason": "no r20m group", "exit_code": 2}]
    assert cli.main_status(run="june", env="staging") == 0
    assert capsys.readouterr().out.startswith("[###############...............] 2/4 products")


def test_status_of_an_unknown_run_is_one_line_exit_1(cfg, capsys):
    assert cli.main_status(run="nope", env="staging") == 1
    assert "no backfill run 'nope'" in capsys.readouterr().err


@pytest.mark.fake_cluster
def test_replay_resubmits_the_same_run_for_failed_and_dead_lettered(cfg, capsys):
    _state(cfg, "june")
    client = FakeClient()
    assert cli.main_replay(run="june", env="staging", client=client) == 0
    [(_, wf)] = client.created
    assert _params(wf)["run"] == "june" and _params(wf)["source_api_url"] == "http://source.invalid"
    assert "1 failed, 1 dead-lettered" in capsys.readouterr().out


@pytest.mark.fake_cluster
def test_replay_with_nothing_to_do_submits_nothing(cfg, capsys):
    state = cluster.state_uri(cfg, "clean")
    write_plan(f"{state}/plan.jsonl", [], PlanCounts(), {"collection": "c", "datetime": "a/b", "limit": 1})
    client = FakeClient()
    assert cli.main_replay(run="clean", env="staging", client=client) == 0 and client.created == []
