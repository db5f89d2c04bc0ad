"""The report store: conformance reports of an env, kept by the image digest they ran.

The conformance DAG's report step writes its verdict to
`s3://<bucket>/<report_prefix>/<workflow>/report.json`. `invoke conformance --env ENV` completes
it (env, the rendered template's hash, the image, its digest, when it ended) and records that
completed report at

    s3://<bucket>/<report_prefix>/evidence/<digest hex>/<workflow>.json

so a promotion (`tooling.gitops.gate`) reads only the reports of the digest it promotes, and a
report without a digest (an image pinned by tag) is never evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conformance.objectstore import read_json, write_json

EVIDENCE_DIR = "evidence"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class EvidenceError(Exception):
    """The report store cannot be read (one line for the user)."""


def runner_digest(images: str, image: str) -> str:
    """The digest of IMAGE (a repository: the runner's, as the env renders it) in a report's
    `image` field (image references joined by ", ")."""
    for ref in (s.strip() for s in images.split(",")):
        name, _, digest = ref.partition("@")
        if name.split(":")[0] == image and DIGEST.match(digest):
            return digest
    return ""


def prefix(report_prefix: str, digest: str = "") -> str:
    """The key prefix of the evidence (of DIGEST, when given)."""
    base = f"{report_prefix.strip('/')}/{EVIDENCE_DIR}/"
    return base + (f"{digest.removeprefix('sha256:')}/" if digest else "")


def stamp(report: dict[str, Any], image: str, now: datetime | None = None) -> dict[str, Any]:
    """REPORT with `image_digest` (IMAGE's, from its `image`) and `finished_at` (NOW, UTC) added."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return {**report, "image_digest": runner_digest(str(report.get("image") or ""), image),
            "finished_at": when.isoformat(timespec="seconds").replace("+00:00", "Z")}


def record(report: dict[str, Any], bucket: str, report_prefix: str, s3: Any) -> str:
    """Write a stamped REPORT to the store; its URI, or "" when it has no digest (not evidence)."""
    digest = str(report.get("image_digest") or "")
    if not DIGEST.match(digest):
        return ""
    run_id = str(report.get("run_id") or "").strip("/") or "unnamed"
    uri = f"s3://{bucket}/{prefix(report_prefix, digest)}{run_id}.json"
    write_json(uri, report, s3)
    return uri


@dataclass(frozen=True)
class Evidence:
    """One recorded report, as a promotion reads it."""

    uri: str
    run_id: str
    env: str
    passed: bool
    image_digest: str
    rendered_hash: str
    finished_at: datetime
    conversions: int  # successful conversions in that run (its convert task)
    errors: tuple[str, ...]

    @classmethod
    def from_report(cls, uri: str, report: dict[str, Any]) -> Evidence:
        try:
            finished = datetime.fromisoformat(str(report["finished_at"]))
        except (KeyError, ValueError) as e:
            raise EvidenceError(f"{uri}: no valid finished_at ({e})") from e
        tasks = report.get("tasks") or []
        template = report.get("template") or {}
        errors = [f"{f.get('rule')}: {f.get('message')}" for f in report.get("findings") or []
                  if f.get("severity") == "error"]
        return cls(uri, str(report.get("run_id") or ""), str(report.get("env") or ""),
                   report.get("passed") is True, str(report.get("image_digest") or ""),
                   str(template.get("rendered_hash") or ""), finished.astimezone(UTC),
                   sum(1 for t in tasks if t.get("name") == "convert" and t.get("phase") == "Succeeded"),
                   tuple(errors[:3]))

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "run_id": self.run_id, "env": self.env, "passed": self.passed,
                "image_digest": self.image_digest, "rendered_hash": self.rendered_hash,
                "finished_at": self.finished_at.isoformat(timespec="seconds"),
                "conversions": self.conversions, "errors": list(self.errors)}


def _keys(s3: Any, bucket: str, key_prefix: str, delimiter: str = "") -> tuple[list[str], list[str]]:
    """(object keys, common prefixes) under KEY_PREFIX."""
    keys: list[str] = []
    prefixes: list[str] = []
    kwargs = {"Bucket": bucket, "Prefix": key_prefix, **({"Delimiter": delimiter} if delimiter else {})}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
            keys += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    except Exception as e:  # botocore: no bucket, no credentials, endpoint down
        raise EvidenceError(f"cannot list s3://{bucket}/{key_prefix}: {type(e).__name__}: {e}") from e
    return keys, prefixes


def load(s3: Any, bucket: str, report_prefix: str, digest: str) -> list[Evidence]:
    """Every recorded report of DIGEST, oldest first."""
    keys, _ = _keys(s3, bucket, prefix(report_prefix, digest))
    out: list[Evidence] = []
    for key in keys:
        if not key.endswith(".json"):
            continue
        uri = f"s3://{bucket}/{key}"
        try:
            report = read_json(uri, s3)
        except Exception as e:  # unreadable: say which one
            raise EvidenceError(f"cannot read {uri}: {type(e).__name__}: {e}") from e
        if isinstance(report, dict):
            out.append(Evidence.from_report(uri, report))
    return sorted(out, key=lambda e: e.finished_at)


def digests(s3: Any, bucket: str, report_prefix: str) -> list[str]:
    """The digests the store holds reports for."""
    _, prefixes = _keys(s3, bucket, prefix(report_prefix), delimiter="/")
    return ["sha256:" + p.rstrip("/").rsplit("/", 1)[-1] for p in prefixes]
