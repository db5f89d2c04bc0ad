"""`withParam` in the local executor (the fan-out of geozarr-convert): one child per item of a
JSON list output, `{{item}}`/`{{item.KEY}}`, aggregated outputs, retries per child, a failing
child failing the task and omitting its dependents, parallelism over the children."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dag.dagkit import py_template, tiny
from tests.dag.test_dag_executor import intervals, max_overlap, phases
from tooling.dag.executor import RunResult
from tooling.dag.model import Unsupported, read_workflow_template

Run = Callable[..., RunResult]

LIST = "import sys; open('/tmp/items', 'w').write(sys.argv[1])"
# argv: log dir, item name, item JSON, fail-once counter dir ('' = never fail), sleep
PART = ("import json, os, sys, time; log, name, item, flaky, sleep = sys.argv[1:6]; t0 = time.time(); "
        "time.sleep(float(sleep)); assert json.loads(item)['name'] == name; "
        "c = os.path.join(flaky, name) if flaky else ''; "
        "n = int(open(c).read()) + 1 if c and os.path.exists(c) else 1; c and open(c, 'w').write(str(n)); "
        "sys.exit(3) if c and n == 1 else None; "
        "open(os.path.join(log, name), 'w').write(f'{t0} {time.time()}'); "
        "open('/tmp/done', 'w').write(name.upper())")
RETRY = {"limit": 2, "retryPolicy": "Always", "expression": "asInt(lastRetry.exitCode) == 3"}


def fan_doc(items: Any, log: Path, *, flaky: str = "", sleep: float = 0.0,
            part_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    args = [("log", str(log)), ("name", "{{item.name}}"), ("item", "{{item}}"), ("flaky", flaky),
            ("sleep", str(sleep))]
    return tiny(
        [{"name": "list", "template": "list", "arguments": {"parameters": [
            {"name": "items", "value": json.dumps(items)}]}},
         {"name": "part", "template": "part", "depends": "list",
          "withParam": "{{tasks.list.outputs.parameters.items}}",
          "arguments": {"parameters": [{"name": k, "value": v} for k, v in args]}},
         {"name": "after", "template": "after", "depends": "part", "arguments": {"parameters": [
             {"name": "done", "value": "{{tasks.part.outputs.parameters.done}}"}]}}],
        [py_template("list", LIST, inputs=["items"], outputs=["items"]),
         py_template("part", PART, inputs=[k for k, _ in args], outputs=["done"], retryStrategy=RETRY,
                     **(part_extra or {})),
         py_template("after", "import sys; open('/tmp/seen', 'w').write(sys.argv[1])", inputs=["done"],
                     outputs=["seen"])])


ITEMS = [{"name": "vh", "groups": ["a_VH"]}, {"name": "vv", "groups": ["a_VV"]}]


def test_one_child_per_item_and_aggregated_outputs(run_tiny: Run, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    result = run_tiny(fan_doc(ITEMS, log))
    assert result.phase == "Succeeded", result.message
    assert phases(result) == {"list": "Succeeded", "part(0)": "Succeeded", "part(1)": "Succeeded",
                              "part": "Succeeded", "after": "Succeeded"}
    assert sorted(p.name for p in log.iterdir()) == ["vh", "vv"]
    assert json.loads(result.task("part").outputs["done"]) == ["VH", "VV"]  # Argo's aggregate
    assert json.loads(result.task("after").outputs["seen"]) == ["VH", "VV"]


@pytest.mark.parametrize("parallelism", [1, 2])
def test_children_run_at_most_parallelism_at_once(run_tiny: Run, tmp_path: Path, parallelism: int) -> None:
    log = tmp_path / "log"
    log.mkdir()
    items = [{"name": f"p{i}"} for i in range(3)]
    result = run_tiny(fan_doc(items, log, sleep=0.6), parallelism=parallelism)
    assert result.phase == "Succeeded", result.message
    assert max_overlap(intervals(log)) == parallelism


def test_retries_are_per_child(run_tiny: Run, tmp_path: Path) -> None:
    log, flaky = tmp_path / "log", tmp_path / "flaky"
    log.mkdir()
    flaky.mkdir()
    (flaky / "vh").write_text("1")  # vh already had its failure: only vv fails once
    result = run_tiny(fan_doc(ITEMS, log, flaky=str(flaky)), sleep=lambda s: None)
    assert result.phase == "Succeeded", result.message
    assert len(result.task("part(0)").attempts) == 1
    assert len(result.task("part(1)").attempts) == 2
    assert (flaky / "vv").read_text() == "2" and (flaky / "vh").read_text() == "2"


def test_a_failing_child_fails_the_task_and_omits_its_dependents(run_tiny: Run, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    items = [{"name": "vh"}, {"name": "vv", "boom": True}]
    doc = fan_doc(items, log)
    part = doc["spec"]["templates"][2]
    part["container"]["command"][2] = "import json, sys; json.loads(sys.argv[3]).get('boom') and sys.exit(1); " \
        + part["container"]["command"][2]
    result = run_tiny(doc)
    assert result.phase == "Failed"
    assert phases(result)["part(0)"] == "Succeeded"
    assert phases(result)["part(1)"] == "Failed"
    assert phases(result)["part"] == "Failed" and "part(1)" in result.task("part").message
    assert phases(result)["after"] == "Omitted"


@pytest.mark.parametrize(("items", "phase", "message"), [
    ([], "Skipped", "Skipped, empty params"),
    ({"name": "x"}, "Error", "withParam: expected a JSON list"),
])
def test_empty_or_not_a_list(run_tiny: Run, tmp_path: Path, items: Any, phase: str, message: str) -> None:
    result = run_tiny(fan_doc(items, tmp_path))
    assert phases(result)["part"] == phase
    assert message in result.task("part").message


def test_item_outside_a_loop_is_refused() -> None:
    doc = fan_doc(ITEMS, Path("/nonexistent"))
    del doc["spec"]["templates"][0]["dag"]["tasks"][1]["withParam"]
    with pytest.raises(Unsupported, match=r"\{\{item.name\}\}: variable not supported"):
        read_workflow_template(doc)
