"""The evidence gate of a promotion: may ENV be pinned to image DIGEST?

Policy: `overlays/<env>/promotion.yaml` (schemas/promotion.schema.json). Evidence: the reports
of `evidence_from` (staging) recorded for DIGEST in its report store (tooling.gitops.evidence).
A promotion needs, for exactly DIGEST and the conformance template as this commit renders it
for staging with DIGEST pinned (its `rendered_hash`):

- a passed report, the first of them recorded at least `soak_hours` ago;
- at least `min_conversions` more passed runs after that one (each converts a real product);
- no failed run of that digest and template after the first pass.

Anything missing is one line of `Verdict.missing`; the caller refuses (exit 1) or, with
--force and a reason, goes on and writes both into the pull request.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import repo, yamlio
from tooling.gitops.evidence import Evidence

SCHEMA_PATH = repo.SCHEMAS / "promotion.schema.json"
TREE = ("base", "components", "overlays")  # what a render reads


POLICY = Rule("promotion.policy", Severity.ERROR,
              "overlays/<env>/promotion.yaml matches schemas/promotion.schema.json")


class GateError(Exception):
    """The gate cannot decide (bad policy, render failing): exit 2."""


@dataclass(frozen=True)
class Policy:
    env: str
    evidence_from: str
    soak_hours: float
    min_conversions: int


def read_policy(env: str, root: Path = repo.ROOT) -> Policy | None:
    """ENV's promotion policy under ROOT, or None when ENV has none (no evidence needed)."""
    import jsonschema

    path = root / repo.promotion_policy_path(env).relative_to(repo.ROOT)
    if not path.is_file():
        return None
    try:
        data = yamlio.load(path.read_text())
        jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    except (OSError, yaml.YAMLError) as e:
        raise GateError(f"{repo.relpath(path)}: {e}") from e
    except jsonschema.ValidationError as e:
        where = ".".join(str(p) for p in e.absolute_path) or "(root)"
        raise GateError(f"{repo.relpath(path)}: {where}: {e.message}") from e
    return Policy(env, data["evidence_from"], float(data["soak_hours"]), int(data["min_conversions"]))


def check_policy(env: str, root: Path = repo.ROOT) -> list[Finding]:
    """`invoke validate`: ENV's promotion policy, when it has one, reads as the gate reads it."""
    try:
        read_policy(env, root)
    except GateError as e:
        path = root / repo.promotion_policy_path(env).relative_to(repo.ROOT)
        return [POLICY.finding(str(e).removeprefix(f"{repo.relpath(path)}: "), env=env,
                               file=repo.relpath(path))]
    return []


def expected_hash(root: Path, env: str, digest: str, image: str) -> str:
    """The rendered_hash of ENV's conformance template at ROOT with IMAGE pinned to DIGEST: what
    a report of ENV running DIGEST on this commit's templates records."""
    from tooling.dag.provenance import rendered_hash
    from tooling.gitops.promote import PromoteError, pin_digest
    from tooling.manifests.render import RenderError, kustomize
    from tooling.manifests.rendered import from_rendered

    with tempfile.TemporaryDirectory(prefix="geozarr-gate-") as tmp:
        for name in TREE:
            shutil.copytree(root / name, Path(tmp) / name, symlinks=True)
        overlay = Path(tmp) / repo.overlay_dir(env).relative_to(repo.ROOT)
        kustomization = overlay / "kustomization.yaml"
        try:
            kustomization.write_text(pin_digest(kustomization.read_text(), image, digest))
            rendered = from_rendered(kustomize(overlay), overlay, env)
            return rendered_hash(rendered.workflow_template())
        except (PromoteError, RenderError, OSError) as e:
            raise GateError(f"cannot render {env}'s conformance template with {digest}: {e}") from e


@dataclass
class Verdict:
    digest: str
    rendered_hash: str
    policy: Policy
    now: datetime
    missing: list[str] = field(default_factory=list)
    first_pass: Evidence | None = None
    since: list[Evidence] = field(default_factory=list)
    considered: list[Evidence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        p = self.policy
        return {"ok": self.ok, "digest": self.digest, "rendered_hash": self.rendered_hash,
                "policy": {"evidence_from": p.evidence_from, "soak_hours": p.soak_hours,
                           "min_conversions": p.min_conversions},
                "missing": self.missing,
                "first_pass": self.first_pass.to_dict() if self.first_pass else None,
                "since": [e.to_dict() for e in self.since],
                "reports": [e.to_dict() for e in self.considered]}


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def judge(digest: str, rendered_hash: str, reports: list[Evidence], policy: Policy, now: datetime,
          other_digests: list[str] | None = None) -> Verdict:
    """The verdict on REPORTS (every recorded report of DIGEST, any template)."""
    v = Verdict(digest, rendered_hash, policy, now)
    src = policy.evidence_from
    if not reports:
        others = ", ".join(d[:19] for d in other_digests or []) or "none"
        v.missing.append(f"no {src} conformance report for {digest} in the report store "
                         f"(it holds reports for: {others}); pin {src} to it and run "
                         f"`invoke conformance --env {src}`")
        return v
    same = [r for r in reports if r.rendered_hash == rendered_hash]
    v.considered = same
    if not same:
        seen = ", ".join(sorted({r.rendered_hash[:19] for r in reports}))
        v.missing.append(f"{len(reports)} {src} report(s) for {digest}, none for the conformance "
                         f"template this commit renders ({rendered_hash[:19]}; they ran {seen}): "
                         f"the templates changed since; rerun `invoke conformance --env {src}`")
        return v
    passed = [r for r in same if r.passed]
    if not passed:
        last = same[-1]
        v.missing.append(f"no passed {src} report for {digest}: {len(same)} run(s) failed, the last "
                         f"({last.run_id}, {last.finished_at:%Y-%m-%d %H:%M}Z): "
                         + ("; ".join(last.errors) or "no error finding recorded"))
        return v
    v.first_pass = first = passed[0]
    later = [r for r in same if r.finished_at > first.finished_at]
    v.since = [r for r in later if r.passed]
    failed = [r for r in later if not r.passed]
    if failed:
        v.missing.append(f"{len(failed)} {src} run(s) of {digest} failed after the first pass, the "
                         f"last {failed[-1].run_id} at {failed[-1].finished_at:%Y-%m-%d %H:%M}Z: "
                         + ("; ".join(failed[-1].errors) or "no error finding recorded"))
    age = now - first.finished_at
    soak = timedelta(hours=policy.soak_hours)
    if age < soak:
        v.missing.append(f"too fresh: the first passed {src} report ({first.run_id}) is "
                         f"{_hours(age)} old, the soak is {policy.soak_hours:g} h "
                         f"(ready after {first.finished_at + soak:%Y-%m-%d %H:%M}Z)")
    conversions = sum(r.conversions for r in v.since)
    if conversions < policy.min_conversions:
        v.missing.append(f"{policy.min_conversions} successful {src} conversion(s) needed since "
                         f"{first.run_id}, found {conversions}: run `invoke conformance --env {src}` "
                         "again (or wait for the nightly job)")
    return v
