"""The local executor on tiny WorkflowTemplates whose steps are real processes: dependency
order, parallelism, depends on failures, failFast, retries, deadlines, outputs, volumes, env."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dag.dagkit import py_template, tiny
from tooling.dag.executor import RunResult
from tooling.dag.objectstore import LocalOutput

Run = Callable[..., RunResult]

# a step that records when it ran: argv[1] = log dir, argv[2] = task name, argv[3] = seconds
STAMP = ("import sys, time; t0 = time.time(); time.sleep(float(sys.argv[3])); "
         "open(sys.argv[1] + '/' + sys.argv[2], 'w').write(f'{t0} {time.time()}')")


def stamp_template(**extra: Any) -> dict[str, Any]:
    t = py_template("stamp", STAMP, inputs=["log", "name", "sleep"], **extra)
    return t


def stamp_task(name: str, log: Path, sleep: float = 0.3, **extra: Any) -> dict[str, Any]:
    return {"name": name, "template": "stamp", **extra,
            "arguments": {"parameters": [{"name": "log", "value": str(log)}, {"name": "name", "value": name},
                                         {"name": "sleep", "value": str(sleep)}]}}


def intervals(log: Path) -> dict[str, tuple[float, float]]:
    out = {}
    for f in log.iterdir():
        a, b = f.read_text().split()
        out[f.name] = (float(a), float(b))
    return out


def max_overlap(spans: dict[str, tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    level = peak = 0
    for _, d in events:
        level += d
        peak = max(peak, level)
    return peak


def phases(result: RunResult) -> dict[str, str]:
    return {t.name: t.phase for t in result.tasks}


def test_dependency_order_and_outputs(run_tiny: Run, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    doc = tiny(
        [
            {"name": "a", "template": "emit", "arguments": {"parameters": [{"name": "v", "value": "{{workflow.parameters.greeting}}"}]}},
            {"name": "b", "template": "emit", "depends": "a",
             "arguments": {"parameters": [{"name": "v", "value": "b saw {{tasks.a.outputs.parameters.out}} ({{tasks.a.status}})"}]}},
            stamp_task("c", log, 0.2, dependencies=["a"]),
            stamp_task("d", log, 0.2, depends="b && c"),
        ],
        [py_template("emit", "import sys; open('/tmp/out', 'w').write(sys.argv[1] + '\\n')", inputs=["v"], outputs=["out"]),
         stamp_template()],
        arguments={"parameters": [{"name": "greeting", "value": "hello"}]},
    )
    result = run_tiny(doc)
    assert result.phase == "Succeeded", result.message
    assert result.task("a").outputs == {"out": "hello"}  # the trailing newline is dropped, as Argo does
    assert result.task("b").outputs == {"out": "b saw hello (Succeeded)"}
    spans = intervals(log)
    assert spans["d"][0] >= spans["c"][1]
    assert [t.name for t in result.tasks][-1] == "d"


@pytest.mark.parametrize(("parallelism", "spec_parallelism", "expected"), [(1, None, 1), (3, None, 3), (3, 2, 2)])
def test_parallelism(run_tiny: Run, tmp_path: Path, parallelism: int, spec_parallelism: int | None,
                     expected: int) -> None:
    log = tmp_path / "log"
    log.mkdir()
    extra = {"parallelism": spec_parallelism} if spec_parallelism else {}
    doc = tiny([stamp_task(n, log, 0.8) for n in ("x", "y", "z")], [stamp_template()], **extra)
    result = run_tiny(doc, parallelism=parallelism)
    assert result.phase == "Succeeded"
    assert max_overlap(intervals(log)) == expected


FAIL = py_template("fail", "import sys; sys.exit(1)")
OK = py_template("ok", "pass")


def test_failure_stops_dependents_and_fails_the_run(run_tiny: Run) -> None:
    doc = tiny([{"name": "a", "template": "fail"}, {"name": "b", "template": "ok", "depends": "a"}], [FAIL, OK])
    result = run_tiny(doc)
    assert phases(result) == {"a": "Failed", "b": "Omitted"}
    assert result.phase == "Failed"
    assert "task a Failed: exit code 1" in result.message


def test_depends_on_failure_runs_and_handles_it(run_tiny: Run) -> None:
    doc = tiny([{"name": "a", "template": "fail"},
                {"name": "b", "template": "ok", "depends": "a"},
                {"name": "report", "template": "ok", "depends": "a.Succeeded || a.Failed"}],
               [FAIL, OK])
    result = run_tiny(doc)
    assert phases(result) == {"a": "Failed", "b": "Omitted", "report": "Succeeded"}
    assert result.phase == "Succeeded"  # Argo: a failure a dependent continues on is handled


@pytest.mark.parametrize("fail_fast", [None, True, False])
def test_fail_fast_does_not_stop_ready_tasks(run_tiny: Run, tmp_path: Path, fail_fast: bool | None) -> None:
    """As Argo 3's dag.go: failFast decides when the DAG's phase is assessed, a task whose
    dependencies completed still starts; the run fails either way."""
    log = tmp_path / "log"
    log.mkdir()
    doc = tiny([{"name": "a", "template": "fail"}, stamp_task("y", log, 0.8),
                stamp_task("z", log, 0.0, depends="y")], [FAIL, stamp_template()])
    if fail_fast is not None:
        doc["spec"]["templates"][0]["dag"]["failFast"] = fail_fast
    result = run_tiny(doc)
    assert phases(result)["y"] == "Succeeded"  # running tasks finish
    assert phases(result)["z"] == "Succeeded"
    assert result.phase == "Failed"


# fails with argv[2] until it has run argv[3] times (counter in the file argv[1])
FLAKY = ("import sys, os; p = sys.argv[1]; n = int(open(p).read()) + 1 if os.path.exists(p) else 1; "
         "open(p, 'w').write(str(n)); sys.exit(0 if n >= int(sys.argv[3]) else int(sys.argv[2]))")


@pytest.mark.parametrize(
    ("code", "succeed_on", "phase", "attempts"),
    [(3, 3, "Succeeded", 3),   # transient: retried
     (3, 9, "Failed", 3),      # transient but never better: limit 2 -> 3 attempts
     (2, 3, "Failed", 1)],     # bad input: never retried
)
def test_retry_strategy(run_tiny: Run, tmp_path: Path, code: int, succeed_on: int, phase: str, attempts: int) -> None:
    retry = {"limit": 2, "retryPolicy": "Always", "expression": "asInt(lastRetry.exitCode) == 3",
             "backoff": {"duration": "0.1s", "factor": 2}}
    t = py_template("flaky", FLAKY, inputs=["counter", "code", "n"], retryStrategy=retry)
    doc = tiny([{"name": "a", "template": "flaky", "arguments": {"parameters": [
        {"name": "counter", "value": str(tmp_path / "count")}, {"name": "code", "value": str(code)},
        {"name": "n", "value": str(succeed_on)}]}}], [t])
    result = run_tiny(doc)
    a = result.task("a")
    assert (a.phase, len(a.attempts)) == (phase, attempts)
    assert (tmp_path / "count").read_text() == str(attempts)


def test_template_deadline_stops_the_process(run_tiny: Run) -> None:
    t = py_template("slow", "import time; time.sleep(30)", activeDeadlineSeconds=1)
    start = time.monotonic()
    result = run_tiny(tiny([{"name": "a", "template": "slow"}], [t]))
    assert time.monotonic() - start < 10
    assert result.task("a").phase == "Failed"
    assert "activeDeadlineSeconds exceeded (1s)" in result.task("a").message


def test_workflow_deadline(run_tiny: Run) -> None:
    t = py_template("slow", "import time; time.sleep(600)")
    doc = tiny([{"name": "a", "template": "slow"}, {"name": "b", "template": "slow", "depends": "a"}], [t],
               activeDeadlineSeconds=1)
    start = time.monotonic()
    result = run_tiny(doc)
    # the deadline stopped a step that would sleep 600 s (a hang guard, not a speed goal)
    assert time.monotonic() - start < 120
    assert phases(result) == {"a": "Failed", "b": "Omitted"}
    assert "workflow activeDeadlineSeconds (1s) exceeded" in result.message


def test_missing_output_is_an_error_default_is_used(run_tiny: Run) -> None:
    t = py_template("quiet", "pass", outputs=["out"])
    d = py_template("dflt", "pass")
    d["outputs"] = {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/none", "default": "fallback"}}]}
    result = run_tiny(tiny([{"name": "a", "template": "quiet"}, {"name": "b", "template": "dflt"}], [t, d]))
    assert result.task("a").phase == "Error"
    assert "output parameter 'out': /tmp/out was not written" in result.task("a").message
    assert result.task("b").outputs == {"out": "fallback"}


def test_unresolved_reference_fails_that_task(run_tiny: Run) -> None:
    t = py_template("echo", "import sys; print(sys.argv[1])", inputs=["v"])
    doc = tiny([{"name": "a", "template": "echo", "arguments": {"parameters": [{"name": "v", "value": "ok"}]}},
                {"name": "b", "template": "echo", "depends": "a",
                 "arguments": {"parameters": [{"name": "v", "value": "{{workflow.parameters.nope}}"}]}},
                {"name": "c", "template": "echo", "depends": "b",
                 "arguments": {"parameters": [{"name": "v", "value": "x"}]}}], [t])
    result = run_tiny(doc)
    assert phases(result) == {"a": "Succeeded", "b": "Error", "c": "Omitted"}
    assert "task b: arguments.parameters[0] (v): {{workflow.parameters.nope}} does not resolve" in result.task("b").message


CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "params-abc"},
              "data": {"params.json": '{"a": 1}', "bucket": "bkt"}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"},
          "data": {"token": base64.b64encode(b"s3cret").decode()}}
SEALED = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "sealed"},
          "spec": {"encryptedData": {"KEY": "AgB…"}}}

ENV_CODE = ("import os, sys; p = os.environ['PARAMS'] + '/params.json'; "
            "open('/tmp/out', 'w').write(' '.join([open(p).read(), os.environ['BUCKET'], os.environ['TOKEN'], "
            "os.environ['KEY'], os.environ['HOME'] != '/nonexistent' and 'home', os.environ['DERIVED']]))")


def env_template() -> dict[str, Any]:
    t = py_template("env", ENV_CODE, outputs=["out"])
    c = t["container"]
    c["volumeMounts"].append({"name": "params", "mountPath": "/etc/p", "readOnly": True})
    c["env"] = [
        {"name": "PARAMS", "value": "/etc/p"},
        {"name": "BUCKET", "valueFrom": {"configMapKeyRef": {"name": "params-abc", "key": "bucket"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "plain", "key": "token"}}},
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "sealed", "key": "KEY"}}},
        {"name": "DERIVED", "value": "$(BUCKET)-x"},
    ]
    return t


def test_env_config_maps_and_secrets(run_tiny: Run) -> None:
    doc = tiny([{"name": "a", "template": "env"}], [env_template()],
               volumes=[{"name": "params", "configMap": {"name": "params-abc"}}])
    result = run_tiny(doc, extra_docs=(CONFIG_MAP, SECRET, SEALED), secrets={"sealed": {"KEY": "local-value"}})
    assert result.task("a").phase == "Succeeded", result.task("a").message
    assert result.task("a").outputs["out"] == '{"a": 1} bkt s3cret local-value home bkt-x'


@pytest.mark.parametrize(
    ("extra_docs", "secrets", "message"),
    [((CONFIG_MAP, SECRET, SEALED), {}, "SealedSecret 'sealed' cannot be decrypted here"),
     ((CONFIG_MAP, SEALED), {"sealed": {"KEY": "v"}}, "no Secret or SealedSecret 'plain'"),
     ((SECRET, SEALED), {"sealed": {"KEY": "v"}}, "ConfigMap 'params-abc' is not in the rendered set")],
)
def test_missing_objects_are_errors(run_tiny: Run, extra_docs: tuple[dict[str, Any], ...],
                                    secrets: dict[str, dict[str, str]], message: str) -> None:
    doc = tiny([{"name": "a", "template": "env"}], [env_template()],
               volumes=[{"name": "params", "configMap": {"name": "params-abc"}}])
    result = run_tiny(doc, extra_docs=extra_docs, secrets=secrets)
    assert result.task("a").phase == "Error"
    assert message in result.task("a").message
    assert result.task("a").message.startswith("task a: template env")


def test_output_maps_the_bucket_to_a_directory(run_tiny: Run, tmp_path: Path) -> None:
    code = "import sys, os; p = sys.argv[1]; os.makedirs(os.path.dirname(p), exist_ok=True); open(p, 'w').write('x')"
    ok = py_template("write", code, inputs=["uri"])
    doc = tiny([{"name": "a", "template": "write", "arguments": {"parameters": [
                    {"name": "uri", "value": "s3://{{workflow.parameters.bucket}}/pre/{{workflow.name}}/f.txt"}]}},
                {"name": "b", "template": "write", "arguments": {"parameters": [
                    {"name": "uri", "value": "s3://elsewhere/f.txt"}]}}],
               [ok], arguments={"parameters": [{"name": "bucket", "value": "bkt"}]})
    root = tmp_path / "out"
    result = run_tiny(doc, output=LocalOutput("bkt", root), run_id="tiny-abcde")
    assert result.task("a").phase == "Succeeded"
    assert (root / "pre" / "tiny-abcde" / "f.txt").read_text() == "x"
    assert result.task("b").phase == "Error"
    assert "s3://elsewhere/f.txt is outside the output bucket s3://bkt" in result.task("b").message


def test_unknown_parameter_override_is_refused(run_tiny: Run) -> None:
    with pytest.raises(ValueError, match="unknown workflow parameter 'nope'"):
        run_tiny(tiny([{"name": "a", "template": "ok"}], [OK]), parameters={"nope": "1"})


DRIVER = """
import signal, sys, yaml
signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
from pathlib import Path
from tooling.dag.executor import LocalRun
from tooling.dag.model import read_workflow_template
from tooling.dag.pods import Objects
from tooling.manifests.rendered import Rendered
doc = yaml.safe_load(sys.stdin.read())
try:
    LocalRun(read_workflow_template(doc), Objects(Rendered.of("t", (doc,))), Path(sys.argv[1])).execute()
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_stops_the_running_steps(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    import yaml

    pidfile = tmp_path / "pid"
    # the pid file's path comes in as a parameter: a literal /tmp/… would be the pod's own /tmp
    t = py_template("slow", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)",
                    inputs=["pidfile"])
    doc = tiny([{"name": "a", "template": "slow",
                 "arguments": {"parameters": [{"name": "pidfile", "value": str(pidfile)}]}}], [t])
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "run")], stdin=subprocess.PIPE,
                            text=True)
    proc.stdin.write(yaml.safe_dump(doc))
    proc.stdin.close()
    deadline = time.monotonic() + 30
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    step_pid = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(step_pid, 0)  # the step's process is gone, not orphaned


