"""Fan-out: the rendered staging `geozarr-convert` (preflight -> parts -> convert-part per part ->
finalize) run by the local executor (tooling/dag), S3 on loopback, fanned out against one pod.

Sentinel-1 GRD (`runner sample --product s1-grd`, at each of S1_SIZES azimuth lines), three runs:
- single pod (baseline): `fanout_parallelism` {"s1-grd": 1}: one convert-part pod converts both
  polarisations;
- fanned out here: {"s1-grd": 2}, the executor's parallelism 2: both part pods at once on the 2
  shared cores;
- fanned out, one pod at a time (executor parallelism 1): each part alone, for the critical path
  a cluster with free nodes would see (the slowest part alone + finalize).
The fanned-out store must be byte-identical to the single pod's, file by file.
Sentinel-2 L2A (S2_SIZES px): one whole part whatever the params say (its optimised path cannot be
split, docs/architecture.md "Fan-out"), so only that path is timed.

Per pod: wall time (the executor's), peak RSS (each step runs under a wrapper that reports
`os.wait4`'s ru_maxrss: the memory a template must request) and, for a part, its work (the
part's `seconds` output: after its imports; importing eopf-geozarr is a fixed cost every pod pays,
and on this shared machine it dominates small products). The load average is printed with every
run: 2 cores shared by other engineers.

Goal: critical-path work (slowest part alone) / single pod's work <= 0.75 at the largest S1 size.
Exit 0 when the goal is met and the stores are identical, 1 otherwise.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

S1_SIZES = tuple(int(s) for s in os.environ.get("FANOUT_BENCH_SIZES", "144,576").split(","))
S2_SIZES = tuple(int(s) for s in os.environ.get("FANOUT_BENCH_S2_SIZES", "144,288").split(","))
GOAL = 0.75
BUCKET = "eopf-geozarr-staging"
# runs the step, then prints its peak RSS on stderr (the executor keeps each attempt's stderr)
RSS_WRAPPER = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); "
               "_, status, usage = os.wait4(p.pid, 0); "
               "print(f'peak_rss_kb={usage.ru_maxrss}', file=sys.stderr); "
               "sys.exit(os.waitstatus_to_exitcode(status))")
STEPS = ("parts", "convert-part", "finalize")


@dataclass
class Pod:
    name: str
    wall_s: float
    peak_rss_mb: float
    work_s: float | None = None

    def __str__(self) -> str:
        work = f", {self.work_s:5.1f} s work" if self.work_s is not None else ""
        return f"{self.name:16s} {self.wall_s:6.1f} s wall{work}, peak {self.peak_rss_mb:4.0f} MB"


@dataclass
class Run:
    wall_s: float  # parts -> finalize
    pods: list[Pod]
    files: dict[str, bytes]
    load: tuple[float, float]  # 1-min load average before and after

    def pod(self, name: str) -> Pod:
        return next(p for p in self.pods if p.name == name)

    @property
    def parts(self) -> list[Pod]:
        return [p for p in self.pods if p.name.startswith("convert-part(")]


def _measured(template_doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(template_doc)
    for t in doc["spec"]["templates"]:
        if t["name"] in STEPS:
            t["container"]["command"] = ["python", "-c", RSS_WRAPPER, *t["container"]["command"]]
    return doc


def _pods(result: Any) -> list[Pod]:
    pods = []
    for t in result.tasks:
        if t.name not in STEPS and not t.name.startswith("convert-part("):
            continue
        if t.name == "convert-part" or not t.attempts:
            continue
        stderr = t.attempts[-1].stderr.read_text() if t.attempts[-1].stderr else ""
        rss = re.findall(r"peak_rss_kb=(\d+)", stderr)
        work = t.outputs.get("seconds") if t.name.startswith("convert-part(") else None
        pods.append(Pod(t.name, t.seconds, int(rss[-1]) / 1024 if rss else float("nan"),
                        float(work) if work else None))
    return pods


def _store(s3: Any, prefix: str) -> dict[str, bytes]:
    client = s3.client()
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            for o in page.get("Contents", [])]
    files = {k.removeprefix(prefix): client.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}
    for own in ("run.json", ".geozarr-runner.json"):
        files.pop(own, None)
    return files


def _run(rendered: Any, doc: dict[str, Any], work: Path, params: dict[str, str], parallelism: int) -> Run:
    from tooling.dag.fanout import run_conversion
    from tooling.dag.objectstore import LoopbackS3

    load0 = os.getloadavg()[0]
    with LoopbackS3() as s3:
        s3.create_bucket(BUCKET)
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=work))
        result = run_conversion(rendered, s3, run_dir, params, parallelism=parallelism, template_doc=doc)
        if result.phase != "Succeeded":
            raise RuntimeError(f"the conversion DAG {result.phase}: {result.message}")
        files = _store(s3, f"geozarr/sentinel-2-l2a-staging/{params['item_id']}.zarr/")
    started = min(t.started for t in result.tasks if t.name == "parts")
    ended = max(t.finished for t in result.tasks if t.name == "finalize")
    return Run(ended - started, _pods(result), files, (load0, os.getloadavg()[0]))


def _print_run(label: str, run: Run) -> None:
    print(f"  {label}: parts -> finalize {run.wall_s:6.1f} s wall "
          f"(load average {run.load[0]:.1f} -> {run.load[1]:.1f})")
    for pod in run.pods:
        print(f"    {pod}")


def _s1_size(rendered: Any, doc: dict[str, Any], work: Path, size: int) -> tuple[float, bool]:
    """Print the figures at one size; return (critical-path work / single work, identical)."""
    from runner.fanout import polarisation_groups
    from runner.sample_s1 import write_sample

    src = work / f"s1_{size}.zarr"
    summary = write_sample(str(src), size=size, seed=1)
    params = {"source_url": str(src), "item_id": f"s1-{size}",
              # preflight's own S1 detection is issue 16 item 2: name groups it finds
              "groups": json.dumps([f"/{g}/measurements" for g in polarisation_groups(str(src))])}
    single = _run(rendered, doc, work, {**params, "fanout_parallelism": '{"s1-grd":1}'}, 2)
    fanned = _run(rendered, doc, work, {**params, "fanout_parallelism": '{"s1-grd":2}'}, 2)
    alone = _run(rendered, doc, work, {**params, "fanout_parallelism": '{"s1-grd":2}'}, 1)
    print(f"s1-grd {size} lines x {summary['pixels']} px, 2 polarisations:")
    _print_run("single pod (baseline)", single)
    _print_run("fanned out, 2 pods at once on 2 cores", fanned)
    _print_run("fanned out, one pod at a time (each part alone)", alone)
    slowest = max(alone.parts, key=lambda p: p.wall_s)
    fin, base = alone.pod("finalize"), single.parts[0]
    critical = slowest.wall_s + fin.wall_s
    base_path = base.wall_s + single.pod("finalize").wall_s
    work_ratio = max(p.work_s or 0.0 for p in alone.parts) / (base.work_s or float("nan"))
    print(f"  critical path (slowest part alone + finalize): {critical:6.1f} s wall vs single pod "
          f"+ finalize {base_path:6.1f} s (ratio {critical / base_path:.2f}); part work "
          f"{max(p.work_s or 0.0 for p in alone.parts):5.1f} s vs {base.work_s or 0.0:5.1f} s "
          f"(ratio {work_ratio:.2f})")
    print(f"  fanned out on 2 cores: {fanned.wall_s:6.1f} s vs {single.wall_s:6.1f} s "
          f"(ratio {fanned.wall_s / single.wall_s:.2f})")
    print(f"  peak RSS per part pod: {max(p.peak_rss_mb for p in fanned.parts):4.0f} MB fanned out, "
          f"{base.peak_rss_mb:4.0f} MB single pod")
    same = single.files == fanned.files == alone.files
    print(f"  stores identical: {'yes' if same else 'NO'} ({len(single.files)} files)", flush=True)
    return work_ratio, same


def _s2_size(rendered: Any, doc: dict[str, Any], work: Path, size: int) -> None:
    from runner.sample_s2 import write_sample

    src = work / f"s2_{size}.zarr"
    write_sample(str(src), size=size, seed=1)
    run = _run(rendered, doc, work, {"source_url": str(src), "item_id": f"s2-{size}",
                                     "fanout_parallelism": '{"s2-l2a":4}'}, 2)
    print(f"s2-l2a {size} px (fanout_parallelism[s2-l2a] = 4, still one part: not splittable):")
    _print_run("one whole part", run)


def main() -> int:
    from tooling.manifests.rendered import render_env

    rendered = render_env("staging")
    doc = _measured(rendered.workflow_template("geozarr-convert"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as tmp:
        work = Path(tmp)
        results = [_s1_size(rendered, doc, work, size) for size in S1_SIZES]
        for size in S2_SIZES:
            _s2_size(rendered, doc, work, size)
    ratio, identical = results[-1][0], all(r[1] for r in results)
    ok = ratio <= GOAL and identical
    print(f"goal: critical-path part work / single pod's work <= {GOAL} at {S1_SIZES[-1]} lines: "
          f"{ratio:.2f} ({'met' if ratio <= GOAL else 'MISSED'}); stores identical at every size: "
          f"{'yes' if identical else 'NO'}; {time.perf_counter() - t:.0f} s, load average now "
          f"{os.getloadavg()[0]:.1f}")
    return 0 if ok else 1
