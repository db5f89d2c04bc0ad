"""The fanned-out `geozarr-convert` as each env renders it: parts -> convert-part (withParam over
the parts' JSON list, retried per part) -> finalize -> validate; the env's fanout_parallelism
reaches the steps; the local executor reads it; Argo's own lint and the env's params accept it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tooling.dag.model import read_workflow_template
from tooling.manifests.rendered import render_env


@pytest.fixture(scope="module", params=["staging", "prod"])
def convert(request: pytest.FixtureRequest) -> tuple[str, Any, dict[str, Any]]:
    rendered = render_env(request.param)
    return request.param, rendered, rendered.workflow_template("geozarr-convert")


def _template(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["spec"]["templates"] if t["name"] == name)


def _tasks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in _template(doc, "main")["dag"]["tasks"]}


def test_the_dag_fans_out_between_parts_and_finalize(convert) -> None:
    _, _, doc = convert
    tasks = _tasks(doc)
    assert list(tasks) == ["preflight", "parts", "convert-part", "finalize", "validate", "build-stac",
                           "register"]
    part = tasks["convert-part"]
    assert part["depends"] == "parts"
    assert part["withParam"] == "{{tasks.parts.outputs.parameters.parts}}"
    args = {p["name"]: p["value"] for p in part["arguments"]["parameters"]}
    assert args == {"part": "{{item}}", "output": "{{tasks.parts.outputs.parameters.output}}"}
    assert tasks["finalize"]["depends"] == "convert-part"  # every part Succeeded
    for later in ("validate", "build-stac"):
        store = tasks[later]["arguments"]["parameters"][0]["value"]
        assert store == "{{tasks.finalize.outputs.parameters.output}}"


def test_each_writing_step_retries_on_its_own(convert) -> None:
    _, _, doc = convert
    for name in ("parts", "convert-part", "finalize"):
        retry = _template(doc, name)["retryStrategy"]
        assert retry["expression"] == "asInt(lastRetry.exitCode) == 3", name
    assert _template(doc, "convert-part")["container"]["args"][:2] == ["convert-part",
                                                                       "{{inputs.parameters.part}}"]


def test_the_envs_fanout_parallelism_reaches_the_steps(convert) -> None:
    env, rendered, doc = convert
    default = next(p["value"] for p in doc["spec"]["arguments"]["parameters"]
                   if p["name"] == "fanout_parallelism")
    cm = next(d for d in rendered.documents if d.get("kind") == "ConfigMap"
              and d["metadata"]["name"].startswith("geozarr-params"))
    assert json.loads(default) == json.loads(cm["data"]["fanout_parallelism"]), env
    for name in ("parts", "convert-part"):
        env_vars = {e["name"]: e.get("value") for e in _template(doc, name)["container"]["env"]}
        assert env_vars["FANOUT_PARALLELISM"] == "{{workflow.parameters.fanout_parallelism}}"


def test_prod_gives_the_part_pods_its_full_tile_resources() -> None:
    doc = render_env("prod").workflow_template("geozarr-convert")
    part = _template(doc, "convert-part")
    assert part["container"]["resources"]["limits"]["memory"] == "32Gi"
    assert part["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "100Gi"}}]


def test_each_part_pod_has_its_own_scratch(convert) -> None:
    """No workflow-wide RWO claim: part pods on different nodes could not mount it at once."""
    _, _, doc = convert
    assert "volumeClaimTemplates" not in doc["spec"]
    part = _template(doc, "convert-part")
    assert part["volumes"][0]["name"] == "scratch" and "emptyDir" in part["volumes"][0]
    mounts = {m["name"]: m["mountPath"] for m in part["container"]["volumeMounts"]}
    assert mounts["scratch"] == "/scratch"


def test_the_local_executor_reads_the_fan_out(convert) -> None:
    _, _, doc = convert
    spec = read_workflow_template(doc)
    task = next(t for t in spec.tasks if t.name == "convert-part")
    assert task.with_param == "{{tasks.parts.outputs.parameters.parts}}"
    assert [o.name for o in spec.templates["finalize"].outputs][:2] == ["output", "manifest"]
