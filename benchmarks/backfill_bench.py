"""Backfill speed goals (#10), on a real STAC API (PostgreSQL + pgSTAC + stac-fastapi-pgstac) on
loopback, started for the run:

- registration: bulk upsert (`bulk-register`'s chunks) vs one POST per item (`register`), same
  items. Goals: bulk >= 100 items/s and >= 40x the sequential rate. Baseline: the team's 412 ms
  per item sequentially (2.4 items/s) is printed beside ours.
- planning: the plan step's search and selection over a source collection of 50,000 items.
  Goal >= 2,000 items/s; peak RSS at 10k and 50k planned (a fresh process each) must not grow
  with the collection (the plan streams pages).

BACKFILL_BENCH_ITEMS (default 1000) and BACKFILL_BENCH_CATALOG (default 50000) size the runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ITEMS = int(os.environ.get("BACKFILL_BENCH_ITEMS", "1000"))
CATALOG = int(os.environ.get("BACKFILL_BENCH_CATALOG", "50000"))
TEAM_SECONDS_PER_ITEM = 0.412


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


def main() -> int:
    api_gen = _api()
    api = next(api_gen)
    try:
        sequential, bulk = bench_registration(api.url)
        planning = bench_planning(api.url)
    finally:
        api_gen.close()
    ok = bulk >= 100 and bulk / sequential >= 40
    print(f"registration, {ITEMS} items: sequential {sequential:.1f} items/s "
          f"(team baseline {1 / TEAM_SECONDS_PER_ITEM:.1f}), bulk {bulk:.1f} items/s; "
          f"bulk/sequential {bulk / sequential:.1f}x (goal >= 40x), bulk/team {bulk * TEAM_SECONDS_PER_ITEM:.0f}x; "
          f"{'OK' if ok else 'MISS'}")
    worst = 0 if ok else 1
    for planned, seconds, rss in planning:
        rate = planned / seconds
        print(f"planning {planned} of {CATALOG} items: {seconds:.2f} s, {rate:.0f} items/s "
              f"(goal >= 2000, ratio {rate / 2000:.2f}), peak RSS {rss} MB")
        worst = max(worst, 0 if rate >= 2000 else 1)
    return worst
