"""Cluster mode against a fake Kubernetes API client (no API server exists here): submit,
follow, timeout, no-wait, Ctrl-C, and the report fetched from a real S3 API on loopback."""

from __future__ import annotations

import copy
import io
import json
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tooling import repo
from tooling.dag.cli import main_cluster, run_cluster
from tooling.dag.cluster import ClusterError, KubectlClient, build_workflow, lint_workflow
from tooling.dag.progress import Progress
from tooling.envconfig import EnvConfig
from tooling.manifests.rendered import Rendered

pytestmark = pytest.mark.fake_cluster

NAME = "geozarr-conformance-x7k2p"
TASKS = ["sample", "convert", "check-geozarr", "build-stac", "check-stac", "report"]


def node(display: str, phase: str, kind: str = "Retry", message: str = "", t0: int = 0, t1: int | None = 5) -> dict[str, Any]:
    n = {"displayName": display, "type": kind, "phase": phase, "startedAt": f"2026-01-01T00:00:{t0:02d}Z"}
    if t1 is not None and phase not in ("Running", "Pending"):
        n["finishedAt"] = f"2026-01-01T00:00:{t1:02d}Z"
    if message:
        n["message"] = message
    return n


def workflow(phase: str, nodes: dict[str, tuple[str, str]], message: str = "") -> dict[str, Any]:
    status_nodes = {NAME: {"displayName": NAME, "type": "DAG", "phase": phase}}
    for i, (name, (p, msg)) in enumerate(nodes.items()):
        status_nodes[f"{NAME}-{i}"] = node(name, p, message=msg, t0=i * 5, t1=i * 5 + 4)
        status_nodes[f"{NAME}-{i}a"] = node(f"{name}(0)", p, kind="Pod")  # an attempt: folded into its task
    return {"metadata": {"name": NAME}, "status": {"phase": phase, "message": message, "nodes": status_nodes}}


class FakeClient:
    """Scripted API server: create returns the named Workflow, each get the next state."""

    def __init__(self, states: list[dict[str, Any]] | None = None, interrupt_after: int | None = None) -> None:
        self.states = states or []
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.gets = 0
        self.interrupt_after = interrupt_after

    def create_workflow(self, namespace: str, wf: dict[str, Any]) -> dict[str, Any]:
        self.created.append((namespace, copy.deepcopy(wf)))
        return {**wf, "metadata": {**wf["metadata"], "name": NAME}}

    def get_workflow(self, namespace: str, name: str) -> dict[str, Any]:
        assert name == NAME
        if self.interrupt_after is not None and self.gets >= self.interrupt_after:
            raise KeyboardInterrupt
        state = self.states[min(self.gets, len(self.states) - 1)]
        self.gets += 1
        return state


@pytest.fixture
def cfg(s3_server, s3_bucket, s3_env) -> EnvConfig:
    return EnvConfig(env="staging", context="test-ctx", namespace="geozarr-staging", bucket=s3_bucket,
                     prefix="geozarr", s3_endpoint=s3_server.endpoint, stac_api_url="https://stac.example",
                     report_prefix="geozarr/conformance")


def put_report(s3_server, cfg: EnvConfig, report: dict[str, Any]) -> None:
    key = cfg.report_uri(NAME).split("/", 3)[3]
    s3_server.client().put_object(Bucket=cfg.bucket, Key=key, Body=json.dumps(report).encode())


STEP_REPORT_OK = {"kind": "conformance", "passed": True, "findings": [],
                  "checks": {"geozarr": {"passed": True, "findings": []}, "stac": {"passed": True, "findings": []}}}
STEP_REPORT_FAILED = {"kind": "conformance", "passed": False, "findings": [
    {"rule": "geozarr.multiscales-geometry", "severity": "error", "path": "/measurements/reflectance/r720m",
     "message": "transform is not its parent's scaled", "check": "geozarr"}]}


