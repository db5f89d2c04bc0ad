"""Backfill speed goals (#10), on a real STAC API (PostgreSQL + pgSTAC + stac-fastapi-pgstac) on
loopback, started for the run:

- registration: bulk upsert (`bulk-register`'s chunks) vs one POST per item (`register`), same
  items. Goals: bulk >= 100 items/s and >= 40x the sequential rate. Baseline: the team's 412 ms
  per item sequentially (2.4 items/s) is printed beside ours.
- planning: the plan step's search and selection over a source collection of 50,000 items.
  Goal >= 2,000 items/s; peak RSS at 10k and 50k planned (a fresh process each) must not grow
  with the collection (the plan streams pages).

- local backfill (`invoke backfill --local`'s DAG): 12 generated products at 144 px, 2 batches,
  concurrency 2, run with every step a plain process (before) and from the fork server (after).
  Per-product overhead = everything but the conversion itself (eopf-geozarr's `convert` timing
  in the store's run.json): the product's own other work (preflight, checks, STAC item,
  upload), its share of its batch pod's fixed cost (process start, imports), and its share of
  the run outside the convert phase (plan, register, report, executor gaps). Goal: median
  <= 0.5 s.

- steps (`benchmarks/product_steps.py`): where that overhead goes, phase by phase, for one
  product's steps run in this process (wall and CPU seconds, S3 requests), its output a local
  directory and the loopback S3 server. CPU seconds hold under load; wall seconds do not.

BACKFILL_BENCH_ITEMS (default 1000) and BACKFILL_BENCH_CATALOG (default 50000) size the runs;
BACKFILL_BENCH_PARTS (default registration,planning,local,steps) picks the parts.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ITEMS = int(os.environ.get("BACKFILL_BENCH_ITEMS", "1000"))
CATALOG = int(os.environ.get("BACKFILL_BENCH_CATALOG", "50000"))
TEAM_SECONDS_PER_ITEM = 0.412
PARTS = os.environ.get("BACKFILL_BENCH_PARTS", "registration,planning,local,steps").split(",")
LOCAL_PRODUCTS, LOCAL_SIZE, OVERHEAD_GOAL = 12, 144, 0.5


def _api():
    from tests.fixtures_stacapi import stac_api

    return stac_api.__wrapped__()


def _items(collection: str, count: int, prefix: str) -> list[dict]:
    from tests.stacapi.items import make_item

    return [make_item(f"{prefix}-{n:06d}", collection) for n in range(count)]


def _collection(url: str, name: str) -> None:
    from runner.register import collection_for

    requests.post(f"{url}/collections", json=collection_for({}, name), timeout=60).raise_for_status()


def bench_registration(url: str) -> tuple[float, float]:
    """(sequential items/s, bulk items/s) on ITEMS items each."""
    from runner import register
    from runner.backfill.bulk_register import Policy, register_all
    from runner.events import EventLog

    log = EventLog("bench", quiet=True)
    with tempfile.TemporaryDirectory() as tmp, register._session() as session:
        api = register.Api(url=url, session=session, timeout=60)
        _collection(url, "seq")
        t0 = time.perf_counter()
        for item in _items("seq", ITEMS, "s"):
            register.upsert_item(api, item, "seq", log)
        sequential = ITEMS / (time.perf_counter() - t0)
        uris = []
        for item in _items("bulk", ITEMS, "b"):
            path = Path(tmp) / f"{item['id']}.json"
            path.write_text(json.dumps(item))
            uris.append(str(path))
        _collection(url, "bulk")
        t0 = time.perf_counter()
        outcome = register_all(api, register.collection_for({}, "bulk"), uris, Policy(), log)
        bulk = ITEMS / (time.perf_counter() - t0)
        assert outcome.registered == ITEMS and not outcome.dead, outcome.dead[:3]
    return sequential, bulk


def _plan_in_a_process(url: str, collection: str, limit: int) -> tuple[float, int]:
    """(seconds, peak RSS in MB) of one plan step planning LIMIT products, in its own process
    (the step's own time: the interpreter's start and imports are not counted)."""
    with tempfile.TemporaryDirectory() as tmp:
        step = ["plan", "--source-api", url, "--collection", collection, "--from", "2000-01-01",
                "--to", "2100-01-01", "--limit", str(limit), "--page-size", "1000",
                "--output-root", f"{tmp}/stores", "--plan", f"{tmp}/plan.jsonl", "--quiet"]
        code = ("import resource, sys, time\nfrom runner.cli import main\nt0 = time.perf_counter()\n"
                f"code = main({step!r})\nseconds = time.perf_counter() - t0\n"
                "print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(code)")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(done.stderr[-500:])
        seconds_text, rss_kb = done.stdout.split()
        planned = sum(1 for _ in open(f"{tmp}/plan.jsonl"))  # noqa: SIM115
        assert planned == limit, (planned, limit)
    return float(seconds_text), int(rss_kb) // 1024


def bench_planning(url: str) -> list[tuple[int, float, int]]:
    from tests.backfill.catalog import seed_source

    collection = seed_source(url, CATALOG)
    return [(n, *_plan_in_a_process(url, collection, n)) for n in (min(10_000, CATALOG), CATALOG)]


def _overheads(result, bucket: Path, state: Path) -> tuple[list[float], dict[str, float]]:
    """Per-product overhead seconds of a finished local backfill, and the run's parts."""
    from runner.backfill.plan import read_plan

    entries = {e.item: e for e in read_plan(str(state / "plan.jsonl")) or []}
    outcomes = {p.stem: json.loads(p.read_text()) for p in (state / "status").glob("*.json")}
    batches = [t for t in result.tasks if t.template == "convert-batch"]
    span = max(t.finished for t in batches) - min(t.started for t in batches)
    outside = (result.seconds - span) / len(outcomes)  # plan, register, report, gaps: shared by all
    per_batch = len(outcomes) / len(batches)
    fixed = (sum(t.seconds for t in batches) - sum(o["seconds"] for o in outcomes.values())) / len(outcomes)
    overheads, converts, in_convert = [], [], []
    for item, outcome in outcomes.items():
        output = entries[item].output  # a local path: the executor maps the bucket to a directory
        run_json = (bucket / output.split("://", 1)[1].split("/", 1)[1] if "://" in output
                    else Path(output)) / "run.json"
        timings = json.loads(run_json.read_text())["timings"]
        convert = timings["convert"]
        converts.append(convert)
        in_convert.append(timings["total"] - convert)  # preflight, repair, upload, manifest
        overheads.append(outcome["seconds"] - convert + fixed + outside)
    parts = {"wall": result.seconds, "outside convert phase / product": outside,
             "batch pods' fixed cost / product": fixed, "batches": len(batches),
             "products per batch": per_batch, "conversion median": statistics.median(converts),
             "convert step's other work median (preflight, repair, upload, run.json)":
                 statistics.median(in_convert),
             "checks + STAC item median": statistics.median(
                 o["seconds"] - t - c for o, t, c in zip(outcomes.values(), in_convert, converts,
                                                         strict=True))}
    return overheads, parts


