"""`invoke validate` over every env, warm, against its goal of 1.5 s on 2 cores.

Two figures: in-process (`tooling.manifests.validate.run()`, the imports already paid) and as a
process (`python -m invoke validate --json`, what an engineer or CI waits for: interpreter start,
imports, three `kubectl kustomize` renders, every check). Each is the median of a few warm runs
after one warm-up; the ratio is measured / goal (< 1 is within the goal). Exit 1 when the process
figure misses the goal or validate does not pass.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from tooling import repo

GOAL_S = 1.5
RUNS = 5


def _documents() -> int:
    """Documents checked per run (every env), for the per-document figure."""
    from tooling.manifests import validate

    return sum(env["documents"] for env in validate.run(progress=False).envs.values())


def _in_process() -> list[float]:
    from tooling.manifests import validate

    validate.run(progress=False)  # warm-up: imports, schema compilation, page cache
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        validation = validate.run(progress=False)
        times.append(time.perf_counter() - start)
        if not validation.report().passed:
            raise RuntimeError("validate reports errors: run `invoke validate`")
    return times


def _as_process() -> list[float]:
    cmd = [sys.executable, "-m", "invoke", "validate", "--json"]
    subprocess.run(cmd, cwd=repo.ROOT, capture_output=True, check=False)  # warm-up
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=repo.ROOT, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"invoke validate exited {done.returncode}: {last}")
    return times


def main() -> int:
    try:
        print(f"validate over {', '.join(repo.ENVS)}: median of {RUNS} warm runs, goal {GOAL_S:.2f} s", flush=True)
        figures = {"in-process": _in_process(), "process (python -m invoke validate --json)": _as_process()}
    except RuntimeError as e:
        print(f"validate bench: {e}", file=sys.stderr)
        return 1
    worst = 0
    documents = _documents()
    for name, times in figures.items():  # the process figure is the one held to the goal
        median = statistics.median(times)
        ratio = median / GOAL_S
        verdict = "within goal" if ratio <= 1 else "OVER GOAL"
        per_doc = median / documents * 1e3 if documents else 0.0
        print(f"  {name:<46} median {median:6.3f} s  min {min(times):6.3f} s  "
              f"{per_doc:6.2f} ms/doc ({documents} docs)  ratio {ratio:4.2f}  {verdict}")
        if name != "in-process" and ratio > 1:
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