def progress() -> tuple[Progress, io.StringIO]:
    stream = io.StringIO()
    return Progress(stream=stream), stream


def no_sleep(_: float) -> None:
    pass


def test_success(cfg: EnvConfig, s3_server, rendered_staging: Rendered) -> None:
    put_report(s3_server, cfg, STEP_REPORT_OK)
    running = workflow("Running", {"sample": ("Succeeded", ""), "convert": ("Running", "")})
    done = workflow("Succeeded", {t: ("Succeeded", "") for t in TASKS})
    client = FakeClient([running, done])
    prog, stream = progress()
    out = run_cluster(cfg, rendered_staging.workflow_template(), client, prog, size=144, sleep=no_sleep)
    assert out.exit_code == 0
    namespace, submitted = client.created[0]
    assert namespace == "geozarr-staging"
    assert submitted["spec"]["workflowTemplateRef"] == {"name": "geozarr-conformance"}
    params = {p["name"]: p["value"] for p in submitted["spec"]["arguments"]["parameters"]}
    assert params == {"output_bucket": cfg.bucket, "output_prefix": "geozarr", "s3_endpoint": cfg.s3_endpoint,
                      "size": "144"}
    assert out.report is not None and out.report.passed is True
    report = out.report.to_dict()
    jsonschema.validate(report, json.loads((repo.SCHEMAS / "conformance-report.schema.json").read_text()))
    assert [t["name"] for t in report["tasks"]] == TASKS
    assert all(t["seconds"] == 4.0 for t in report["tasks"])
    assert report["env"] == "staging" and report["run_id"] == NAME
    assert report["template"]["rendered_hash"].startswith("sha256:")
    assert report["image"].startswith("ghcr.io/eopf-explorer/geozarr-runner")
    assert report["workflow"]["report_uri"] == f"s3://{cfg.bucket}/geozarr/conformance/{NAME}/report.json"
    log = stream.getvalue()
    assert "convert          Running" in log and "report           Succeeded" in log
    assert "convert(0)" not in log


def test_failed_node(cfg: EnvConfig, s3_server, rendered_staging: Rendered) -> None:
    put_report(s3_server, cfg, STEP_REPORT_FAILED)
    nodes = {t: ("Succeeded", "") for t in TASKS}
    nodes["check-geozarr"] = ("Failed", "exit code 1")
    nodes["report"] = ("Failed", "exit code 1")
    client = FakeClient([workflow("Failed", nodes, "child 'report' failed")])
    prog, stream = progress()
    out = run_cluster(cfg, rendered_staging.workflow_template(), client, prog, size=144, sleep=no_sleep)
    assert out.exit_code == 1
    assert out.report is not None and out.report.passed is False
    assert out.report.extra["workflow"]["phase"] == "Failed"
    assert any(f.rule == "geozarr.multiscales-geometry" for f in out.report.findings)
    assert "check-geozarr    Failed" in stream.getvalue() and "exit code 1" in stream.getvalue()


def test_succeeded_workflow_with_failed_report_fails(cfg: EnvConfig, s3_server, rendered_staging: Rendered) -> None:
    put_report(s3_server, cfg, STEP_REPORT_FAILED)
    client = FakeClient([workflow("Succeeded", {t: ("Succeeded", "") for t in TASKS})])
    out = run_cluster(cfg, rendered_staging.workflow_template(), client, progress()[0], size=144, sleep=no_sleep)
    assert out.exit_code == 1


def test_missing_report(cfg: EnvConfig, rendered_staging: Rendered) -> None:
    client = FakeClient([workflow("Succeeded", {t: ("Succeeded", "") for t in TASKS})])
    out = run_cluster(cfg, rendered_staging.workflow_template(), client, progress()[0], size=144, sleep=no_sleep)
    assert out.exit_code == 1
    assert out.report is not None
    assert any(f.rule == "conformance.report.check-missing" and "no report at s3://" in f.message
               for f in out.report.findings)


