"""Runner overhead: `geozarr-runner convert` against bare `eopf-geozarr convert`.

Both convert the same 1098 px synthetic S2 L2A sample (written once by
`runner sample`) with the same parameters (spatial chunk 4096, no sharding,
compression level 3), each in its own process; wall time and peak RSS come
from `os.wait4` of that process. Runs alternate (bare, runner, bare, runner,
...) and the best of N counts, so a busy shared machine hurts both alike.

Goal: runner / bare wall time <= 1.1. Exit 0 when met, 1 otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SIZE = 1098
RUNS = 3
GOAL = 1.10


@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float


def _measure(cmd: list[str], env: dict[str, str]) -> Run:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {err.decode()[-1500:]}")
    return Run(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024.0)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    env = dict(os.environ)
    env.pop("GEOZARR_PARAMS_DIR", None)
    try:
        sample = work / "S2_bench.zarr"
        print(f"writing a {SIZE} px sample ...", flush=True)
        subprocess.run([sys.executable, "-m", "runner", "sample", str(sample), "--size", str(SIZE), "--quiet"],
                       check=True, env=env)
        bare_exe = shutil.which("eopf-geozarr") or str(Path(sys.executable).parent / "eopf-geozarr")
        bare: list[Run] = []
        runner: list[Run] = []
        for i in range(RUNS):
            out_b, out_r = work / f"bare{i}.zarr", work / f"runner{i}.zarr"
            bare.append(_measure([bare_exe, "convert", str(sample), str(out_b), "--spatial-chunk", "4096"], env))
            runner.append(_measure([sys.executable, "-m", "runner", "convert", str(sample), str(out_r),
                                    "--spatial-chunk", "4096", "--compression-level", "3",
                                    "--collection", "bench", "--quiet"], env))
            print(f"  run {i + 1}: bare {bare[-1].wall_s:.2f} s / {bare[-1].peak_rss_mb:.0f} MB, "
                  f"runner {runner[-1].wall_s:.2f} s / {runner[-1].peak_rss_mb:.0f} MB", flush=True)
        b = min(bare, key=lambda r: r.wall_s)
        r = min(runner, key=lambda r: r.wall_s)
        wall_ratio = r.wall_s / b.wall_s
        rss_ratio = max(x.peak_rss_mb for x in runner) / max(x.peak_rss_mb for x in bare)
        print(f"eopf-geozarr convert ({SIZE} px, best of {RUNS}): {b.wall_s:.2f} s, "
              f"peak RSS {max(x.peak_rss_mb for x in bare):.0f} MB")
        print(f"geozarr-runner convert (+preflight, repair, manifest): {r.wall_s:.2f} s, "
              f"peak RSS {max(x.peak_rss_mb for x in runner):.0f} MB")
        print(f"ratio wall {wall_ratio:.3f} (goal <= {GOAL}), ratio peak RSS {rss_ratio:.3f}")
        return 0 if wall_ratio <= GOAL else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
