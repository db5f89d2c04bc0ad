"""Argo's validator, ported: CronWorkflow schedules and timezone (ValidateCronWorkflow, v4.0.9).

The CRD already requires `schedules` and checks each schedule's shape, `concurrencyPolicy` and
`startingDeadlineSeconds`; what it cannot see is what robfig/cron's `ParseStandard` refuses (a
field out of range: minute 61, month 13) and a timezone Go's `time.LoadLocation` does not know.
"""

from __future__ import annotations

import re
import zoneinfo

from conformance.findings import Finding, Rule, Severity
from tooling.argo import WorkflowView, as_dict, as_list
from tooling.schema.argo_lint import CheckFn, LintMode

CRON = Rule(
    "argo.cron", Severity.ERROR,
    "CronWorkflow schedules parse as standard cron and the timezone exists (ValidateCronWorkflow)",
)

_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_EVERY = re.compile(r"^@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_MONTHS = {m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, low, high, names) of the five standard fields
_FIELDS = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS), ("day of week", 0, 6, _DAYS),
)


def _value(text: str, low: int, high: int, named: dict[str, int]) -> int | None:
    number = named.get(text.lower()) if text.isalpha() else (int(text) if text.isdigit() else None)
    return number if number is not None and low <= number <= high else None


def _field_problem(text: str, field: tuple[str, int, int, dict[str, int]]) -> str:
    """robfig/cron getRange for one comma-separated part of a field: '' when valid."""
    name, low, high, named = field
    for part in text.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"{name}: bad step {step!r}"
        if span in ("*", "?"):
            continue
        bounds = span.split("-")
        values = [_value(b, low, high, named) for b in bounds]
        if len(bounds) > 2 or None in values:
            return f"{name}: {span!r} is not within {low}-{high}"
        if len(values) == 2 and values[0] > values[1]:  # type: ignore[operator]
            return f"{name}: {span!r} has its beginning after its end"
    return ""


def schedule_problem(schedule: str) -> str:
    """Why robfig/cron's ParseStandard refuses SCHEDULE ('' when it parses)."""
    spec = re.sub(r"^(CRON_)?TZ=\S+\s+", "", schedule.strip())
    if spec in _DESCRIPTORS or _EVERY.match(spec):
        return ""
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}"
    for text, field in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(text, field)
        if problem:
            return problem
    return ""


def _timezone_problem(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"invalid timezone {name!r}: unknown time zone"
    return ""


def check_cron(view: WorkflowView, mode: LintMode) -> list[Finding]:
    if view.doc.kind != "CronWorkflow":
        return []
    spec = as_dict(view.doc.obj.get("spec"))
    where = view.doc.where()
    out = []
    for i, schedule in enumerate(as_list(spec.get("schedules"))):
        problem = schedule_problem(schedule) if isinstance(schedule, str) else ""
        if problem:
            message = f"cron schedule {schedule!r} is malformed: {problem}"
            out.append(CRON.finding(message, path=f"spec.schedules[{i}]", **where))
    timezone = spec.get("timezone")
    if isinstance(timezone, str) and timezone and _timezone_problem(timezone):
        out.append(CRON.finding(_timezone_problem(timezone), path="spec.timezone", **where))
    return out


CRON_CHECKS: tuple[CheckFn, ...] = (check_cron,)
