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
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance.findings import Severity

SCHEMA_VERSION = "1"
RULE_CHECK_MISSING = "conformance.report.check-missing"
RULE_TASK_FAILED = "conformance.dag.task-failed"
RULE_RUN_FAILED = "conformance.dag.run-failed"


def finding(rule: str, message: str, path: str = "", severity: str = "error") -> dict[str, str]:
    return {"rule": rule, "severity": severity, "path": path, "message": message}


def summary(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = {str(s): 0 for s in Severity}
    for f in findings:
        counts[str(f.get("severity", "error"))] = counts.get(str(f.get("severity", "error")), 0) + 1
    return counts


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
          checks: Mapping[str, Mapping[str, Any] | str]) -> dict[str, Any]:
    """One conformance report from the tasks and the check reports (or why one is missing)."""
    findings: list[dict[str, Any]] = []
    sub: dict[str, Any] = {}
    for name, report in checks.items():
        if isinstance(report, str):  # the reason it could not be read
            findings.append(finding(RULE_CHECK_MISSING, report, f"checks.{name}"))
            continue
        sub[name] = dict(report)
        for f in report.get("findings") or []:
            findings.append({**f, "check": name})
        if not report.get("passed", False) and not any(
                f.get("severity") == "error" for f in report.get("findings") or []):
            findings.append(finding(RULE_CHECK_MISSING,
                                    f"the {name} check did not pass: {report.get('error', 'no reason given')}",
                                    f"checks.{name}"))
    for t in tasks:
        if t.get("phase") not in ("Succeeded", "Skipped"):
            findings.append(finding(RULE_TASK_FAILED, f"task {t['name']} {t.get('phase')}"
                                    + (f": {t['message']}" if t.get("message") else ""),
                                    f"tasks.{t['name']}"))
    passed = not any(f.get("severity") == "error" for f in findings)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "conformance",
        "target": run_id,
        "run_id": run_id,
        "passed": passed,
        "exit_code": 0 if passed else 1,
        "summary": summary(findings),
        "findings": findings,
        "tasks": [dict(t) for t in tasks],
        "checks": sub,
    }


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

        write_json(args.output, report)
    except ValueError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - S3 unreachable or failing: transient (exit 3, retried)
        print(f"report: cannot read or write the reports: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(report, indent=2))
    verdict = "passed" if report["passed"] else "FAILED"
    print(json.dumps({"step": "report", "level": "info",
                      "message": f"conformance {verdict}: {report['summary']}",
                      "fields": {"output": args.output}}), file=sys.stderr)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
