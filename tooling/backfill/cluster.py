"""`invoke backfill`, `invoke backfill.status`, `invoke replay` against an env's cluster.

- submit: checks the request (the runner's own rules: one line, exit 2, nothing submitted), then
  creates a Workflow from the deployed `geozarr-backfill` WorkflowTemplate with the env's
  context. `--dry-run` searches the source catalog instead and prints what would be planned.
- status: reads the run's state from the env's object store (plan, per-product outcomes,
  dead letters, report) and shows progress; `--json` prints the report's shape.
- replay: resubmits the same run: its plan is read back, converted products are skipped, failed
  ones are converted again and every converted item is upserted again (dead letters included).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from runner.backfill import batch, bulk_register, plan, report
from runner.backfill.request import BackfillRequest, parse_request
from runner.backfill.search import DEFAULT_CONCURRENCY, search_items
from runner.errors import BadInput, RunnerError
from runner.events import EventLog
from tooling.argo import ARGO_API_VERSION
from tooling.dag.cluster import ClusterError, KubeClient, KubectlClient
from tooling.envconfig import EnvConfig

TEMPLATE = "geozarr-backfill"
DEFAULT_SOURCE_API = "https://stac.core.eopf.eodc.eu"


def state_uri(cfg: EnvConfig, run: str) -> str:
    return f"s3://{cfg.bucket}/{cfg.prefix.strip('/')}/backfill/{run}"


@dataclass(frozen=True)
class Submission:
    request: BackfillRequest  # its collection is the source catalog's
    run: str
    batches: int
    source_api: str
    collection: str = ""      # the target collection; empty: the env's (the template's default)
    ids_uri: str = ""
    search_concurrency: int = DEFAULT_CONCURRENCY  # the plan's searches at once


def workflow_for(cfg: EnvConfig, sub: Submission) -> dict[str, Any]:
    """The Workflow submitted: the deployed template with this run's window and bounds."""
    req = sub.request
    start, end = req.datetime_range.split("/")
    values = {"run": sub.run, "source_api_url": sub.source_api,
              "source_collection": req.collection, "start": start, "end": end,
              "bbox": ",".join(str(v) for v in req.bbox) if req.bbox else "",
              "ids_uri": sub.ids_uri, "limit": str(req.limit), "batches": str(sub.batches),
              "search_concurrency": str(sub.search_concurrency),
              "output_bucket": cfg.bucket, "output_prefix": cfg.prefix, "s3_endpoint": cfg.s3_endpoint}
    if sub.collection:
        values["collection"] = sub.collection
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": "Workflow",
        "metadata": {"generateName": f"{TEMPLATE}-{sub.run}-", "namespace": cfg.namespace,
                     "labels": {"app.kubernetes.io/part-of": "eopf-geozarr",
                                "app.kubernetes.io/component": "backfill",
                                "eopf-geozarr.io/backfill-run": sub.run,
                                "eopf-geozarr.io/submitted-by": "invoke-backfill"}},
        "spec": {"workflowTemplateRef": {"name": TEMPLATE},
                 "arguments": {"parameters": [{"name": k, "value": v} for k, v in values.items()]}},
    }


def submit(cfg: EnvConfig, sub: Submission, client: KubeClient | None = None) -> str:
    """Create the Workflow; its name. ClusterError when the API refuses."""
    client = client or KubectlClient(cfg.context)
    created = client.create_workflow(cfg.namespace, workflow_for(cfg, sub))
    return str((created.get("metadata") or {}).get("name", ""))


def dry_run(source_api: str, request: BackfillRequest, output_root: str, first: int = 10,
            search_concurrency: int = DEFAULT_CONCURRENCY) -> dict[str, Any]:
    """What a run would plan (searching the source catalog; nothing written, nothing submitted)."""
    plan.check_collection(source_api, request.collection)
    counts = plan.PlanCounts()
    with closing(search_items(source_api, request, plan.DEFAULT_PAGE_SIZE, search_concurrency)) as items:
        entries = list(plan.select(items, request, output_root, None, counts, EventLog("plan", quiet=True)))
    return {"counts": counts.to_dict(), "first": [e.item for e in entries[:first]]}


def status(state: str, run: str) -> dict[str, Any]:
    """The run's report shape from its state (the final report once the run wrote it)."""
    done = report.read_report(state)
    if done is not None:
        return {**done, "state": state, "finished": True}
    try:
        live = report.build_report(run, f"{state}/plan.jsonl", state, f"{state}/dead-letter.jsonl", 0.0)
    except BadInput:  # no plan
        raise RunnerError(f"no backfill run {run!r} at {state} (no plan yet)") from None
    return {**live, "state": state, "finished": False}


def progress_line(status_doc: dict[str, Any], width: int = 30) -> str:
    counts = status_doc["counts"]
    planned = max(1, counts["planned"])
    done = counts["converted"] + counts["failed"]
    filled = int(width * min(done, planned) / planned)
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{counts['planned']} products "
            f"({counts['converted']} converted, {counts['failed']} failed, {counts['registered']} "
            f"registered, {counts['dead_lettered']} dead-lettered)"
            + ("" if not status_doc.get("finished") else " - finished"))


def replay_submission(state: str, run: str, batches: int) -> Submission:
    """The same run again, from the request its plan recorded."""
    summary = plan.read_summary(f"{state}/plan.jsonl")
    recorded = summary.get("request")
    if not recorded:
        raise RunnerError(f"no backfill run {run!r} at {state} (no plan summary)")
    start, end = str(recorded["datetime"]).split("/")
    request = parse_request(collection=recorded["collection"], start=start, end=end,
                            bbox=",".join(map(str, recorded["bbox"])) if recorded.get("bbox") else "",
                            limit=int(recorded["limit"]))
    return Submission(request, run, batches, str(recorded.get("source_api") or DEFAULT_SOURCE_API))


def replay_targets(state: str) -> dict[str, Sequence[str]]:
    """The failed and dead-lettered items a replay is for."""
    failed = [o.item for o in report.read_outcomes(state) if o.status == batch.FAILED]
    dead = [d.item for d in bulk_register.read_dead_letters(f"{state}/dead-letter.jsonl")]
    return {"failed": failed, "dead_lettered": dead}


def as_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, default=str)


__all__ = ["ClusterError", "Submission", "dry_run", "progress_line", "replay_submission",
           "replay_targets", "state_uri", "status", "submit", "workflow_for"]
