"""The one shape every check in this project reports: a Finding.

Checks are small functions that return findings (errors as values); only the
command-line edges turn findings into exit codes, tables or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum


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
    stay empty elsewhere.
    """

    rule: str
    severity: Severity
    message: str
    path: str = ""
    env: str = ""
    file: str = ""
    kind: str = ""
    name: str = ""

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


def dumps(obj: object) -> str:
    """JSON as every `--json` flag in this project prints it."""

    def default(o: object) -> object:
        if isinstance(o, Finding):
            return o.to_dict()
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    return json.dumps(obj, indent=2, sort_keys=False, default=default)

