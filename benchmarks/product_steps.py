"""Where one product's non-conversion time goes inside a backfill batch (#10's per-product
overhead), phase by phase: `convert_one` of runner/backfill/batch.py in this process (imports
paid first, as in a batch pod), on a 144 px sample, its output a local directory (what
`invoke backfill --local` maps the bucket to) or the loopback S3 server (what `invoke
conformance` and the cluster use).

For each phase: wall seconds, CPU seconds of this process (every thread; the loopback S3 server
runs in this process too, so its CPU is counted in S3 mode) and the S3 requests the server saw.
Medians over the products after the first (which pays first-use costs). CPU seconds are the
figure that holds under other engineers' load; wall seconds grow with it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# (module, function, label): the convert step's phases; the steps themselves are batch._call
PHASES = (
    ("runner.convert", "_preflight", "convert: preflight (+ read run.json)"),
    ("runner.convert", "_take_over", "convert: take over OUTPUT"),
    ("runner.convert", "_convert", "convert: CONVERSION (eopf-geozarr)"),
    ("runner.convert", "_repair", "convert: repair"),
    ("runner.convert", "_upload", "convert: upload (S3 only)"),
    ("runner.convert", "_write_manifest", "convert: run.json"),
)
CONVERSION = "convert: CONVERSION (eopf-geozarr)"


class Recorder:
    """Wall, CPU and S3 requests of each labelled call (`requests`: the server's count now)."""

    def __init__(self, requests: Callable[[], int]) -> None:
        self.requests = requests
        self.rows: dict[str, list[tuple[float, float, int]]] = defaultdict(list)

    @contextlib.contextmanager
    def measure(self, label: str) -> Iterator[None]:
        t, c, r = time.perf_counter(), time.process_time(), self.requests()
        try:
            yield
        finally:
            self.rows[label].append((time.perf_counter() - t, time.process_time() - c,
                                     self.requests() - r))

    def wrapped(self, function: Callable[..., Any], label: Callable[..., str]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.measure(label(*args)):
                return function(*args, **kwargs)

        return timed


@contextlib.contextmanager
def _instrumented(rec: Recorder) -> Iterator[None]:
    """The convert step's phases and each step of `convert_one` measured, for the block."""
    targets = [(importlib.import_module(m), name, (lambda *_a, _l=label: _l)) for m, name, label in PHASES]
    targets.append((importlib.import_module("runner.backfill.batch"), "_call",
                    lambda step, *_a: f"step {step} (all of it)"))
    originals = [(mod, name, getattr(mod, name)) for mod, name, _ in targets]
    for (mod, name, original), (_, _, label) in zip(originals, targets, strict=True):
        setattr(mod, name, rec.wrapped(original, label))
    try:
        yield
    finally:
        for mod, name, original in originals:
            setattr(mod, name, original)


def run_products(rec: Recorder, products: list[Path], out_root: str, state: str) -> None:
    from runner.backfill.batch import CONVERTED, convert_one
    from runner.backfill.plan import PlanEntry
    from runner.events import EventLog

    log = EventLog("bench", quiet=True)
    for n, path in enumerate(products):
        if n == 1:
            rec.rows.clear()  # the first product pays first-use costs (caches, lazy imports)
        item = path.name.removesuffix(".zarr")
        entry = PlanEntry(item=item, source=str(path), output=f"{out_root}/{path.name}", datetime="")
        with rec.measure("PRODUCT"):
            outcome = convert_one(entry, state, "sentinel-2-l2a", log)
        assert outcome.status == CONVERTED, outcome


def table(rec: Recorder) -> tuple[list[str], float, float]:
    """The lines of the table, and the medians of the non-conversion wall and CPU seconds."""
    med = {label: tuple(statistics.median(r[i] for r in rows) for i in range(3))
           for label, rows in rec.rows.items()}
    lines = [f"    {label:42s} {w:6.3f} s wall {c:6.3f} s CPU {r:5.0f} S3 requests"
             for label, (w, c, r) in med.items() if label != "PRODUCT"]
    own = [[p[i] - c[i] for p, c in zip(rec.rows["PRODUCT"], rec.rows[CONVERSION], strict=True)]
           for i in (0, 1)]
    return lines, statistics.median(own[0]), statistics.median(own[1])


@contextlib.contextmanager
def _target(mode: str, work: Path) -> Iterator[tuple[str, str, Callable[[], int]]]:
    """(output root, state prefix, request counter) of MODE: `local` or `s3`."""
    if mode == "local":
        yield str(work / "stores"), str(work / "state"), lambda: 0
        return
    from runner.s3 import s3_client
    from tests.geozarr.counting_s3 import counting_s3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    with counting_s3() as server:
        saved = {k: os.environ.get(k) for k in server.env()}
        os.environ.update(server.env())
        try:
            s3_client().create_bucket(Bucket="product-steps")
            yield "s3://product-steps/stores", "s3://product-steps/state", lambda: server.count
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def bench_steps(mode: str, products: list[Path]) -> tuple[list[str], float, float]:
    import conformance.__main__  # noqa: F401 - imports paid first, as in a batch pod
    import runner.cli  # noqa: F401

    with (tempfile.TemporaryDirectory(prefix=f"product-steps-{mode}-") as tmp,
          _target(mode, Path(tmp)) as (out_root, state, count)):
        rec = Recorder(count)
        with _instrumented(rec), contextlib.chdir(tmp):
            run_products(rec, products, out_root, state)
    return table(rec)


def main(products: int = 4, size: int = 144, goal: float = 0.5) -> int:
    """Both modes on PRODUCTS samples; 0 when the local mode's median CPU is within GOAL."""
    from runner.sample_s2 import write_sample

    with tempfile.TemporaryDirectory(prefix="product-steps-samples-") as tmp:
        paths = [Path(tmp) / f"S2B_MSIL2A_STEPS_{n:04d}.zarr" for n in range(products)]
        for n, path in enumerate(paths):
            write_sample(str(path), size=size, seed=n + 1)
        results = {mode: bench_steps(mode, paths) for mode in ("local", "s3")}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"one product's steps in a batch process, {size} px, medians of {products - 1} products "
          f"(load average {load}):")
    for mode, (lines, wall, cpu) in results.items():
        print(f"  output {'a local directory' if mode == 'local' else 'the loopback S3 server'}: "
              f"non-conversion {wall:.3f} s wall, {cpu:.3f} s CPU")
        print("\n".join(lines))
    cpu = results["local"][2]
    print(f"  local non-conversion CPU {cpu:.3f} s per product (goal <= {goal} s wall, "
          f"ratio {cpu / goal:.2f}); {'OK' if cpu <= goal else 'MISS'}")
    return 0 if cpu <= goal else 1
