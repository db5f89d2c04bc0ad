"""`invoke conformance`: the rendered `geozarr-conformance` DAG, run here (`--env local`, the
default) or on an env's Argo (`--env staging|prod`). Exit 0 passed, 1 failed, 2 cannot run,
130 interrupted."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.report import Report
from conformance.workflow_report import merge, tasks_section
from tooling import repo
from tooling.dag.cluster import (
    ClusterError,
    FollowResult,
    KubeClient,
    KubectlClient,
    build_workflow,
    follow,
    lint_workflow,
)
from tooling.dag.localrun import build_report, main_local
from tooling.dag.model import Unsupported, WorkflowSpec, read_workflow_template
from tooling.dag.objectstore import read_json, s3_client
from tooling.dag.progress import Progress
from tooling.envconfig import EnvConfig, env_config, read_env_file
from tooling.errors import ToolingError
from tooling.manifests import stdout
from tooling.manifests.rendered import render_env

FOLLOW_MARGIN = 600.0  # seconds beyond the template's activeDeadlineSeconds before giving up


@dataclass
class ClusterOutcome:
    workflow: str
    report: Report | None
    follow: FollowResult | None
    exit_code: int


def run_cluster(
    cfg: EnvConfig,
    template_doc: dict[str, Any],
    client: KubeClient,
    progress: Progress,
    *,
    size: int | None,
    wait: bool = True,
    timeout: float | None = None,
    interval: float = 5.0,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    s3: Any | None = None,
    parameters: dict[str, str] | None = None,
) -> ClusterOutcome:
    """Submit, follow, fetch the report. ClusterError/ValueError when it cannot run."""
    spec = _spec(template_doc)
    workflow = _workflow(cfg, size, spec.name, parameters or {})
    problems = lint_workflow(workflow, template_doc)
    if problems:
        raise ValueError("the Workflow to submit does not pass the Argo lint:\n  " + "\n  ".join(problems))
    created = client.create_workflow(cfg.namespace, workflow)
    name = str((created.get("metadata") or {}).get("name") or "")
    if not name:
        raise ClusterError("the API server returned no workflow name")
    progress.line(f"submitted Workflow {name} in namespace {cfg.namespace} (context {cfg.context})")
    if not wait:
        return ClusterOutcome(name, None, None, 0)
    if timeout is None:
        timeout = (spec.deadline or 3600.0) + FOLLOW_MARGIN
    kwargs: dict[str, Any] = {"timeout": timeout, "interval": interval}
    if sleep is not None:
        kwargs["sleep"] = sleep
    if clock is not None:
        kwargs["clock"] = clock
    result = follow(client, cfg.namespace, name, progress, **kwargs)
    if result.phase == "Interrupted":
        return ClusterOutcome(name, None, result, 130)
    if result.phase not in ("Succeeded", "Failed", "Error"):
        return ClusterOutcome(name, None, result, 1)
    report = _cluster_report(cfg, template_doc, spec, name, result, s3, progress)
    report = _record_evidence(report, cfg, s3, progress)
    run_dir = repo.BUILD / "conformance" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return ClusterOutcome(name, report, result, report.exit_code)


def _cluster_report(cfg: EnvConfig, template_doc: dict[str, Any], spec: WorkflowSpec, name: str,
                    result: FollowResult, s3: Any | None, progress: Progress) -> Report:
    """The report step's report of workflow NAME (or, absent, a failing one), with what only the
    submitter knows: the workflow's phase, its tasks' timings, env and template."""
    uri = cfg.report_uri(name)
    try:
        step_report: dict[str, Any] | None = read_json(uri, s3 or s3_client(cfg.s3_endpoint))
    except Exception as e:  # noqa: BLE001 - absent or unreadable: the report says so
        progress.line(f"no report at {uri}: {type(e).__name__}")
        step_report = merge(name, result.tasks, {"report": f"no report at {uri}: {type(e).__name__}: {e}"}).to_dict()
    report = build_report(step_report, None, env=cfg.env, overlay=cfg.env, template_doc=template_doc, spec=spec,
                          run_id=name, tasks=result.tasks,
                          workflow={"name": name, "namespace": cfg.namespace, "phase": result.phase,
                                    "message": result.message, "report_uri": uri})
    return dataclasses.replace(report, target=name, ok=report.ok and result.phase == "Succeeded",
                               sections=[tasks_section(result.tasks)])


def _workflow(cfg: EnvConfig, size: int | None, template: str, parameters: dict[str, str]) -> dict[str, Any]:
    """The Workflow to submit, with the run's extra workflow parameters (e.g. `product`)."""
    workflow = build_workflow(cfg, size, template)
    workflow["spec"]["arguments"]["parameters"] += [{"name": k, "value": v} for k, v in parameters.items()]
    return workflow


