"""`invoke validate` over every env, warm, against its goal of 1.5 s on 2 cores.

Figures: in-process (`tooling.manifests.validate.run()`, the imports already paid) and as a
process (`python -m invoke validate --json`, what an engineer or CI waits for: interpreter start,
imports, every check; warm: kubectl's and promtool's results read back from build/cache/tools
for unchanged inputs). Each is the median of a few warm runs after one warm-up, with its cost per
rendered document; the ratio is measured / goal (< 1 is within the goal). One cold run
(`--no-cache`: every kubectl and promtool process runs) is shown for scale, not held to the goal.
Whether Python's bytecode is cached is printed too: with PYTHONDONTWRITEBYTECODE set and a venv
synced without `--compile-bytecode`, every process compiles its imports (~0.4 s of CPU).
Exit 1 when the warm process figure misses the goal or validate does not pass.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _as_process(runs: int = RUNS, *flags: str) -> tuple[list[float], list[float]]:
    """Wall seconds of each run, and its CPU seconds (user + sys, its kubectl/promtool included)."""
    cmd = [sys.executable, "-m", "invoke", "validate", "--json", *flags]
    if runs > 1:
        subprocess.run(cmd, cwd=repo.ROOT, capture_output=True, check=False)  # warm-up
    times, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run(cmd, cwd=repo.ROOT, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"invoke validate exited {done.returncode}: {last}")
    return times, cpus


def _bytecode() -> str:
    """Whether the imports of a validate process have cached bytecode (site-packages, this repo)."""
    import importlib.util

    import invoke

    def cached(module_file: str) -> bool:
        return Path(importlib.util.cache_from_source(module_file)).is_file()

    import tooling.manifests.validate as ours
    state = {"site-packages": cached(invoke.__file__), "repo sources": cached(ours.__file__)}
    return ", ".join(f"{k} {'compiled' if v else 'NOT compiled'}" for k, v in state.items()) + (
        f"; PYTHONDONTWRITEBYTECODE={'set' if sys.flags.dont_write_bytecode else 'unset'}")


def main() -> int:
    try:
        print(f"validate over {', '.join(repo.ENVS)}: median of {RUNS} warm runs, goal {GOAL_S:.2f} s", flush=True)
        print(f"  bytecode: {_bytecode()}", flush=True)
        warm, warm_cpu = _as_process()
        cold, cold_cpu = _as_process(1, "--no-cache")
        figures = {"in-process": _in_process(), "process (python -m invoke validate --json)": warm,
                   "cold process (--no-cache, 1 run, not held to the goal)": cold}
    except RuntimeError as e:
        print(f"validate bench: {e}", file=sys.stderr)
        return 1
    worst = 0
    documents = _documents()
    for name, times in figures.items():  # the warm process figure is the one held to the goal
        median = statistics.median(times)
        ratio = median / GOAL_S
        verdict = "within goal" if ratio <= 1 else "OVER GOAL"
        per_doc = median / documents * 1e3 if documents else 0.0
        print(f"  {name:<54} median {median:6.3f} s  min {min(times):6.3f} s  "
              f"{per_doc:6.2f} ms/doc ({documents} docs)  ratio {ratio:4.2f}  {verdict}")
        if name.startswith("process") and ratio > 1:
            worst = 1
    print(f"  CPU (user+sys, kubectl/promtool included): warm process median "
          f"{statistics.median(warm_cpu):.3f} s, cold process {cold_cpu[0]:.3f} s "
          "(on a loaded machine wall time adds the wait for a core)")
    return worst


if __name__ == "__main__":
    sys.exit(main())
