"""The one report of this project and its renderers: every command that checks or compares
(`geozarr-conformance geozarr|stac|report`, `invoke validate|lint|check|conformance|diff`) builds a
`Report` and prints it through `render(report, FORMAT)`: a table for people, JSON for scripts
(`schemas/conformance-report.schema.json`), Markdown for pull requests. Also: running rules
(`Check`, `run_checks`) and writing the JSON out.

The image and the repo tooling both use it (the tooling imports it from here, never the reverse).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.findings import Finding, Rule, Severity, count_by_severity, has_errors

SCHEMA_VERSION = "1"
FORMATS = ("table", "json", "markdown")
CANNOT_RUN = Rule("cannot-run", Severity.ERROR, "the command could run to the end")
# the words of a verdict (passed, not passed); a diff that finds differences has not "failed"
VERDICT_WORDS = {"diff": ("NO DIFFERENCE", "DIFFERS")}
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
# the keys `Report.to_dict` writes from its own fields; anything else a JSON report holds is `extra`
_OWN_KEYS = ("schema_version", "kind", "target", "passed", "exit_code", "started_at", "tool", "summary",
             "findings", "rules", "timings", "io", "error")


@dataclass(frozen=True)
class Check[C]:
    """One rule and the function that applies it to a context.

    `phase` groups timings (metadata, sampling, gdal, schema, consistency).
    """

    rule: Rule
    fn: Callable[[C], Iterable[Finding]]
    phase: str = "metadata"


@dataclass(frozen=True)
class Section:
    """A titled part of a report for people, beside its findings: a table (the DAG's tasks) or
    preformatted text (a unified diff, in a fenced block of language `lang` in Markdown)."""

    title: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    text: str = ""
    lang: str = ""


@dataclass
class Report:
    """What a command found: findings, the rules run, timings and I/O, and its verdict.

    `error` says why it could not run (exit 2). `ok` is False when the run failed beyond its
    findings (a workflow that did not succeed; a diff with differences, exit 1 as `kubectl diff`).
    `extra` holds the kind's own machine-readable fields (a validate run's `envs`, a DAG run's
    `tasks` and `checks`, …), written at the top level of the JSON; `sections` and `notes` are
    for people only (table and Markdown). `tool` names the command that made it.
    """

    kind: str
    target: str
    findings: list[Finding] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    io: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    total_seconds: float = 0.0
    ok: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tool: str = "geozarr-conformance"

    @property
    def all_findings(self) -> list[Finding]:
        """The findings, and a `cannot-run` one when it could not run (a script always gets one)."""
        return self.findings + ([CANNOT_RUN.finding(self.error)] if self.error else [])

    @property
    def passed(self) -> bool:
        return not self.error and self.ok and not has_errors(self.findings)

    @property
    def exit_code(self) -> int:
        if self.error:
            return 2
        return 0 if self.passed else 1

    @property
    def summary(self) -> dict[str, int]:
        return count_by_severity(self.all_findings)

    @property
    def verdict(self) -> str:
        passed, failed = VERDICT_WORDS.get(self.kind, ("PASS", "FAIL"))
        return passed if self.passed else failed

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
            "tool": {"name": self.tool, "version": _version()},
            "summary": self.summary,
            "findings": [f.to_dict() for f in self.all_findings],  # every key, empty or not
            "rules": self.rules,
            "timings": {"total_seconds": round(self.total_seconds, 6), "phases": self.phases},
            "io": self.io,
        }
        if self.error:
            d["error"] = self.error
        d.update({k: v for k, v in self.extra.items() if k not in _OWN_KEYS})
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """A report read back from its JSON (a check step's, the DAG report step's)."""
        error = str(data.get("error") or "")
        findings = [Finding.from_dict(f) for f in data.get("findings") or [] if isinstance(f, Mapping)]
        if error:  # written by to_dict from `error`: not a finding of its own
            findings = [f for f in findings if not (f.rule == CANNOT_RUN.id and f.message == error)]
        timings = data.get("timings") if isinstance(data.get("timings"), Mapping) else {}
        when = {"started_at": str(data["started_at"])} if data.get("started_at") else {}
        tool = data.get("tool") if isinstance(data.get("tool"), Mapping) else {}
        when |= {"tool": str(tool["name"])} if tool.get("name") else {}
        return cls(
            kind=str(data.get("kind") or ""), target=str(data.get("target") or ""), findings=findings,
            rules=list(data.get("rules") or []), phases=dict(timings.get("phases") or {}),
            io=dict(data.get("io") or {}), error=error, **when,
            total_seconds=float(timings.get("total_seconds") or 0.0),
            ok=bool(data.get("passed", True)),
            extra={k: v for k, v in data.items() if k not in _OWN_KEYS},
        )


def cannot_run_report(kind: str, target: str, message: str, tool: str = "") -> Report:
    """The report of a command that could not run: exit 2, one `cannot-run` finding."""
    return Report(kind=kind, target=target, error=message, tool=tool or f"invoke {kind}")


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


def render(report: Report, fmt: str) -> str:
    """REPORT in format FMT (one of FORMATS), without a final newline."""
    renderers = {"table": render_table, "json": render_json, "markdown": render_markdown}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


def render_json(report: Report) -> str:
    """The report for scripts: `schemas/conformance-report.schema.json`."""
    return json.dumps(report.to_dict(), indent=2)


def where(f: Finding) -> str:
    """Where a finding is, as one string: env, check, file, kind/name, then the path inside."""
    what = f"{f.kind}/{f.name}" if f.kind or f.name else ""
    return " ".join(part for part in (f.env, f.check, f.file, what, f.path) if part)


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (_SEVERITY_ORDER[f.severity], f.env, f.check, f.file, f.rule, f.path))


def verdict_line(report: Report) -> str:
    """`PASS kind target: rules; counts; time, I/O`: the last line of the table."""
    parts: list[str] = []
    if report.rules:
        ran = sum(1 for r in report.rules if "skipped" not in r)
        skipped = len(report.rules) - ran
        parts.append(f"{ran} rules run" + (f", {skipped} skipped" if skipped else ""))
    counts = report.summary
    parts.append(f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} info")
    cost = [f"{report.total_seconds:.2f} s"] if report.total_seconds else []
    if report.io:
        cost.append(f"{report.io.get('requests', 0)} requests, {report.io.get('bytes', 0)} bytes read")
    if cost:
        parts.append(", ".join(cost))
    return f"{report.verdict} {report.kind} {report.target}: " + "; ".join(parts)


def render_table(report: Report) -> str:
    """The report for people: the findings (worst first), the sections, the notes, the verdict."""
    lines: list[str] = []
    found = _sorted(report.all_findings)
    if found:
        w_sev = max(len("SEVERITY"), *(len(str(f.severity)) for f in found))
        w_rule = max(len("RULE"), *(len(f.rule) for f in found))
        w_where = min(60, max(len("WHERE"), *(len(where(f)) for f in found)))
        lines.append(f"{'SEVERITY':<{w_sev}}  {'RULE':<{w_rule}}  {'WHERE':<{w_where}}  MESSAGE")
        lines += [f"{f.severity!s:<{w_sev}}  {f.rule:<{w_rule}}  {where(f):<{w_where}}  {f.message}"
                  for f in found]
    for section in report.sections:
        lines.append(f"== {section.title}")
        lines += _aligned(section.columns, section.rows)
        if section.text:
            lines.append(section.text.rstrip("\n"))
    lines += report.notes
    lines.append(verdict_line(report))
    return "\n".join(lines)


def _aligned(columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    if not columns:
        return []
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in (columns, *rows)]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(columns: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    columns = list(columns)
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(_md(c) for c in row) + " |" for row in rows), ""]


def render_markdown(report: Report) -> str:
    """The report for a pull request: heading with the verdict, findings table, sections, notes."""
    facts = verdict_line(report).split(": ", 1)[1]
    lines = [f"### {report.verdict}: {report.kind} `{report.target}`", "", facts, ""]
    found = _sorted(report.all_findings)
    if found:
        lines += _md_table(("severity", "rule", "where", "message"),
                           ((str(f.severity), f"`{f.rule}`", f"`{where(f)}`" if where(f) else "", f.message)
                            for f in found))
    for section in report.sections:
        lines += [f"**{_md(section.title)}**", ""]
        if section.columns:
            lines += _md_table(section.columns, section.rows)
        if section.text:
            lines += ["<details><summary>details</summary>", "", f"```{section.lang}",
                      *section.text.rstrip("\n").splitlines(), "```", "</details>", ""]
    lines += [f"- {_md(note)}" for note in report.notes]
    return "\n".join(lines).rstrip("\n")


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


def output_format(fmt: str = "", as_json: bool = False) -> str:
    """The format a command prints: FMT when given (`--format`), else json with `--json`, else table."""
    if fmt and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt or ("json" if as_json else "table")