def test_timeout(cfg: EnvConfig, rendered_staging: Rendered) -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    client = FakeClient([workflow("Running", {"sample": ("Running", "")})])
    out = run_cluster(cfg, rendered_staging.workflow_template(), client, progress()[0], size=144,
                      timeout=30, interval=5, sleep=sleep, clock=lambda: now[0])
    assert out.exit_code == 1 and out.report is None
    assert out.follow is not None and out.follow.phase == "Running"
    assert "still Running after 30s" in out.follow.message and "keeps running" in out.follow.message
    assert client.gets == 7  # t = 0, 5, ..., 30


def test_ctrl_c_stops_following_not_the_workflow(cfg: EnvConfig, rendered_staging: Rendered) -> None:
    client = FakeClient([workflow("Running", {"sample": ("Running", "")})], interrupt_after=2)
    out = run_cluster(cfg, rendered_staging.workflow_template(), client, progress()[0], size=144, sleep=no_sleep)
    assert out.exit_code == 130
    assert out.follow is not None and "stopped following (Ctrl-C)" in out.follow.message
    assert len(client.created) == 1  # nothing deleted or resubmitted


def test_no_wait_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    """The real env.yaml, the real rendered overlay, the real Argo lint; the fake API server."""
    client = FakeClient()
    code = main_cluster("staging", size=144, as_json=True, wait=False, client=client)
    assert code == 0
    assert client.gets == 0
    assert json.loads(capsys.readouterr().out) == {"workflow": NAME, "namespace": "geozarr-staging",
                                                   "phase": "Submitted"}
    assert client.created[0][1]["metadata"]["generateName"] == "geozarr-conformance-"


def test_the_product_reaches_the_submitted_workflow() -> None:
    """`--product s1-grd`: the Workflow passes the product (and its collection) to the template,
    and the Argo lint accepts it (the template declares `product`)."""
    from tooling.dag.cli import PRODUCTS

    client = FakeClient()
    assert main_cluster("staging", size=144, as_json=True, wait=False, client=client,
                        parameters=PRODUCTS["s1-grd"]) == 0
    params = {p["name"]: p["value"] for p in client.created[0][1]["spec"]["arguments"]["parameters"]}
    assert params["product"] == "s1-grd" and params["collection"] == "sentinel-1-l1-grd"
    assert params["size"] == "144"


def test_an_unknown_product_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from tooling.dag.cli import main

    assert main(product="s3-olci") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["conformance: unknown --product 's3-olci': expected one of s2-l2a, s1-grd"]


def test_lint_accepts_the_submitted_workflow(rendered_staging: Rendered, rendered_prod: Rendered) -> None:
    for rendered, env in ((rendered_staging, "staging"), (rendered_prod, "prod")):
        cfg = EnvConfig(env, "ctx", "ns", "bkt", "geozarr", "https://s3.example", "https://stac.example",
                        "geozarr/conformance")
        assert lint_workflow(build_workflow(cfg, 144), rendered.workflow_template()) == []


def test_lint_refuses_a_workflow_the_template_cannot_run(rendered_staging: Rendered) -> None:
    cfg = EnvConfig("staging", "ctx", "ns", "bkt", "geozarr", "https://s3.example", "https://stac.example",
                    "geozarr/conformance")
    wf = build_workflow(cfg, 144, template="geozarr-conformance-typo")
    problems = lint_workflow(wf, rendered_staging.workflow_template())
    assert problems and any("geozarr-conformance-typo" in p for p in problems)


