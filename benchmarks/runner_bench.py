"""Runner overhead: `geozarr-runner convert` against bare `eopf-geozarr convert`.

Both convert the same 1098 px synthetic S2 L2A sample (written once by
`runner sample`) with the same parameters (spatial chunk 4096, no sharding,
compression level 3), each in its own process; wall time and peak RSS come
from `os.wait4` of that process. Runs alternate (bare, runner, bare, runner,
...) and the best of N counts, so a busy shared machine hurts both alike.

Goal: runner / bare wall time <= 1.1.

Also measured, each in its own process:
- `runner sample` at 1098 px (goal <= 1.5 s wall; `RUNNER_BENCH_FULL=1` adds the full
  10980 px tile, goal <= 60 s);
- `runner convert` to `s3://` on a loopback S3 server (moto) at 144 and 1098 px: the output
  is staged in a scratch directory and uploaded at the end (figures from run.json timings).

Exit 0 when every goal is met, 1 otherwise.
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
SAMPLE_GOALS = {1098: 1.5, 10980: 60.0}  # seconds, whole process
S3_SIZES = (144, 1098)


@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float


def run_process(cmd: list[str], env: dict[str, str]) -> Run:
    """Run CMD; its wall seconds and peak RSS (os.wait4). RuntimeError with its stderr tail on failure."""
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


def _sample_figures(work: Path, env: dict[str, str]) -> bool:
    sizes = [1098] + ([10980] if os.environ.get("RUNNER_BENCH_FULL") else [])
    ok = True
    for size in sizes:
        out = work / f"sample_{size}.zarr"
        runs = [run_process([sys.executable, "-m", "runner", "sample", str(out), "--size", str(size), "--quiet"], env)
                for _ in range(1 if size > 5000 else RUNS)]
        best = min(runs, key=lambda r: r.wall_s)
        goal = SAMPLE_GOALS[size]
        print(f"runner sample {size} px (best of {len(runs)}): {best.wall_s:.2f} s, peak RSS "
              f"{best.peak_rss_mb:.0f} MB (goal <= {goal:.1f} s)")
        ok &= best.wall_s <= goal
        shutil.rmtree(out, ignore_errors=True)
    return ok


def _s3_figures(work: Path, env: dict[str, str]) -> None:
    import json
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3_env = {**env, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                  "GEOZARR_SCRATCH_DIR": str(work / "scratch")}
        client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], aws_access_key_id="bench",
                              aws_secret_access_key="bench", region_name="us-east-1")
        client.create_bucket(Bucket="runner-bench")
        for size in S3_SIZES:
            sample = work / f"S2_s3_{size}.zarr"
            subprocess.run([sys.executable, "-m", "runner", "sample", str(sample), "--size", str(size), "--quiet"],
                           check=True, env=env)
            key = f"bench/S2_s3_{size}.zarr"
            run = run_process([sys.executable, "-m", "runner", "convert", str(sample), f"s3://runner-bench/{key}",
                            "--collection", "bench", "--quiet"], s3_env)
            doc = json.loads(client.get_object(Bucket="runner-bench", Key=f"{key}/run.json")["Body"].read())
            t = doc["timings"]
            print(f"runner convert {size} px to s3:// (loopback moto, staged): {run.wall_s:.2f} s wall, "
                  f"convert {t['convert']:.2f} s, repair {t['repair']:.2f} s, upload {t['upload']:.2f} s "
                  f"({doc['output']['objects']} objects, {doc['output']['bytes'] / 1e6:.1f} MB), "
                  f"peak RSS {run.peak_rss_mb:.0f} MB")
    finally:
        server.stop()


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
            bare.append(run_process([bare_exe, "convert", str(sample), str(out_b), "--spatial-chunk", "4096"], env))
            runner.append(run_process([sys.executable, "-m", "runner", "convert", str(sample), str(out_r),
                                    "--spatial-chunk", "4096", "--compression-level", "3",
                                    "--collection", "bench", "--quiet"], env))
            print(f"  run {i + 1}: bare {bare[-1].wall_s:.2f} s / {bare[-1].peak_rss_mb:.0f} MB, "
                  f"runner {runner[-1].wall_s:.2f} s / {runner[-1].peak_rss_mb:.0f} MB", flush=True)
            shutil.rmtree(out_b, ignore_errors=True)
            shutil.rmtree(out_r, ignore_errors=True)
        b = min(bare, key=lambda r: r.wall_s)
        r = min(runner, key=lambda r: r.wall_s)
        wall_ratio = r.wall_s / b.wall_s
        rss_ratio = max(x.peak_rss_mb for x in runner) / max(x.peak_rss_mb for x in bare)
        print(f"eopf-geozarr convert ({SIZE} px, best of {RUNS}): {b.wall_s:.2f} s, "
              f"peak RSS {max(x.peak_rss_mb for x in bare):.0f} MB")
        print(f"geozarr-runner convert (+preflight, repair, manifest): {r.wall_s:.2f} s, "
              f"peak RSS {max(x.peak_rss_mb for x in runner):.0f} MB")
        print(f"ratio wall {wall_ratio:.3f} (goal <= {GOAL}), ratio peak RSS {rss_ratio:.3f}", flush=True)
        sample_ok = _sample_figures(work, env)
        _s3_figures(work, env)
        return 0 if wall_ratio <= GOAL and sample_ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