def _record_evidence(report: Report, cfg: EnvConfig, s3: Any | None, progress: Progress) -> Report:
    """The report stamped with its image digest and end time, recorded in the env's report store
    (what `invoke promote` reads: tooling.gitops.evidence)."""
    from tooling.gitops import evidence
    from tooling.manifests.images import repository

    stamp = evidence.stamp({"image": report.extra.get("image") or ""}, repository(cfg.runner_image))
    report = dataclasses.replace(report, extra=report.extra | stamp)
    try:
        uri = evidence.record(report.to_dict(), cfg.bucket, cfg.report_prefix, s3 or s3_client(cfg.s3_endpoint))
    except Exception as e:  # noqa: BLE001 - the run's verdict stands; promotion will say it is missing
        progress.line(f"could not record the report as evidence: {type(e).__name__}: {e}")
        return report
    progress.line(f"evidence recorded at {uri}" if uri else
                  "the runner image is not pinned by digest: this report is no promotion evidence")
    return report


def _spec(template_doc: dict[str, Any]) -> WorkflowSpec:
    try:
        return read_workflow_template(template_doc)
    except Unsupported:
        # the cluster runs what the local executor refuses; only the name and deadline matter here
        meta = template_doc.get("metadata") or {}
        spec = template_doc.get("spec") or {}
        deadline = spec.get("activeDeadlineSeconds")
        return WorkflowSpec(str(meta.get("name", "")), str(meta.get("namespace", "")), "", "", (), {}, (),
                            True, {}, float(deadline) if deadline else None, None)


def main_cluster(env: str, size: int, as_json: bool, wait: bool,
                 client: KubeClient | None = None, fmt: str = "",
                 parameters: dict[str, str] | None = None,
                 sink: stdout.ReportSink = stdout.show) -> int:
    """One cluster run; its report goes to SINK (printed in format FMT by default)."""
    fmt = stdout.chosen_format("conformance", fmt, as_json)
    if fmt is None:
        return 2
    progress = Progress(quiet=fmt != "table")
    try:
        env_file = read_env_file(env)
        rendered = render_env(env)
        cfg = env_config(env, env_file, rendered.docs)
        template_doc = rendered.workflow_template()
        outcome = run_cluster(cfg, template_doc, client or KubectlClient(cfg.context), progress,
                              size=size, wait=wait, parameters=parameters)
    except (ToolingError, ValueError) as e:
        stdout.cannot_run("conformance", str(e), fmt=fmt, target=env, prefix=f"conformance --env {env}",
                          sink=sink)
        return getattr(e, "exit_code", 2)
    if outcome.report is None:
        if outcome.follow is not None:
            print(f"conformance --env {env}: {outcome.follow.message}", file=sys.stderr)
        if fmt == "json":
            phase = outcome.follow.phase if outcome.follow else "Submitted"
            print(json.dumps({"workflow": outcome.workflow, "namespace": cfg.namespace, "phase": phase}))
        elif not wait:
            print(outcome.workflow)
        return outcome.exit_code
    return sink(outcome.report, fmt)