# -- volumeClaimTemplates: one directory per run, shared by the pods that mount it ------------

def claim_doc(gc: str | None, *, reader_fails: bool = False) -> dict[str, Any]:
    """`write` puts a file on the claim at /scratch (via GEOZARR_SCRATCH_DIR-style env), `read`
    (another pod) reads it back as its output: the claim outlives one pod and is shared."""
    write = py_template("write", "import os; open(os.environ['SCRATCH'] + '/x', 'w').write(str(os.getpid()))")
    read = py_template("read", "import shutil, sys; shutil.copy('/scratch/x', '/tmp/out'); "
                       f"sys.exit({1 if reader_fails else 0})", outputs=["out"])
    for t in (write, read):
        t["container"]["volumeMounts"].append({"name": "scratch", "mountPath": "/scratch"})
    write["container"]["env"] = [{"name": "SCRATCH", "value": "/scratch"}]
    spec: dict[str, Any] = {"volumeClaimTemplates": [{
        "metadata": {"name": "scratch"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}},
                 "storageClassName": "csi-cinder-high-speed"}}]}
    if gc is not None:
        spec["volumeClaimGC"] = {"strategy": gc}
    return tiny([{"name": "a", "template": "write"}, {"name": "b", "template": "read", "depends": "a"}],
                [write, read], **spec)


@pytest.mark.parametrize(
    ("gc", "reader_fails", "deleted"),
    [(None, False, True),                     # Argo's default, OnWorkflowSuccess: success deletes
     (None, True, False),                     # ... a failed run keeps its claim to look at
     ("OnWorkflowSuccess", True, False),
     ("OnWorkflowCompletion", True, True),
     ("OnWorkflowCompletion", False, True)],
)
def test_volume_claim_template_is_shared_and_collected(run_tiny: Run, tmp_path: Path, gc: str | None,
                                                       reader_fails: bool, deleted: bool) -> None:
    result = run_tiny(claim_doc(gc, reader_fails=reader_fails))
    assert result.task("a").phase == "Succeeded", result.task("a").message
    b = result.task("b")
    assert b.phase == ("Failed" if reader_fails else "Succeeded"), b.message
    claim = tmp_path / "run" / "volumes" / "claim-scratch"
    assert claim.exists() is not deleted
    assert result.claims_deleted == (("scratch",) if deleted else ())
    if not reader_fails:  # b read what a wrote: one volume for both pods, not one per pod
        assert b.outputs["out"].isdigit()
    if not deleted:
        assert (claim / "x").read_text().isdigit()
