"""Running rules and reporting on them: the report object of
`schemas/conformance-report.schema.json`, its human table, and writing it out.

Shared by the geozarr and stac checks and by the conformance DAG (which nests
these reports under `checks`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.findings import Finding, Rule, Severity, count_by_severity, has_errors

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Check[C]:
    """One rule and the function that applies it to a context.

    `phase` groups timings (metadata, sampling, gdal, schema, consistency).
    """

    rule: Rule
    fn: Callable[[C], Iterable[Finding]]
    phase: str = "metadata"


@dataclass
class Report:
    kind: str
    target: str
    findings: list[Finding] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    io: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    total_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.error and not has_errors(self.findings)

    @property
    def exit_code(self) -> int:
        if self.error:
            return 2
        return 1 if has_errors(self.findings) else 0

    def add_phase(self, phase: str, seconds: float) -> None:
        self.phases[phase] = round(self.phases.get(phase, 0.0) + seconds, 6)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "target": self.target,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "tool": {"name": "geozarr-conformance", "version": _version()},
            "summary": count_by_severity(self.findings),
            "findings": [
                {k: v for k, v in f.to_dict().items() if k in ("rule", "severity", "path", "message") or v}
                for f in self.findings
            ],
            "rules": self.rules,
            "timings": {"total_seconds": round(self.total_seconds, 6), "phases": self.phases},
            "io": self.io,
        }
        if self.error:
            d["error"] = self.error
        d.update(self.extra)
        return d


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("eopf-geozarr-deploy")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0"


def run_checks[C](checks: Iterable[Check[C]], ctx: C, report: Report,
               progress: Callable[[str], None] | None = None) -> None:
    """Run each check on CTX, recording its findings, time and phase.

    A check that raises is a bug in the check, not in the data: it is reported
    as an error finding of that rule (so nothing is silently skipped).
    """
    for check in checks:
        if progress:
            progress(check.rule.id)
        t0 = time.perf_counter()
        try:
            found = list(check.fn(ctx))
        except Exception as exc:  # noqa: BLE001 - reported as a finding
            found = [Finding(rule=check.rule.id, severity=Severity.ERROR,
                             message=f"check could not complete: {type(exc).__name__}: {exc}", path="/")]
        seconds = time.perf_counter() - t0
        report.findings.extend(found)
        report.rules.append({"id": check.rule.id, "severity": str(check.rule.severity),
                             "summary": check.rule.summary, "phase": check.phase,
                             "findings": len(found), "seconds": round(seconds, 6)})
        report.add_phase(check.phase, seconds)


def skip_rules(checks: Iterable[Check[Any]], report: Report, reason: str) -> None:
    for check in checks:
        report.rules.append({"id": check.rule.id, "severity": str(check.rule.severity),
                             "summary": check.rule.summary, "phase": check.phase,
                             "findings": 0, "seconds": 0.0, "skipped": reason})


def render_table(report: Report) -> str:
    """The report for people: one line per finding, then a summary line."""
    lines: list[str] = []
    if report.error:
        return f"{report.kind} {report.target}: cannot run: {report.error}"
    if report.findings:
        w_rule = max(len(f.rule) for f in report.findings)
        w_sev = max(len(str(f.severity)) for f in report.findings)
        w_path = min(60, max(len(f.path) for f in report.findings))
        lines.append(f"{'RULE':<{w_rule}}  {'SEVERITY':<{w_sev}}  {'PATH':<{w_path}}  MESSAGE")
        order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        for f in sorted(report.findings, key=lambda f: (order[f.severity], f.rule, f.path)):
            lines.append(f"{f.rule:<{w_rule}}  {f.severity!s:<{w_sev}}  {f.path:<{w_path}}  {f.message}")
    counts = count_by_severity(report.findings)
    ran = sum(1 for r in report.rules if "skipped" not in r)
    skipped = len(report.rules) - ran
    io = report.io or {}
    verdict = "PASS" if report.passed else "FAIL"
    lines.append(
        f"{verdict} {report.kind} {report.target}: {ran} rules run"
        + (f", {skipped} skipped" if skipped else "")
        + f"; {counts['error']} errors, {counts['warning']} warnings, {counts['info']} info;"
        + f" {report.total_seconds:.2f} s, {io.get('requests', 0)} requests, {io.get('bytes', 0)} bytes read"
    )
    return "\n".join(lines)


def write_output(report: Report, dest: str) -> None:
    """Write the JSON report to a local file or an s3:// URI (atomically for files)."""
    text = json.dumps(report.to_dict(), indent=2) + "\n"
    if dest.startswith("s3://"):
        import s3fs

        from conformance.geozarr.store import s3_storage_options

        s3fs.S3FileSystem(**s3_storage_options()).pipe_file(dest[5:], text.encode())
        return
    import os
    import tempfile

    directory = os.path.dirname(os.path.abspath(dest))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".report-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def progress_printer(enabled: bool) -> Callable[[str], None] | None:
    if not enabled:
        return None

    def show(rule_id: str) -> None:
        print(f"  running {rule_id}", file=sys.stderr, flush=True)

    return show
