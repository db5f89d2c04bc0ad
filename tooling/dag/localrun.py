"""`invoke conformance` (local): render the overlay, run its `geozarr-conformance` DAG here,
with an S3 API on loopback (or a local directory, `--output`) standing in for the env's object
store, and build the report from what the DAG's report step wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.findings import Finding
from conformance.report import Report
from conformance.workflow_report import RUN_FAILED, TASK_FAILED, merge, tasks_section
from tooling import repo
from tooling.dag import orphans
from tooling.dag.executor import LocalRun, RunResult, TaskRun, new_run_id
from tooling.dag.launcher import Launcher
from tooling.dag.model import Unsupported, WorkflowSpec, read_workflow_template
from tooling.dag.objectstore import (
    LocalOutput,
    LoopbackS3,
    LoopbackS3Unavailable,
    preload_s3_modules,
    read_json,
)
from tooling.dag.pods import Objects
from tooling.dag.progress import Progress
from tooling.dag.provenance import git_revision, rendered_hash
from tooling.errors import ToolingError
from tooling.manifests import stdout
from tooling.manifests.render import RenderError
from tooling.manifests.rendered import Rendered, render_env

S3_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
EXECUTED_WITH = "local processes: the venv's console scripts stand in for the image"


@dataclass
class LocalOutcome:
    report: Report
    result: RunResult | None
    run_dir: Path

    @property
    def exit_code(self) -> int:
        return self.report.exit_code


def local_secrets(rendered: Rendered, credentials: dict[str, str]) -> dict[str, dict[str, str]]:
    """Values for the SealedSecrets that hold S3 credentials: the loopback server's."""
    out: dict[str, dict[str, str]] = {}
    for d in rendered.documents:
        if d.get("kind") != "SealedSecret":
            continue
        keys = ((d.get("spec") or {}).get("encryptedData") or {}).keys()
        values = {k: credentials[k] for k in keys if k in credentials}
        if values:
            out[str(d["metadata"]["name"])] = values
    return out


def _declared(spec: WorkflowSpec) -> dict[str, str | None]:
    return {p.name: p.value for p in spec.arguments}


@contextlib.contextmanager
def _storage(output: str | None, bucket: str) -> Iterator[tuple[LoopbackS3 | None, LocalOutput | None]]:
    if output:
        yield None, LocalOutput(bucket, Path(output).resolve())
        return
    try:
        with LoopbackS3() as s3:
            s3.create_bucket(bucket)
            yield s3, None
    except LoopbackS3Unavailable as e:  # raised only when it starts
        raise ToolingError(str(e)) from e


def run_local(
    overlay: str = "staging",
    size: int | None = 144,
    parallelism: int = 2,
    output: str | None = None,
    progress: Progress | None = None,
    rendered: Rendered | None = None,
    run_id: str = "",
    runs_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    parameters: Mapping[str, str] | None = None,
    fork_server: bool = True,
) -> LocalOutcome:
    """Run the overlay's conformance DAG here (PARAMETERS: workflow parameters overridden for
    this run, e.g. `product`). ToolingError when it cannot start. FORK_SERVER: the steps start
    from a fork server (its imports overlap the S3 server's start), else each step is a plain
    process."""
    progress = progress or Progress(quiet=True)
    preload: threading.Thread | None = None
    if not output:  # the S3 server's imports overlap the render (nothing else imports them meanwhile)
        preload = threading.Thread(target=preload_s3_modules, name="preload-s3", daemon=True)
        preload.start()
    rendered, template_doc, spec = _template_of(overlay, rendered)
    overrides, bucket, prefix = _run_parameters(spec, size)
    overrides.update(parameters or {})
    run_id = run_id or new_run_id(spec.name)
    runs_dir = runs_dir or repo.BUILD / "conformance"
    stopped = orphans.reap(runs_dir)
    if stopped:
        progress.line(f"stopped {len(stopped)} step(s) left running by a killed earlier run")
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    orphans.mark_executor(run_dir)
    report_key = f"{prefix}/conformance/{run_id}/report.json" if prefix else f"conformance/{run_id}/report.json"
    dag = _Dag(spec, rendered, template_doc, overrides, bucket, report_key, run_dir, overlay, parallelism)
    with Launcher(run_dir / "forkserver.log", use_server=fork_server) as launcher:
        launcher.start()
        return _run_dag(dag, output, progress, preload, launcher, extra_env)


@dataclass(frozen=True)
class _Dag:
    """What run_local prepared for the run: the template, its parameters, where things go."""

    spec: WorkflowSpec
    rendered: Rendered
    template_doc: dict[str, Any]
    overrides: dict[str, str]
    bucket: str
    report_key: str
    run_dir: Path
    overlay: str
    parallelism: int