def bench_local(fork_server: bool, products: list[Path]) -> tuple[list[float], dict[str, float]]:
    """One local backfill of the products (its own catalog and state)."""
    from tooling.backfill import local
    from tooling.dag.launcher import Launcher
    from tooling.dag.progress import Progress

    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as tmp:
        job = local.LocalBackfill(products=len(products), size=LOCAL_SIZE, limit=len(products),
                                  batches=2, parallelism=2, state_dir=Path(tmp), fork_server=fork_server)
        with Launcher(Path(tmp) / "forkserver.log", use_server=fork_server) as launcher:
            launcher.start()
            with local.catalog() as api_url:
                local.seed_source(api_url, products)
                result, bucket, prefix = local.execute(job, api_url, Progress(quiet=True), launcher)
        assert result.phase == "Succeeded", result.message
        return _overheads(result, bucket, bucket / prefix / "backfill" / local.RUN)


def local_backfill() -> int:
    from tooling.backfill import local
    from tooling.dag.progress import Progress

    with tempfile.TemporaryDirectory(prefix="backfill-bench-products-") as tmp:
        products = local.write_products(Path(tmp), LOCAL_PRODUCTS, LOCAL_SIZE, Progress(quiet=True))
        runs = {"plain processes": bench_local(False, products), "fork server": bench_local(True, products)}
    print(f"local backfill, {LOCAL_PRODUCTS} products at {LOCAL_SIZE} px, 2 batches, concurrency 2 "
          f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}):")
    medians = {}
    for name, (overheads, parts) in runs.items():
        medians[name] = statistics.median(overheads)
        detail = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in parts.items())
        print(f"  {name}: per-product overhead median {medians[name]:.2f} s "
              f"(min {min(overheads):.2f}, max {max(overheads):.2f}); {detail}")
    after = medians["fork server"]
    print(f"  per-product overhead median {after:.2f} s with the fork server, "
          f"{medians['plain processes']:.2f} s with plain processes (goal <= {OVERHEAD_GOAL}, ratio "
          f"{after / OVERHEAD_GOAL:.2f}); {'OK' if after <= OVERHEAD_GOAL else 'MISS'}")
    return 0 if after <= OVERHEAD_GOAL else 1


def main() -> int:
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    worst = local_backfill() if "local" in PARTS else 0
    if "steps" in PARTS:
        from benchmarks import product_steps

        worst = max(worst, product_steps.main(products=4, size=LOCAL_SIZE, goal=OVERHEAD_GOAL))
    if "registration" in PARTS or "planning" in PARTS:
        worst = max(worst, catalog_benches())
    return worst


def catalog_benches() -> int:
    api_gen = _api()
    api = next(api_gen)
    try:
        sequential, bulk = bench_registration(api.url) if "registration" in PARTS else (1.0, 0.0)
        planning = bench_planning(api.url) if "planning" in PARTS else []
    finally:
        api_gen.close()
    worst = 0
    if "registration" in PARTS:
        worst = report_registration(sequential, bulk)
    for planned, seconds, rss in planning:
        rate = planned / seconds
        print(f"planning {planned} of {CATALOG} items: {seconds:.2f} s, {rate:.0f} items/s "
              f"(goal >= 2000, ratio {rate / 2000:.2f}), peak RSS {rss} MB")
        worst = max(worst, 0 if rate >= 2000 else 1)
    return worst


def report_registration(sequential: float, bulk: float) -> int:
    ok = bulk >= 100 and bulk / sequential >= 40
    print(f"registration, {ITEMS} items: sequential {sequential:.1f} items/s "
          f"(team baseline {1 / TEAM_SECONDS_PER_ITEM:.1f}), bulk {bulk:.1f} items/s; "
          f"bulk/sequential {bulk / sequential:.1f}x (goal >= 40x), bulk/team {bulk * TEAM_SECONDS_PER_ITEM:.0f}x; "
          f"{'OK' if ok else 'MISS'}")
    return 0 if ok else 1