# `invoke conformance --product`: the DAG's workflow parameters of each product type's run (the
# sample it writes; an S1 item goes to an S1 collection, not the env's Sentinel-2 one)
PRODUCTS: dict[str, dict[str, str]] = {
    "s2-l2a": {"product": "s2-l2a"},
    "s1-grd": {"product": "s1-grd", "collection": "sentinel-1-l1-grd"},
}


def products_of(product: str) -> list[str] | None:
    """The product types to run, in order ('' = all); None when PRODUCT is unknown."""
    if not product:
        return list(PRODUCTS)
    return [product] if product in PRODUCTS else None


def main(env: str = "local", overlay: str = "staging", size: int = 144, as_json: bool = False,
         wait: bool = True, parallelism: int = 2, output: str | None = None, product: str = "",
         fmt: str = "") -> int:
    """Each product type's conformance run in sequence (PRODUCT: one of them; default all); the
    worst exit code. In JSON or Markdown, several products make one report (`_combined`)."""
    products = products_of(product)
    if products is None:
        print(f"conformance: unknown --product {product!r}: expected one of {', '.join(PRODUCTS)}",
              file=sys.stderr)
        return 2
    bad = _bad_arguments(env, overlay, parallelism, output)
    if bad:
        print(f"conformance: {bad}", file=sys.stderr)
        return 2

    def run_one(name: str, sink: stdout.ReportSink) -> int:
        return _main_one(env, overlay, size, as_json, wait, parallelism, output, PRODUCTS[name], fmt,
                         sink)

    chosen = stdout.chosen_format("conformance", fmt, as_json)
    if chosen is None:
        return 2
    if len(products) > 1 and wait and chosen != "table":
        return _combined(products, chosen, run_one)
    return max(run_one(name, stdout.show) for name in products)


def _combined(products: list[str], fmt: str,
              run_one: Callable[[str, stdout.ReportSink], int]) -> int:
    """Several products' runs in a machine format as ONE report (a script reads one document):
    each product's own report under `products` (a run that gave none: a report saying so), its
    findings tagged with the product; the exit code is the worst run's."""
    reports: dict[str, Report] = {}
    codes = []
    for name in products:
        def keep(report: Report, _fmt: str, name: str = name) -> int:
            reports[name] = report
            return report.exit_code
        codes.append(run_one(name, keep))
        if name not in reports:
            reports[name] = Report(kind="conformance", target="", error=f"no report (exit {codes[-1]})")
    combined = Report(
        kind="conformance", target=", ".join(products), tool="invoke conformance",
        findings=[dataclasses.replace(f, check=f"{name}/{f.check}" if f.check else name)
                  for name, r in reports.items() for f in r.findings],
        error="; ".join(f"{name}: {r.error}" for name, r in reports.items() if r.error),
        ok=all(r.ok for r in reports.values()),
        total_seconds=sum(r.total_seconds for r in reports.values()),
        extra={"products": {name: r.to_dict() for name, r in reports.items()}})
    shown = stdout.show(combined, fmt)
    return shown if shown == stdout.BROKEN_PIPE_EXIT else max(codes)


def _bad_arguments(env: str, overlay: str, parallelism: int, output: str | None) -> str:
    """Why the run's arguments cannot be used (said once, whatever the products), or ''."""
    if env == "local":
        if overlay not in repo.ENVS:
            return f"unknown overlay {overlay!r}: expected one of {', '.join(repo.ENVS)}"
        if parallelism < 1:
            return "--parallelism must be at least 1"
        return ""
    if env not in repo.ENVS:
        return f"unknown env {env!r}: expected local, {', '.join(repo.ENVS)}"
    if output:
        return "--output is for local runs; on a cluster the env's bucket is used"
    return ""


def _main_one(env: str, overlay: str, size: int, as_json: bool, wait: bool, parallelism: int,
              output: str | None, parameters: dict[str, str], fmt: str,
              sink: stdout.ReportSink) -> int:
    if env == "local":
        return main_local(overlay, size, as_json, parallelism, output, fmt=fmt, parameters=parameters,
                          sink=sink)
    return main_cluster(env, size, as_json, wait, fmt=fmt, parameters=parameters, sink=sink)
