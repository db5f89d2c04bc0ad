"""`invoke backfill --local`: the rendered `geozarr-backfill` template run on this machine.

- The overlay's WorkflowTemplate is rendered with kubectl, its `withSequence` fan-out unrolled
  (tooling.backfill.sequences), and run by the local executor (tooling.dag): every step is the
  template's own command as a local process.
- A real STAC API (PostgreSQL + pgSTAC + stac-fastapi-pgstac, started for the run) is both the
  source catalog, seeded with N generated sample products, and the target catalog.
- The output bucket is the directory STATE_DIR/bucket (the executor's `--output` mapping): the
  plan, the outcomes, the stores and the report stay there, so a second run on the same
  STATE_DIR resumes (its plan is read back, converted products are skipped).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from runner.backfill.plan import summary_uri
from runner.backfill.report import read_report
from runner.backfill.search import DEFAULT_CONCURRENCY
from tooling import repo
from tooling.backfill.sequences import SequenceError, unroll_sequences
from tooling.dag.executor import LocalRun, RunResult
from tooling.dag.launcher import Launcher
from tooling.dag.localrun import S3_CREDENTIAL_KEYS, local_secrets
from tooling.dag.model import Unsupported, read_workflow_template
from tooling.dag.objectstore import LocalOutput
from tooling.dag.pods import Objects
from tooling.dag.progress import Progress
from tooling.manifests.render import RenderError
from tooling.manifests.rendered import render_env

TEMPLATE = "geozarr-backfill"
SOURCE_COLLECTION = "sentinel-2-l2a-source"
RUN = "local"
FIRST_PRODUCT = datetime(2025, 6, 1, 10, tzinfo=UTC)
DEFAULT_STATE = repo.BUILD / "backfill"


class CannotRun(Exception):
    """The local backfill cannot start (exit 2)."""


@dataclass(frozen=True)
class LocalBackfill:
    products: int = 12
    size: int = 144
    limit: int = 100
    batches: int = 2
    parallelism: int = 2
    state_dir: Path = DEFAULT_STATE
    overlay: str = "staging"
    fork_server: bool = True  # False: every step a plain process (the benchmark's baseline)
    search_concurrency: int = DEFAULT_CONCURRENCY  # the plan step's searches at once


def product_name(number: int) -> str:
    return f"S2B_MSIL2A_LOCAL_{number:04d}"


def product_time(number: int) -> str:
    return (FIRST_PRODUCT + timedelta(days=number)).isoformat().replace("+00:00", "Z")


def write_products(products_dir: Path, count: int, size: int, progress: Progress) -> list[Path]:
    """COUNT sample products (seed = number), each written once: a rerun reuses them."""
    from runner.sample_s2 import write_sample

    paths = []
    for number in range(count):
        path = products_dir / f"{product_name(number)}.zarr"
        if not (path / ".zmetadata").exists():
            progress.line(f"sample product {number + 1}/{count}: {path.name}")
            write_sample(str(path), size=size, seed=number + 1)
        paths.append(path)
    return paths


def source_item(number: int, path: Path) -> dict[str, Any]:
    """The source catalog's item of a sample product (what EOPF's catalog holds: a product asset)."""
    return {"type": "Feature", "stac_version": "1.1.0", "id": product_name(number),
            "collection": SOURCE_COLLECTION, "bbox": [11.0, 45.0, 11.5, 45.4],
            "geometry": {"type": "Polygon", "coordinates": [[[11.0, 45.0], [11.5, 45.0], [11.5, 45.4],
                                                             [11.0, 45.4], [11.0, 45.0]]]},
            "properties": {"datetime": product_time(number)}, "links": [],
            "assets": {"product": {"href": str(path), "type": "application/vnd+zarr", "roles": ["data"]}}}


def seed_source(api_url: str, paths: list[Path]) -> None:
    """The source collection, holding one item per sample product (upserted: reruns are no-ops)."""
    collection = {"type": "Collection", "stac_version": "1.1.0", "id": SOURCE_COLLECTION,
                  "description": "generated sample products (invoke backfill --local)",
                  "license": "other", "links": [],
                  "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                             "temporal": {"interval": [[None, None]]}}}
    resp = requests.post(f"{api_url}/collections", json=collection, timeout=60)
    if resp.status_code not in (200, 201, 409):
        raise CannotRun(f"cannot create the source collection: HTTP {resp.status_code}")
    items = {product_name(n): source_item(n, p) for n, p in enumerate(paths)}
    resp = requests.post(f"{api_url}/collections/{SOURCE_COLLECTION}/bulk_items",
                         json={"items": items, "method": "upsert"}, timeout=120)
    if resp.status_code not in (200, 201):
        raise CannotRun(f"cannot seed the source catalog: HTTP {resp.status_code}")


@contextlib.contextmanager
def catalog() -> Iterator[str]:
    """A real STAC API for the run (source and target): its URL."""
    from tooling.catalog.errors import ScratchServerError
    from tooling.catalog.scratchdb import running_api, scratch_postgres

    try:
        with scratch_postgres() as pg, running_api(pg) as api:
            yield api.url
    except ScratchServerError as exc:
        raise CannotRun(f"the local STAC API cannot start: {exc}") from exc


def parameters(job: LocalBackfill, api_url: str) -> dict[str, str]:
    """The run's workflow parameters: this machine's catalog and the sample window."""
    return {"run": RUN, "source_api_url": api_url, "source_collection": SOURCE_COLLECTION,
            "stac_api_url": api_url, "s3_endpoint": "", "limit": str(job.limit),
            "batches": str(job.batches), "search_concurrency": str(job.search_concurrency),
            "start": product_time(0),
            "end": product_time(job.products), "bbox": "", "ids_uri": ""}


def template(job: LocalBackfill, overrides: Mapping[str, str]) -> tuple[Any, Any]:
    """(rendered set, the executor's spec of the unrolled template)."""
    try:
        rendered = render_env(job.overlay)
        doc = unroll_sequences(rendered.workflow_template(TEMPLATE), overrides)
        return rendered, read_workflow_template(doc)
    except (RenderError, SequenceError) as exc:
        raise CannotRun(str(exc)) from exc
    except Unsupported as exc:
        raise CannotRun("the local executor refuses this template:\n  " + "\n  ".join(exc.problems)) from exc


def execute(job: LocalBackfill, api_url: str, progress: Progress,
            launcher: Launcher | None = None) -> tuple[RunResult, Path, str]:
    """Run the DAG; (result, the bucket's directory, the declared prefix)."""
    overrides = parameters(job, api_url)
    rendered, spec = template(job, overrides)
    declared = {p.name: p.value for p in spec.arguments}
    bucket = str(declared.get("output_bucket") or "")
    bucket_dir = job.state_dir / "bucket"
    secrets = {**local_secrets(rendered, {k: "unused-locally" for k in S3_CREDENTIAL_KEYS}),
               "geozarr-stac-api-token": {"token": ""}}
    run_id = f"{TEMPLATE}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    runner = LocalRun(spec, Objects(rendered, secrets), job.state_dir / "runs" / run_id,
                      parameters=overrides,
                      parallelism=job.parallelism, output=LocalOutput(bucket, bucket_dir),
                      run_id=run_id, launcher=launcher,
                      listener=lambda t: progress.task(t.name, t.phase, t.seconds,
                                                       t.message if t.phase != "Succeeded" else ""))
    return runner.execute(), bucket_dir, str(declared.get("output_prefix") or "").strip("/")


def run_local_backfill(job: LocalBackfill, progress: Progress | None = None) -> dict[str, Any]:
    """Products, catalog, the DAG; the backfill report (`counts`, `failed`, `seconds`, …)."""
    progress = progress or Progress(quiet=True)
    job.state_dir.mkdir(parents=True, exist_ok=True)
    # the fork server imports while the products are written and the catalog starts
    with Launcher(job.state_dir / "forkserver.log", use_server=job.fork_server) as launcher:
        launcher.start()
        paths = write_products(job.state_dir / "products", job.products, job.size, progress)
        with catalog() as api_url:
            seed_source(api_url, paths)
            result, bucket_dir, prefix = execute(job, api_url, progress, launcher)
    state = bucket_dir / prefix / "backfill" / RUN
    report = read_report(str(state))
    if report is None:
        raise CannotRun(f"the run {result.phase} without a report at {state}/report.json: "
                        f"{result.message}")
    summary = json.loads(Path(summary_uri(str(state / "plan.jsonl"))).read_text())
    return {**report, "phase": result.phase, "state": str(job.state_dir),
            "plan": {k: summary.get(k) for k in ("found", "planned", "skipped")}}