def _run_dag(dag: _Dag, output: str | None, progress: Progress, preload: threading.Thread | None,
             launcher: Launcher, extra_env: Mapping[str, str] | None) -> LocalOutcome:
    """The storage (S3 on loopback or `--output`), the DAG, the report."""
    spec, rendered, template_doc, overrides = dag.spec, dag.rendered, dag.template_doc, dag.overrides
    bucket, report_key, run_dir, overlay = dag.bucket, dag.report_key, dag.run_dir, dag.overlay
    run_id = run_dir.name
    progress.line(f"{spec.name} from overlay {overlay} ({rendered_hash(template_doc)[:19]}), run {run_id}")
    if preload is not None:
        preload.join()  # moto's import graph is cyclic: never import it from two threads at once
    with _storage(output, bucket) as (s3, local_output):
        secrets = _point_at_storage(s3, local_output, bucket, rendered, overrides, progress)

        def on_task(run: TaskRun) -> None:
            progress.task(run.name, run.phase, run.seconds, run.message if run.phase != "Succeeded" else "")

        runner = LocalRun(spec, Objects(rendered, secrets), run_dir, parameters=overrides,
                          parallelism=dag.parallelism, output=local_output, run_id=run_id, listener=on_task,
                          extra_env=_image_env(extra_env), launcher=launcher)
        try:
            result = runner.execute()
        except ValueError as e:  # bad parameters
            raise ToolingError(str(e)) from e
        report_uri = (f"s3://{bucket}/{report_key}" if local_output is None
                      else str(local_output.root / report_key))
        step_report = _step_report(report_uri, s3)

    storage = str(local_output.root) if local_output is not None else "s3 on loopback (moto)"
    report = build_report(step_report, result, env="local", overlay=overlay,
                          template_doc=template_doc, spec=spec, report_uri=report_uri, storage=storage)
    (run_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return LocalOutcome(report, result, run_dir)


def _template_of(overlay: str, rendered: Rendered | None) -> tuple[Rendered, dict[str, Any], WorkflowSpec]:
    """The rendered set, its conformance WorkflowTemplate, and what the local executor reads of it."""
    try:
        rendered = rendered or render_env(overlay)
        template_doc = rendered.workflow_template()
    except RenderError as e:
        raise ToolingError(str(e)) from e
    try:
        return rendered, template_doc, read_workflow_template(template_doc)
    except Unsupported as e:
        raise ToolingError("the local executor refuses this template:\n  " + "\n  ".join(e.problems)) from e


def _run_parameters(spec: WorkflowSpec, size: int | None) -> tuple[dict[str, str], str, str]:
    """The workflow parameters overridden for this run, the output bucket and prefix."""
    declared = _declared(spec)
    overrides: dict[str, str] = {}
    if size is not None:
        if "size" not in declared:
            raise ToolingError(f"WorkflowTemplate {spec.name} declares no `size` parameter")
        overrides["size"] = str(size)
    bucket = str(declared.get("output_bucket") or "")
    prefix = str(declared.get("output_prefix") or "").strip("/")
    if not bucket:
        raise ToolingError(f"WorkflowTemplate {spec.name}: workflow parameter output_bucket is empty")
    return overrides, bucket, prefix


def _point_at_storage(s3: LoopbackS3 | None, local_output: LocalOutput | None, bucket: str,
                      rendered: Rendered, overrides: dict[str, str], progress: Progress) -> dict[str, dict[str, str]]:
    """Set the run's s3_endpoint; the local values of the S3 credential secrets."""
    if s3 is not None:
        overrides["s3_endpoint"] = s3.endpoint
        progress.line(f"object store: S3 on loopback {s3.endpoint}, bucket {bucket}")
        return local_secrets(rendered, s3.env)
    assert local_output is not None
    overrides["s3_endpoint"] = ""
    progress.line(f"object store: s3://{bucket} -> {local_output.root}")
    return local_secrets(rendered, {k: "unused-with-output" for k in S3_CREDENTIAL_KEYS})


def _step_report(uri: str, s3: LoopbackS3 | None) -> dict[str, Any] | None:
    """What the DAG's report step wrote, or None (it did not run, or failed before writing)."""
    try:
        return read_json(uri, s3.client() if s3 is not None else None)
    except Exception:  # noqa: BLE001 - absent or unreadable: the report says so
        return None


def build_report(step_report: dict[str, Any] | None, result: RunResult | None, *, env: str,
                 overlay: str, template_doc: dict[str, Any], spec: WorkflowSpec,
                 report_uri: str = "", **facts: Any) -> Report:
    """The report printed and kept: the report step's verdict (or, when that step wrote none, a
    failing one made from the run), with env, template revision, image, the tasks' timings and
    FACTS (what else the caller knows: storage, the workflow on a cluster)."""
    tasks = [t.to_dict() for t in result.tasks] if result is not None else []
    if step_report:
        base = Report.from_dict(step_report)
    else:
        base = merge(result.run_id if result else "", tasks,
                     {"report": f"the report step wrote no report at {report_uri or '?'}"})
    extra = dict(base.extra)
    extra |= {"env": env, "overlay": overlay, "image": ", ".join(spec.images),
              "template": {"name": spec.name, "git_sha": git_revision(),
                           "rendered_hash": rendered_hash(template_doc)}}
    if env == "local":
        extra["executed_with"] = EXECUTED_WITH
    if result is None:
        return dataclasses.replace(base, extra=extra | facts, tool="invoke conformance")
    return dataclasses.replace(
        base, target=result.run_id, tool="invoke conformance", findings=base.findings + run_findings(result, base.findings),
        ok=base.ok and result.phase == "Succeeded", total_seconds=result.seconds,
        extra=extra | {"run_id": result.run_id, "tasks": tasks} | facts, sections=[tasks_section(tasks)])


def run_findings(result: RunResult, found: list[Finding]) -> list[Finding]:
    """What the run itself adds to the report step's findings: the DAG failing, tasks failing
    (each once: not when FOUND already names it)."""
    out: list[Finding] = []
    if result.phase != "Succeeded" and not any(f.rule == RUN_FAILED.id for f in found):
        out.append(RUN_FAILED.finding(f"the DAG {result.phase}: {result.message}", "tasks"))
    named = {f.path for f in found}
    out += [TASK_FAILED.finding(f"task {t.name} {t.phase}: {t.message}", f"tasks.{t.name}")
            for t in result.tasks if t.phase in ("Failed", "Error") and f"tasks.{t.name}" not in named]
    return out


def failure_details(outcome: LocalOutcome) -> list[str]:
    """Lines naming each failed task with the tail of its stderr (for the terminal)."""
    lines: list[str] = []
    if outcome.result is None:
        return lines
    for t in outcome.result.tasks:
        if t.phase not in ("Failed", "Error"):
            continue
        lines.append(f"task {t.name} {t.phase}: {t.message}")
        if t.attempts:
            a = t.attempts[-1]
            tail = a.stderr_tail()
            if tail:
                lines.append(f"  stderr of {t.name} (attempt {a.number}, {repo.relpath(a.stderr or '')}):")
                lines.extend("    " + line for line in tail.splitlines())
    return lines


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a CI job cancelled, a terminal closed) stop the run like Ctrl-C: the
    steps run in their own sessions, so only this process can stop them (and its S3 server)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main_local(overlay: str, size: int, as_json: bool, parallelism: int, output: str | None,
               runs_dir: Path | None = None, fmt: str = "",
               parameters: Mapping[str, str] | None = None,
               sink: stdout.ReportSink = stdout.show) -> int:
    """One local run; its report goes to SINK (printed in format FMT by default)."""
    fmt = stdout.chosen_format("conformance", fmt, as_json)
    if fmt is None:
        return 2
    progress = Progress(quiet=fmt != "table")
    try:
        with stop_signals_interrupt():
            outcome = run_local(overlay, size, parallelism, output, progress, runs_dir=runs_dir,
                                parameters=parameters)
    except ToolingError as e:
        stdout.cannot_run("conformance", str(e), fmt=fmt, target=overlay, sink=sink)
        return e.exit_code
    except KeyboardInterrupt as e:
        why = f" ({e})" if str(e) else ""
        print(f"conformance: interrupted{why}; running steps were stopped", file=sys.stderr)
        return 130
    for line in failure_details(outcome):
        print(line, file=sys.stderr)
    saved = f"report: {repo.relpath(outcome.run_dir / 'report.json')}"
    return sink(dataclasses.replace(outcome.report, notes=[*outcome.report.notes, saved]), fmt)


def _image_env(extra_env: Mapping[str, str] | None) -> dict[str, str]:
    """What the image provides that the venv's commands need to be told: its STAC schema cache
    (the image's is filled at build time; here it is the workstation's, `conformance.stac.prefetch`)."""
    from conformance.stac.schemas import CACHE_ENV, default_cache_dir

    return {CACHE_ENV: str(default_cache_dir()), **(extra_env or {})}
