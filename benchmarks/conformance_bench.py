"""Local conformance wall time against a bare `eopf-geozarr convert` of the same sample.

The sample is the one the DAG's `sample` step makes (same size and seed: deterministic), made
once beforehand for the baseline. Two DAG runs: with `--output` (a local directory stands in for
the bucket, like the baseline's local disk) and the default, `invoke conformance`'s own mode (an
S3 API on loopback: every byte goes over HTTP to moto), both with the steps started from the
executor's fork server (tooling.dag.launcher); and a third, the S3 one with every step a plain
process (`fork_server=False`: what the executor did before, the "before" figure). Goal: <= 1.3x
the bare conversion at 1098 px, for the two fork-server runs.

Two baselines, both printed against every run (with and without the DAG's `sample` step):
- "bare local": `eopf-geozarr convert` local disk -> local disk, the issue's baseline: the goal's
  verdict and the exit code are on it;
- "bare S3": the same command reading the sample from, and writing its output to, a loopback S3
  server (moto in this process, tooling.dag.objectstore.LoopbackS3, as a DAG run has it in the
  executor's; the subprocess gets its AWS_* variables). Storage-matched for the S3 runs
  (`--output local` is matched with "bare local"), printed beside the verdict, informative.
  eopf-geozarr writes its output to S3 object by object (at 144 px about 6,300 requests, 5,300
  of them HEAD, GET and listings on the output: 92 s against 9 s local), where the DAG's convert
  step converts to local disk and uploads the finished store with GEOZARR_UPLOAD_CONCURRENCY
  (default 32) PUTs in flight: this baseline is far slower than the local one.

Where the time goes, per task: its seconds in each run, and how much of a step's process went
to importing Python modules: a third, instrumented run (S3 mode, IMPORT_SIZE px: imports do not
depend on the size) runs every pod with PYTHONPROFILEIMPORTTIME and sums each process's top-level
imports, lazy ones included (PYTHONPROFILEIMPORTTIME makes every step a plain process: it is
what each step pays without the fork server). The executor's own time is the wall time no task was running:
start-up (render, S3 server), the gaps between tasks, and the end (report).
Exit 0 when the goal is met, 1 otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tooling.dag.executor import RunResult, TaskRun
from tooling.dag.localrun import run_local

SIZE = 1098
IMPORT_SIZE = 144
GOAL = 1.3
BARE_BUCKET = "bare"
LOCAL, S3 = "bare local", "bare S3"
STORAGE = {"S3, plain procs": S3, "--output local": LOCAL, "loopback S3": S3}  # each run's storage
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")  # top level: no indent


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} exited {done.returncode}: {done.stderr[-1000:]}")
    return wall


def bare_on_s3(sample: Path) -> float:
    """Seconds of the bare `eopf-geozarr convert` reading SAMPLE from, and writing its output to,
    a loopback S3 server: moto in this process, as the DAG run has it in the executor's
    (LoopbackS3; the subprocess gets its AWS_* variables). The upload is not timed."""
    from tooling.dag.objectstore import LoopbackS3

    with LoopbackS3() as s3:
        s3.create_bucket(BARE_BUCKET)
        client = s3.client()
        for path in sorted(p for p in sample.rglob("*") if p.is_file()):
            client.put_object(Bucket=BARE_BUCKET, Key=f"sample.zarr/{path.relative_to(sample).as_posix()}",
                              Body=path.read_bytes())
        return _timed([_bin("eopf-geozarr"), "convert", f"s3://{BARE_BUCKET}/sample.zarr",
                       f"s3://{BARE_BUCKET}/bare.zarr"], env={**os.environ, **s3.env})


def import_seconds(stderr_log: Path) -> float:
    """Seconds a process spent importing, from its PYTHONPROFILEIMPORTTIME lines on stderr."""
    total_us = 0
    for line in stderr_log.read_text(errors="replace").splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            total_us += int(m.group(1))
    return total_us / 1e6


@dataclass
class DagTiming:
    wall: float
    passed: bool
    tasks: dict[str, float]  # seconds per task
    imports: dict[str, float]  # import seconds per task (instrumented runs only)
    startup: float  # run_local called -> first task started
    gaps: float  # between tasks: wall no task was running, after start-up and before the end
    end: float  # last task finished -> run_local returned (reading and writing the report)


def _covered(tasks: list[TaskRun]) -> float:
    spans = sorted((t.started, t.finished) for t in tasks if t.started is not None and t.finished)
    total, cur_start, cur_end = 0.0, None, None
    for s, e in spans:
        if cur_end is None or s > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def timing(result: RunResult, t0: float, t1: float, passed: bool, instrumented: bool) -> DagTiming:
    ran = [t for t in result.tasks if t.started is not None and t.finished is not None]
    first = min(t.started for t in ran)
    last = max(t.finished for t in ran)
    imports = {}
    if instrumented:
        imports = {t.name: sum(import_seconds(a.stderr) for a in t.attempts if a.stderr and a.stderr.exists())
                   for t in ran}
    return DagTiming(wall=t1 - t0, passed=passed, tasks={t.name: t.seconds for t in result.tasks},
                     imports=imports, startup=first - t0, gaps=(last - first) - _covered(ran), end=t1 - last)


def run_dag(output: str | None, instrumented: bool = False, size: int = SIZE,
            fork_server: bool = True) -> DagTiming:
    env = {"PYTHONPROFILEIMPORTTIME": "1"} if instrumented else {}
    t0 = time.time()
    outcome = run_local("staging", size=size, parallelism=2, output=output, extra_env=env,
                        fork_server=fork_server)
    t1 = time.time()
    assert outcome.result is not None
    measured = timing(outcome.result, t0, t1, outcome.report.passed, instrumented)
    if outcome.report.passed:
        shutil.rmtree(outcome.run_dir, ignore_errors=True)
    else:
        print(f"  (run failed: kept {outcome.run_dir})", flush=True)
    return measured


def table(runs: dict[str, DagTiming], bares: dict[str, float], imports: dict[str, float]) -> list[str]:
    """Seconds per task and run, then each run's ratio to each baseline (BARES: name -> seconds),
    with and without the `sample` step (which no bare conversion runs)."""
    names = list(next(iter(runs.values())).tasks)
    heads = "".join(f"{m:>16}" for m in runs)
    lines = [f"{'task':<26}{heads}{'import (plain)':>17}"]
    for n in names:
        cells = "".join(f"{r.tasks.get(n, 0.0):16.1f}" for r in runs.values())
        lines.append(f"{n:<26}{cells}{imports.get(n, 0.0):17.1f}")
    for label, attr in (("executor start", "startup"), ("executor gaps", "gaps"), ("executor end", "end"),
                        ("wall", "wall")):
        cells = "".join(f"{getattr(r, attr):16.1f}" for r in runs.values())
        total = f"{sum(imports.values()):17.1f}" if label == "wall" and imports else ""
        lines.append(f"{label:<26}{cells}{total}")
    for name, bare in bares.items():
        lines.append(f"{'ratio / ' + name:<26}" + "".join(f"{r.wall / bare:16.2f}" for r in runs.values()))
        lines.append(f"{'  w/o sample / ' + name:<26}" + "".join(
            f"{(r.wall - r.tasks.get('sample', 0.0)) / bare:16.2f}" for r in runs.values()))
    return lines


def main() -> int:
    try:
        return _bench()
    except RuntimeError as e:  # a step of the baseline failed: one line, no traceback
        print(f"conformance bench: cannot run: {str(e).splitlines()[0][:500]}", file=sys.stderr)
        return 2


def _bench() -> int:
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp:
        sample = Path(tmp) / "sample.zarr"
        made = _timed([_bin("geozarr-runner"), "sample", str(sample), "--size", str(SIZE), "--seed", "0",
                       "--quiet"])
        bares = {LOCAL: _timed([_bin("eopf-geozarr"), "convert", str(sample), str(Path(tmp) / "bare.zarr")]),
                 S3: bare_on_s3(sample)}
        print(f"sample {SIZE} px, local disk: {made:.1f} s; bare eopf-geozarr convert: local disk -> "
              f"local disk {bares[LOCAL]:.1f} s, loopback S3 -> loopback S3 {bares[S3]:.1f} s", flush=True)
        runs = {
            "S3, plain procs": run_dag(None, fork_server=False),
            "--output local": run_dag(str(Path(tmp) / "dag-out")),
            "loopback S3": run_dag(None),
        }
        imports = run_dag(None, instrumented=True, size=IMPORT_SIZE).imports
    print(f"baselines: {LOCAL!r} = eopf-geozarr convert, local disk -> local disk (the issue's); "
          f"{S3!r} = the same reading and writing the loopback S3 (moto) a DAG run uses")
    for line in table(runs, bares, imports):
        print(line)
    return verdict(runs, bares)


def verdict(runs: dict[str, DagTiming], bares: dict[str, float]) -> int:
    """Print the goal on the issue's baseline (exit code) and the storage-matched comparison."""
    forked = {name: r for name, r in runs.items() if "plain" not in name}
    passed = all(r.passed for r in runs.values())
    worst = max(r.wall for r in forked.values()) / bares[LOCAL]
    print(f"goal (issue #10: <= {GOAL}x bare eopf-geozarr convert, local disk -> local disk, "
          f"{bares[LOCAL]:.1f} s): worst with the fork server {worst:.2f}x, plain processes "
          f"{runs['S3, plain procs'].wall / bares[LOCAL]:.2f}x; runs passed: {passed}; "
          f"{'OK' if worst <= GOAL and passed else 'MISS'}")
    for name, r in forked.items():
        bare = bares[STORAGE[name]]
        ratio, without = r.wall / bare, (r.wall - r.tasks.get("sample", 0.0)) / bare
        print(f"storage-matched (informative, not the issue's baseline): {name} / {STORAGE[name]} "
              f"({bare:.1f} s) {ratio:.2f}x ({'within' if ratio <= GOAL else 'above'} {GOAL}x), "
              f"w/o sample {without:.2f}x ({'within' if without <= GOAL else 'above'} {GOAL}x)")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if worst <= GOAL and passed else 1


if __name__ == "__main__":
    sys.exit(main())
