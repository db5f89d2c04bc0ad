"""Local conformance wall time against a bare `eopf-geozarr convert` of the same sample.

The sample is the one the DAG's `sample` step makes (same size and seed: deterministic), made
once beforehand for the baseline. Two DAG runs: with `--output` (a local directory stands in for
the bucket, like the baseline's local disk) and the default (an S3 API on loopback: every byte
goes over HTTP to moto). Goal: the local-directory run <= 1.3x the bare conversion at 1098 px.
Exit 0 when the goal is met, 1 otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.dag.localrun import run_local

SIZE = 1098
GOAL = 1.3


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} exited {done.returncode}: {done.stderr[-1000:]}")
    return wall


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp:
        sample = Path(tmp) / "sample.zarr"
        _timed([_bin("geozarr-runner"), "sample", str(sample), "--size", str(SIZE), "--seed", "0", "--quiet"])
        bare = _timed([_bin("eopf-geozarr"), "convert", str(sample), str(Path(tmp) / "bare.zarr")])
        print(f"bare eopf-geozarr convert, {SIZE} px, local disk: {bare:.1f} s", flush=True)

        results: dict[str, tuple[float, bool, dict[str, float]]] = {}
        for mode, output in (("local directory (--output)", str(Path(tmp) / "dag-out")), ("S3 on loopback", None)):
            start = time.perf_counter()
            outcome = run_local("staging", size=SIZE, parallelism=2, output=output)
            wall = time.perf_counter() - start
            tasks = {t["name"]: float(t["seconds"]) for t in outcome.report["tasks"]}
            results[mode] = (wall, bool(outcome.report["passed"]), tasks)
            shutil.rmtree(outcome.run_dir, ignore_errors=True)
            steps = ", ".join(f"{k} {v:.1f}" for k, v in tasks.items())
            print(f"conformance DAG, {mode}: {wall:.1f} s (passed={outcome.report['passed']}; {steps})",
                  flush=True)
    ratio = results["local directory (--output)"][0] / bare
    s3_ratio = results["S3 on loopback"][0] / bare
    wall, _, tasks = results["local directory (--output)"]
    print(f"ratio local-directory DAG / bare convert: {ratio:.2f} (goal <= {GOAL}); without the sample "
          f"step ({tasks.get('sample', 0.0):.1f} s, making the input the baseline is given): "
          f"{(wall - tasks.get('sample', 0.0)) / bare:.2f}")
    print(f"ratio loopback-S3 DAG / bare convert: {s3_ratio:.2f}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
