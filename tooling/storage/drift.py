"""The live bucket against its declaration: versioning and lifecycle rules, rule by rule (by ID).

S3 answers a rule in more than one spelling (a legacy top-level `Prefix`, an empty `Filter`,
a `Filter.And` with only a prefix): `canonical` folds them into the form policy.py declares, so
a difference is a real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tooling.storage.policy import BucketPolicy


@dataclass(frozen=True)
class Drift:
    field: str  # "versioning" or "lifecycle.<rule id>"
    declared: Any  # None: not declared (apply removes it)
    live: Any  # None: missing live (apply adds it)

    @property
    def action(self) -> str:
        if self.field == "versioning":
            return f"set versioning {self.declared}"
        if self.live is None:
            return f"add lifecycle rule {self.field.split('.', 1)[1]}"
        if self.declared is None:
            return f"remove lifecycle rule {self.field.split('.', 1)[1]} (not declared)"
        return f"replace lifecycle rule {self.field.split('.', 1)[1]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "declared": self.declared,
            "live": self.live,
            "action": self.action,
        }


def canonical(rule: dict[str, Any]) -> dict[str, Any]:
    """RULE as policy.py spells it: Filter {Prefix}, transitions sorted, no empty sections."""
    out = {
        k: v for k, v in rule.items() if k not in ("Prefix", "Filter") and v not in (None, [], {})
    }
    flt = rule.get("Filter") if isinstance(rule.get("Filter"), dict) else {}
    if isinstance(flt.get("And"), dict) and set(flt["And"]) <= {"Prefix"}:
        flt = {"Prefix": flt["And"].get("Prefix", "")}
    if not flt or set(flt) == {"Prefix"}:
        flt = {"Prefix": flt.get("Prefix", rule.get("Prefix", ""))}
    out["Filter"] = flt
    if isinstance(out.get("Transitions"), list):
        out["Transitions"] = sorted(out["Transitions"], key=lambda t: (t.get("Days", 0), str(t)))
    return out


def live_versioning(client: Any, bucket: str) -> str:
    """Enabled, Suspended, or Off (never enabled: S3 then answers without a Status)."""
    return str(client.get_bucket_versioning(Bucket=bucket).get("Status") or "Off")


def live_rules(client: Any, bucket: str) -> dict[str, dict[str, Any]]:
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return {}
        raise
    return {str(r.get("ID", "")): canonical(r) for r in rules}


def drift(client: Any, bucket: str, policy: BucketPolicy) -> list[Drift]:
    """Every difference between the live BUCKET and POLICY (empty: in step)."""
    out = []
    versioning = live_versioning(client, bucket)
    if versioning != policy.versioning:
        out.append(Drift("versioning", policy.versioning, versioning))
    live = live_rules(client, bucket)
    declared = {r["ID"]: canonical(r) for r in policy.rules}
    for rule_id in sorted(set(live) | set(declared)):
        if live.get(rule_id) != declared.get(rule_id):
            out.append(Drift(f"lifecycle.{rule_id}", declared.get(rule_id), live.get(rule_id)))
    return out


def apply(client: Any, bucket: str, policy: BucketPolicy, drifts: list[Drift]) -> list[str]:
    """Make BUCKET say POLICY (only the parts that drift); the calls made."""
    calls = []
    if any(d.field == "versioning" for d in drifts):
        client.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": policy.versioning}
        )
        calls.append(f"PutBucketVersioning {policy.versioning}")
    if any(d.field.startswith("lifecycle.") for d in drifts):
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [dict(r) for r in policy.rules]}
        )
        calls.append(f"PutBucketLifecycleConfiguration ({len(policy.rules)} rules)")
    return calls
