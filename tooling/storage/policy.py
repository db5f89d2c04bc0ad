"""overlays/<env>/storage.yaml -> the bucket's declared versioning and lifecycle rules, in the
terms of S3's API (PutBucketLifecycleConfiguration), so that live and declared compare directly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import repo, yamlio

SCHEMA_PATH = repo.SCHEMAS / "storage.schema.json"
NONCURRENT_RULE = "noncurrent-versions"
SCHEMA_RULE = Rule("storage.schema", Severity.ERROR,
                   "overlays/<env>/storage.yaml matches schemas/storage.schema.json")


class StoragePolicyError(ValueError):
    """storage.yaml is missing, not YAML, or does not match its schema (exit 2)."""


@dataclass(frozen=True)
class BucketPolicy:
    versioning: str
    rules: tuple[dict[str, Any], ...]  # lifecycle rules as S3 takes them, sorted by ID
    source: str

    def rule(self, rule_id: str) -> dict[str, Any] | None:
        return next((r for r in self.rules if r["ID"] == rule_id), None)


def storage_path(env: str) -> Path:
    return repo.overlay_dir(env) / "storage.yaml"


def schema_errors(data: Any, schema_path: Path = SCHEMA_PATH) -> list[str]:
    """'field.path: message' per schema violation of DATA (empty when valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(schema_path.read_text()))
    out = []
    for e in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in e.absolute_path) or "(top)"
        out.append(f"{where}: {e.message}")
    return out


def lifecycle_rules(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The declaration's lifecycle rules, in S3's terms."""
    nc = data["noncurrent_versions"]
    rules = [
        {
            "ID": NONCURRENT_RULE,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": nc["keep_days"]},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": nc["abort_incomplete_multipart_days"]
            },
        }
    ]
    for e in data.get("expire") or []:
        rules.append(
            {
                "ID": f"expire-{e['id']}",
                "Status": "Enabled",
                "Filter": {"Prefix": e["prefix"]},
                "Expiration": {"Days": e["days"]},
            }
        )
    for t in data.get("transitions") or []:
        rules.append(
            {
                "ID": f"transition-{t['id']}",
                "Status": "Enabled",
                "Filter": {"Prefix": t["prefix"]},
                "Transitions": [{"Days": t["days"], "StorageClass": t["storage_class"]}],
            }
        )
    return tuple(sorted(rules, key=lambda r: r["ID"]))


def load(path: Path) -> BucketPolicy:
    """The declared policy of PATH (StoragePolicyError when unreadable or invalid)."""
    where = repo.relpath(path)
    try:
        data = yamlio.load(path.read_text())
    except OSError as e:
        raise StoragePolicyError(f"{where}: cannot read ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise StoragePolicyError(f"{where}: not YAML ({e})") from e
    errors = schema_errors(data)
    if errors:
        raise StoragePolicyError(f"{where}: {'; '.join(errors)}")
    ids = [r["ID"] for r in lifecycle_rules(data)]
    if len(ids) != len(set(ids)):
        raise StoragePolicyError(f"{where}: two rules share an id: {sorted(ids)}")
    return BucketPolicy(versioning=data["versioning"], rules=lifecycle_rules(data), source=where)


def check_storage(env: str, path: Path | None = None) -> list[Finding]:
    """`invoke validate`'s findings for overlays/<env>/storage.yaml (rule storage.schema)."""
    path = path or storage_path(env)
    try:
        load(path)
    except StoragePolicyError as e:
        return [SCHEMA_RULE.finding(str(e), env=env, file=repo.relpath(path))]
    return []
