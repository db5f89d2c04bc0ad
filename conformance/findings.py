"""The one shape every check in this project reports: a Finding.

Checks are small functions that return findings (errors as values); only the
command-line edges turn findings into exit codes, tables or JSON (`conformance.report`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found by one rule.

    `path` is where inside the object the problem is: a field path in a
    manifest (`spec.templates[2].container.image`), a node path in a Zarr
    store (`/measurements/reflectance/r10m/b02`) or a JSON path in a STAC item.
    `env`, `file`, `kind` and `name` locate the object for manifest checks and
    stay empty elsewhere; `check` names the sub-report a DAG report's finding came from.
    """

    rule: str
    severity: Severity
    message: str
    path: str = ""
    env: str = ""
    file: str = ""
    kind: str = ""
    name: str = ""
    check: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """A finding read back from a JSON report (unknown keys dropped; an unknown severity is an
        error: a report we cannot read whole must not pass)."""
        try:
            severity = Severity(str(data.get("severity", "error")))
        except ValueError:
            severity = Severity.ERROR
        names = {f.name for f in fields(cls)} - {"severity"}
        values = {"rule": "?", "message": "(no message)"} | {
            k: str(v) for k, v in data.items() if k in names and v is not None}
        return cls(severity=severity, **values)

    def to_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["severity"] = str(self.severity)
        return d

    def with_location(self, **where: str) -> Finding:
        """A copy with empty location fields (env/file/kind/name/path) filled in."""
        values = self.to_dict() | {k: v for k, v in where.items() if not getattr(self, k)}
        values["severity"] = Severity(values["severity"])
        return Finding(**values)


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's identity: its id, default severity and one line saying what it checks."""

    id: str
    severity: Severity
    summary: str

    def finding(self, message: str, path: str = "", **where: str) -> Finding:
        return Finding(rule=self.id, severity=self.severity, message=message, path=path, **where)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {str(s): 0 for s in Severity}
    for f in findings:
        counts[str(f.severity)] += 1
    return counts
