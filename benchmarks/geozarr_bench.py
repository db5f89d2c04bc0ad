"""Benchmark of `geozarr-conformance geozarr` on a full 10980 px Sentinel-2 L2A store.

The store is built once (runner sample --size 10980, then `eopf-geozarr convert
--spatial-chunk 1024`, ~1-2 min) and cached under build/bench/. Measured:
- the complete check (metadata, sampling, GDAL interop) in-process and as a whole
  process, on local disk, against the 2 s goal;
- the same against a moto S3 server on loopback: the requests the report counts (the
  checker's own and GDAL's, from its network statistics) and the requests the server
  really received; goal: ≤ 30 besides samples for the complete check, GDAL included;
- `eopf-geozarr validate` on the same store (whole process), the baseline.
Prints the ratios; exit 1 when a goal is missed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tooling.repo import BUILD

SIZE = 10980
BENCH = BUILD / "bench"
GOAL_SECONDS = 2.0
GOAL_METADATA_REQUESTS = 30


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def ensure_store() -> Path:
    out = BENCH / f"s2l2a-{SIZE}-c1024.zarr"
    done = BENCH / f"s2l2a-{SIZE}-c1024.done"
    if done.exists():
        return out
    BENCH.mkdir(parents=True, exist_ok=True)
    src = BENCH / f"sample-{SIZE}.zarr"
    print(f"building the benchmark store once: {out} (takes 1-2 min)", file=sys.stderr, flush=True)
    if not (BENCH / f"sample-{SIZE}.done").exists():
        subprocess.run([sys.executable, "-m", "runner", "sample", str(src), "--size", str(SIZE), "--quiet"],
                       check=True)
        (BENCH / f"sample-{SIZE}.done").write_text("ok")
    subprocess.run([_bin("eopf-geozarr"), "convert", str(src), str(out), "--spatial-chunk", "1024"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done.write_text("ok")
    return out


def _timed_process(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0, proc.returncode


class _CountingApp:
    """WSGI middleware counting the requests a moto server receives."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: object) -> object:
        with self.lock:
            self.count += 1
        return self.app(environ, start_response)  # type: ignore[operator]


def _s3_round(store: Path) -> dict[str, object]:
    import boto3
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    app = _CountingApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_ENDPOINT_URL": endpoint,
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        boto3.client("s3").create_bucket(Bucket="bench")
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        t0 = time.perf_counter()
        fs.put(str(store), "bench/s.zarr", recursive=True)
        upload = time.perf_counter() - t0
        from conformance.geozarr.check import check_store

        before = app.count
        t0 = time.perf_counter()
        report = check_store("s3://bench/s.zarr")
        seconds = time.perf_counter() - t0
        served = app.count - before
        return {"seconds": seconds, "upload_seconds": upload, "io": report.io, "served": served,
                "errors": [f.to_dict() for f in report.findings if f.severity == "error"]}
    finally:
        server.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> int:
    store = ensure_store()
    from conformance.geozarr.check import check_store

    # in-process (warm imports excluded from the first figure by a warm-up run)
    check_store(str(store))
    t0 = time.perf_counter()
    report = check_store(str(store))
    inproc = time.perf_counter() - t0
    proc_s, rc = _timed_process([sys.executable, "-m", "conformance", "geozarr", str(store), "--json"])
    val_s, val_rc = _timed_process([_bin("eopf-geozarr"), "validate", str(store)])
    s3 = _s3_round(store)
    io = s3["io"]
    by_kind = io["by_kind"]  # type: ignore[index]
    metadata_requests = by_kind.get("metadata", 0) + by_kind.get("list", 0)
    sample_requests = by_kind.get("sample", 0)
    gdal_requests = by_kind.get("gdal", 0)
    uncounted = s3["served"] - io["requests"]  # type: ignore[index,operator]
    # The goal counts a complete check: GDAL's interop reads are not samples, so they count.
    complete_requests = metadata_requests + gdal_requests + uncounted
    errors = [f for f in report.findings if f.severity == "error"]
    print(f"store: {store} ({report.io['objects_listed']} objects, {report.io['nodes']} nodes)")
    print(f"local, in-process:   {inproc:.2f} s (goal {GOAL_SECONDS} s: ratio {inproc / GOAL_SECONDS:.2f}); "
          f"phases {report.phases}")
    print(f"local, whole process: {proc_s:.2f} s (exit {rc}); eopf-geozarr validate {val_s:.2f} s (exit {val_rc}); "
          f"ratio ours/validate {proc_s / val_s:.2f}")
    print(f"s3 (moto, loopback): {s3['seconds']:.2f} s; requests in the report {io['requests']} "  # type: ignore[index]
          f"(metadata+list {metadata_requests}, samples {sample_requests}, GDAL's own {gdal_requests}); "
          f"server received {s3['served']} ({uncounted} not in the report: GDAL's listings its statistics "
          f"leave out); bytes {io['bytes']}")  # type: ignore[index]
    print(f"requests besides samples: checker {metadata_requests} (ratio to the {GOAL_METADATA_REQUESTS} goal "
          f"{metadata_requests / GOAL_METADATA_REQUESTS:.2f}); with GDAL interop {complete_requests} "
          f"(ratio {complete_requests / GOAL_METADATA_REQUESTS:.2f})")
    print(f"findings (the converter's, reported not judged here): {len(errors)} errors locally, "
          f"{len(s3['errors'])} on s3")  # type: ignore[arg-type]
    for f in errors:
        print(f"  {f.rule} {f.path}: {f.message}")
    same = sorted((f.rule, f.path) for f in errors) == sorted((f["rule"], f["path"]) for f in s3["errors"])  # type: ignore[union-attr]
    print(f"same findings locally and on s3: {same}")
    checks = {"2 s in-process": inproc <= GOAL_SECONDS,
              f"<= {GOAL_METADATA_REQUESTS} requests besides samples, GDAL interop included":
                  complete_requests <= GOAL_METADATA_REQUESTS,
              "no slower than eopf-geozarr validate": proc_s <= val_s, "same findings local/s3": same}
    missed = [name for name, good in checks.items() if not good]
    ok = not missed
    print("PASS" if ok else f"MISS: {'; '.join(missed)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
