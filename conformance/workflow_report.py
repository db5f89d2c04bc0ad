"""The conformance report: what the DAG's `report` step writes, and what `invoke conformance`
prints (`schemas/conformance-report.schema.json`, kind `conformance`).

The step (`geozarr-conformance report …`, also `python -m conformance.workflow_report`) merges the
check steps' JSON reports and the tasks' phases into one verdict, writes it (local path or s3://)
and exits 0 when everything passed, 1 otherwise: it is the workflow's last word. The CLI then
adds what only the submitter knows (env, template revision, image, precise task timings).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance.findings import Finding, Rule, Severity, has_errors
from conformance.report import Report, Section, render_json

RULE_CHECK_MISSING = "conformance.report.check-missing"
RULE_TASK_FAILED = "conformance.dag.task-failed"
RULE_RUN_FAILED = "conformance.dag.run-failed"
CHECK_MISSING = Rule(RULE_CHECK_MISSING, Severity.ERROR, "every check step wrote a report that passed")
TASK_FAILED = Rule(RULE_TASK_FAILED, Severity.ERROR, "every task of the DAG succeeded (or was skipped)")
RUN_FAILED = Rule(RULE_RUN_FAILED, Severity.ERROR, "the DAG run succeeded")


def tasks_section(tasks: Sequence[Mapping[str, Any]]) -> Section:
    """The DAG's tasks as a table for people (name, phase, seconds)."""
    return Section("tasks", ("task", "phase", "seconds"),
                   tuple((str(t.get("name", "")), str(t.get("phase", "")), f"{float(t.get('seconds') or 0):.1f}")
                         for t in tasks))


def dag_report(run_id: str, findings: list[Finding], tasks: Sequence[Mapping[str, Any]],
               checks: Mapping[str, Any], *, ok: bool = True, **extra: Any) -> Report:
    """The conformance report of one DAG run (kind `conformance`, target the run id)."""
    return Report(kind="conformance", target=run_id, findings=findings, ok=ok,
                  extra={"run_id": run_id, "tasks": [dict(t) for t in tasks], "checks": dict(checks), **extra},
                  sections=[tasks_section(tasks)] if tasks else [])


def parse_tasks(text: str) -> list[dict[str, Any]]:
    """`name=phase,startedAt,finishedAt …` (what the template passes) -> task entries."""
    out: list[dict[str, Any]] = []
    for item in text.split():
        name, sep, rest = item.partition("=")
        if not sep or not name:
            raise ValueError(f"not name=phase,startedAt,finishedAt: {item!r}")
        phase, _, times = rest.partition(",")
        started, _, finished = times.partition(",")
        seconds = 0.0
        if started and finished:
            try:
                seconds = (datetime.fromisoformat(finished)
                           - datetime.fromisoformat(started)).total_seconds()
            except ValueError as e:
                raise ValueError(f"task {name}: bad timestamp: {e}") from e
        out.append({"name": name, "phase": phase, "seconds": max(0.0, seconds)})
    return out


def merge(run_id: str, tasks: Sequence[Mapping[str, Any]],
          checks: Mapping[str, Mapping[str, Any] | str]) -> Report:
    """One conformance report from the tasks and the check reports (or why one is missing)."""
    findings: list[Finding] = []
    sub: dict[str, Any] = {}
    for name, report in checks.items():
        if isinstance(report, str):  # the reason it could not be read
            findings.append(CHECK_MISSING.finding(report, f"checks.{name}"))
            continue
        sub[name] = dict(report)
        check = Report.from_dict(report)
        findings += [f.with_location(check=name) for f in check.findings]
        if not check.passed and not has_errors(check.findings):  # could not run, or said so
            findings.append(CHECK_MISSING.finding(
                f"the {name} check did not pass: {report.get('error', 'no reason given')}", f"checks.{name}"))
    for t in tasks:
        if t.get("phase") not in ("Succeeded", "Skipped"):
            findings.append(TASK_FAILED.finding(f"task {t['name']} {t.get('phase')}"
                                                + (f": {t['message']}" if t.get("message") else ""),
                                                f"tasks.{t['name']}"))
    return dag_report(run_id, findings, tasks, sub)


def _read_check(uri: str) -> Mapping[str, Any] | str:
    from conformance.objectstore import read_json

    try:
        report = read_json(uri)
    except FileNotFoundError:
        return f"no report at {uri} (the check could not run)"
    except json.JSONDecodeError as e:
        return f"report at {uri} is not JSON: {e.msg}"
    except Exception as e:  # botocore errors: NoSuchKey and the like
        code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404"):
            return f"no report at {uri} (the check could not run)"
        raise
    if not isinstance(report, dict):
        return f"report at {uri} is not a JSON object"
    return report


def _check_name(uri: str, report: Mapping[str, Any] | str) -> str:
    if isinstance(report, Mapping) and isinstance(report.get("kind"), str):
        return str(report["kind"])
    return Path(uri.rstrip("/")).stem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The report step's flags (also the `report` sub-command of `geozarr-conformance`)."""
    parser.add_argument("--run-id", required=True, help="the workflow's name")
    parser.add_argument("--tasks", default="", help="'name=phase,startedAt,finishedAt …' per task")
    parser.add_argument("--check", action="append", default=[], metavar="URI",
                        help="a check step's JSON report (local path or s3://); repeatable")
    parser.add_argument("--output", required=True, metavar="URI", help="where to write report.json")
    parser.add_argument("--json", action="store_true", help="also print the report on stdout")


DESCRIPTION = ("Merge the conformance DAG's check reports into one verdict; exit 0 passed, "
               "1 failed, 2 cannot run, 3 transient S3 failure.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="geozarr-conformance report", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """The report step on parsed arguments."""
    try:
        tasks = parse_tasks(args.tasks)
        checks: dict[str, Mapping[str, Any] | str] = {}
        for uri in args.check:
            report = _read_check(uri)
            checks[_check_name(uri, report)] = report
        report = merge(args.run_id, tasks, checks)
        from conformance.objectstore import write_json

        write_json(args.output, report.to_dict())
    except ValueError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - S3 unreachable or failing: transient (exit 3, retried)
        print(f"report: cannot read or write the reports: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    if args.json:
        print(render_json(report))
    verdict = "passed" if report.passed else "FAILED"
    print(json.dumps({"step": "report", "level": "info",
                      "message": f"conformance {verdict}: {report.summary}",
                      "fields": {"output": args.output}}), file=sys.stderr)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