@pytest.mark.parametrize("bad", ["../../etc", "a\nb", "<script>", "x" * 256])
def test_lint_refuses_an_identifier_outside_the_policy(rendered_staging: Rendered,
                                                       bad: str) -> None:
    """Issue 9, case 4: checked before submitting (the template's default, or a submitted value)."""
    cfg = EnvConfig("staging", "ctx", "ns", "bkt", "geozarr", "https://s3.example", "https://stac.example",
                    "geozarr/conformance")
    template = copy.deepcopy(rendered_staging.workflow_template())
    for param in template["spec"]["arguments"]["parameters"]:
        if param["name"] == "collection":
            param["value"] = bad
    problems = lint_workflow(build_workflow(cfg, 144), template)
    assert [p for p in problems if p.startswith("identifiers: parameter collection")], problems
    wf = build_workflow(cfg, 144)
    wf["spec"]["arguments"]["parameters"].append({"name": "item_id", "value": bad})
    problems = lint_workflow(wf, rendered_staging.workflow_template())
    assert [p for p in problems if p.startswith("identifiers: parameter item_id")], problems


FAKE_KUBECTL = """#!{python}
import json, sys
open({log!r}, "a").write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read()}}) + "\\n")
if "get" in sys.argv:
    print('error: the server doesn\\'t have a resource type "workflow"', file=sys.stderr)
    sys.exit(1)
print(json.dumps({{"metadata": {{"name": "wf-1"}}}}))
"""


def test_kubectl_client(tmp_path: Path) -> None:
    import sys

    log = tmp_path / "calls.jsonl"
    exe = tmp_path / "kubectl"
    exe.write_text(FAKE_KUBECTL.format(python=sys.executable, log=str(log)))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    client = KubectlClient("ovh-staging", kubectl=str(exe))
    wf = {"kind": "Workflow", "metadata": {"generateName": "x-"}}
    assert client.create_workflow("ns1", wf)["metadata"]["name"] == "wf-1"
    with pytest.raises(ClusterError, match="doesn't have a resource type"):
        client.get_workflow("ns1", "wf-1")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0]["argv"] == ["--context", "ovh-staging", "create", "-n", "ns1", "-f", "-", "-o", "json"]
    assert json.loads(calls[0]["stdin"]) == wf
    assert calls[1]["argv"] == ["--context", "ovh-staging", "get", "-n", "ns1", "workflow", "wf-1", "-o", "json"]


def _printing(reports: dict[str, Any], codes: dict[str, int]):
    """A product run that gives REPORTS[name] to its sink as a command would (nothing when None)."""

    def run_one(name: str, sink: Any) -> int:
        if reports[name] is not None:
            sink(reports[name], "json")
        return codes[name]
    return run_one


def test_several_products_in_json_are_one_report(capsys: pytest.CaptureFixture[str]) -> None:
    """`invoke conformance --json` (both products): ONE JSON document a script can load, each
    product's report under `products`, its findings tagged with the product, the worst exit."""
    from conformance.findings import Finding, Severity
    from conformance.report import Report
    from tooling.dag.cli import _combined

    bad = Finding(rule="geozarr.crs", severity=Severity.ERROR, message="wrong CRS", path="/vv",
                  check="geozarr")
    reports = {"s2-l2a": Report(kind="conformance", target="a"),
               "s1-grd": Report(kind="conformance", target="b", findings=[bad])}
    code = _combined(["s2-l2a", "s1-grd"], "json", _printing(reports, {"s2-l2a": 0, "s1-grd": 1}))
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["exit_code"] == 1 and doc["passed"] is False
    assert list(doc["products"]) == ["s2-l2a", "s1-grd"]
    assert doc["products"]["s2-l2a"]["passed"] is True
    assert [(f["rule"], f["check"]) for f in doc["findings"]] == [("geozarr.crs", "s1-grd/geozarr")]


def test_a_product_run_without_a_report_is_said_in_the_one_report(
        capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.report import Report
    from tooling.dag.cli import _combined

    reports = {"s2-l2a": Report(kind="conformance", target="a"), "s1-grd": None}
    code = _combined(["s2-l2a", "s1-grd"], "json", _printing(reports, {"s2-l2a": 0, "s1-grd": 130}))
    doc = json.loads(capsys.readouterr().out)
    assert code == 130 and doc["exit_code"] == 2
    assert doc["error"] == "s1-grd: no report (exit 130)"
