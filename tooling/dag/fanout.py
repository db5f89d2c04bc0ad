"""The conversion of the rendered `geozarr-convert` DAG, run here: its tasks from `preflight` to
`finalize` (the fan-out: parts -> convert-part per part -> finalize), with an S3 API on loopback as
the env's object store. The steps after the store is complete (validate, build-stac, register)
need a STAC API and are left out. Used by the fan-out tests and `benchmarks/fanout_bench.py`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tooling.dag.executor import LocalRun, RunResult
from tooling.dag.localrun import local_secrets
from tooling.dag.model import read_workflow_template
from tooling.dag.objectstore import LoopbackS3
from tooling.dag.pods import Objects
from tooling.manifests.rendered import Rendered

CONVERT_TEMPLATE = "geozarr-convert"
CONVERSION_TASKS = ("preflight", "parts", "convert-part", "finalize")


def conversion_only(template_doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the rendered geozarr-convert whose entrypoint DAG stops at `finalize`."""
    doc = copy.deepcopy(dict(template_doc))
    spec = doc["spec"]
    main = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
    tasks = [t for t in main["dag"]["tasks"] if t["name"] in CONVERSION_TASKS]
    if [t["name"] for t in tasks] != list(CONVERSION_TASKS):
        raise ValueError(f"{CONVERT_TEMPLATE}: expected the tasks {', '.join(CONVERSION_TASKS)}")
    main["dag"]["tasks"] = tasks
    kept = {t["template"] for t in tasks} | {spec["entrypoint"]}
    spec["templates"] = [t for t in spec["templates"] if t["name"] in kept]
    return doc


def run_conversion(rendered: Rendered, s3: LoopbackS3, run_dir: Path, parameters: Mapping[str, str],
                   *, parallelism: int = 2, extra_env: Mapping[str, str] | None = None,
                   template_doc: Mapping[str, Any] | None = None,
                   sleep: Callable[[float], None] | None = None) -> RunResult:
    """Run the conversion tasks of the env's geozarr-convert with PARAMETERS (source_url, ...),
    its output bucket on the loopback S3 server S3 (the bucket must exist)."""
    doc = conversion_only(template_doc or rendered.workflow_template(CONVERT_TEMPLATE))
    spec = read_workflow_template(doc)
    secrets = local_secrets(rendered, s3.env)
    run = LocalRun(spec, Objects(rendered, secrets), run_dir,
                   parameters={"s3_endpoint": s3.endpoint, **parameters},
                   parallelism=parallelism, extra_env=dict(extra_env or {}), sleep=sleep)
    return run.execute()
