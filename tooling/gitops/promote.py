"""Promotion: pin an env's runner image to a digest, gated on evidence.

Only the `digest:` of the matching entry in `overlays/<env>/kustomization.yaml`'s
`images:` changes (a `newTag:` there is removed: pinned envs run digests only); the rest
of the file, comments included, is kept byte for byte. An env with a promotion policy
(`overlays/<env>/promotion.yaml`: prod) is pinned only when the evidence gate
(tooling.gitops.gate) passes, or with --force and a reason. The promotion itself is the
pull request that carries this change; its body (evidence, override, rendered diff) is
written by `write_change` (see .github/workflows/promote.yaml and image.yaml).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tooling import repo, yamlio

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class PromoteError(Exception):
    pass


def pin_digest(text: str, image: str, digest: str) -> str:
    """Return kustomization TEXT with IMAGE's `images:` entry pinned to DIGEST."""
    if not DIGEST.match(digest):
        raise PromoteError(f"not an image digest: {digest!r} (expected sha256: and 64 hex digits)")
    data = yamlio.load(text) or {}
    entries = [e for e in data.get("images") or [] if isinstance(e, dict) and e.get("name") == image]
    if len(entries) != 1:
        raise PromoteError(f"expected one `images:` entry named {image}, found {len(entries)}")

    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if re.match(rf"^\s*-\s+name:\s*['\"]?{re.escape(image)}['\"]?\s*$", line))
    indent = len(lines[start]) - len(lines[start].lstrip(" -"))
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) >= indent
                                and not lines[end].lstrip().startswith("- ")):
        end += 1
    body = [line for line in lines[start + 1 : end] if not re.match(r"^\s*(digest|newTag):", line)]
    nl = "\n" if lines[start].endswith("\n") else ""
    body.insert(0, f"{' ' * indent}digest: {digest}\n")
    if not lines[start].endswith("\n"):
        lines[start] += "\n"
    new = "".join(lines[: start + 1] + body + lines[end:])
    if not nl and new.endswith("\n") and not text.endswith("\n"):
        new = new[:-1]

    check = [e for e in (yamlio.load(new) or {}).get("images") or [] if e.get("name") == image]
    if len(check) != 1 or check[0].get("digest") != digest or "newTag" in check[0]:
        raise PromoteError("could not rewrite the images entry safely; edit it by hand")
    return new


def runner_repository(env: str, root: Path | None = None) -> str:
    """The runner image's repository, as ENV's rendered WorkflowTemplates run it (ROOT: the
    checkout whose overlay renders, default this one); PromoteError when it does not render."""
    from tooling.envconfig import EnvConfigError, read_env_config
    from tooling.manifests.images import repository

    try:
        return repository(read_env_config(env, root=root).runner_image)
    except EnvConfigError as e:
        raise PromoteError(str(e)) from e


def current_ref(text: str, image: str) -> str:
    """IMAGE's pin in kustomization TEXT: `sha256:…`, `tag:…`, or "" when it has none."""
    data = yamlio.load(text) or {}
    for e in data.get("images") or []:
        if isinstance(e, dict) and e.get("name") == image:
            return str(e.get("digest") or (f"tag:{e['newTag']}" if e.get("newTag") else ""))
    return ""


def _in(root: Path, path: Path) -> Path:
    """PATH (under repo.ROOT) in the checkout at ROOT."""
    return root / path.relative_to(repo.ROOT)


@dataclass
class Change:
    """One pin of an env's runner image, and what the pull request says about it."""

    kind: str  # promotion | rollback
    env: str
    digest: str
    image: str  # the runner image's repository, as the env renders it (runner_repository)
    previous: str = ""
    evidence: list[str] = field(default_factory=list)  # Markdown lines: why this digest is safe
    missing: list[str] = field(default_factory=list)  # what the gate found missing
    reason: str = ""  # the --force reason, when the gate was overridden
    gate: dict[str, Any] | None = None
    diff: list[Any] = field(default_factory=list)  # tooling.gitops.diff.ObjectChange

    @property
    def forced(self) -> bool:
        return bool(self.missing)

    def to_dict(self, body_file: str) -> dict[str, Any]:
        return {"kind": self.kind, "env": self.env, "digest": self.digest, "previous": self.previous,
                "forced": self.forced, "reason": self.reason, "missing": self.missing,
                "gate": self.gate, "evidence": self.evidence, "body_file": body_file,
                "diff": [{"kind": c.kind, "namespace": c.namespace, "name": c.name,
                          "status": c.status} for c in self.diff]}


def write_change(change: Change, root: Path) -> None:
    """Pin change.image in the env's overlay under ROOT; fills change.previous and change.diff (the
    rendered diff of the env). PromoteError when it cannot (the file is then left as it was)."""
    from tooling.gitops.diff import compare
    from tooling.manifests.render import RenderError, kustomize

    overlay = _in(root, repo.overlay_dir(change.env))
    path = overlay / "kustomization.yaml"
    try:
        text = path.read_text()
        new = pin_digest(text, change.image, change.digest)
        before = kustomize(overlay)
        path.write_text(new)
        after = kustomize(overlay)
    except (OSError, RenderError) as e:
        if "new" in locals() and path.read_text() != text:
            path.write_text(text)
        raise PromoteError(str(e)) from e
    change.previous = current_ref(text, change.image)
    change.diff = compare(before, after, "main", "this change")


def pr_body(change: Change) -> str:
    """The pull request's body: what moves, the evidence (or the override), the rendered diff."""
    from tooling.gitops.diff import to_markdown

    verb = "Promote" if change.kind == "promotion" else "Roll back"
    lines = [f"## {verb} {change.env} to `{change.digest}`", "",
             f"- image: `{change.image}@{change.digest}`",
             f"- before: `{change.previous or 'unpinned'}`", ""]
    if change.missing:
        lines += ["### ⚠ Evidence gate overridden (--force)", "", f"Reason: {change.reason}", "",
                  "Missing:", *(f"- {m}" for m in change.missing), ""]
    lines += ["### Evidence", "", *(change.evidence or ["- none required (no promotion policy)"]), ""]
    lines.append(to_markdown({change.env: change.diff}, "main"))
    return "\n".join(lines) + "\n"


def emit(change: Change, as_json: bool, body_file: Path) -> None:
    body = pr_body(change)
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_text(body)
    shown = repo.relpath(body_file)
    if as_json:
        print(json.dumps({**change.to_dict(shown), "body": body}, indent=2))
        return
    where = repo.relpath(repo.overlay_dir(change.env) / "kustomization.yaml")
    print(f"{where}: {change.image} pinned to {change.digest} (was {change.previous or 'unpinned'}); "
          f"{len(change.diff)} rendered object(s) change; pull request body: {shown}", file=sys.stderr)


def refuse(change: Change, as_json: bool) -> int:
    """Exit 1, saying what evidence is missing."""
    if as_json:
        print(json.dumps(change.to_dict(""), indent=2))
    print(f"{change.kind} refused: {change.env} pinned to {change.digest} needs evidence:", file=sys.stderr)
    for m in change.missing:
        print(f"  - {m}", file=sys.stderr)
    print('  (to override, on the record: --force --reason "why")', file=sys.stderr)
    return 1


def evidence_lines(verdict: Any) -> list[str]:
    """Markdown lines of a passing (or overridden) gate verdict."""
    p = verdict.policy
    policy = (f"- policy: {p.evidence_from} conformance, soak {p.soak_hours:g} h, "
              f"{p.min_conversions} conversion(s) since; template hash `{verdict.rendered_hash}`")
    lines = [policy]
    if verdict.first_pass:
        f = verdict.first_pass
        lines.append(f"- first passed report: `{f.run_id}` at {f.finished_at:%Y-%m-%d %H:%M}Z "
                     f"({(verdict.now - f.finished_at).total_seconds() / 3600:.1f} h ago), `{f.uri}`")
    lines += [f"- passed since: `{e.run_id}` at {e.finished_at:%Y-%m-%d %H:%M}Z, `{e.uri}`"
              for e in verdict.since]
    return lines


def run_gate(change: Change, root: Path, s3: Any | None, now: datetime) -> None:
    """Fill change.gate/evidence/missing from ENV's policy (nothing when it has none).
    GateError/EvidenceError/EnvConfigError when the gate cannot decide."""
    from tooling.dag.objectstore import s3_client
    from tooling.envconfig import read_env_config
    from tooling.gitops import evidence, gate

    policy = gate.read_policy(change.env, root)
    if policy is None:
        return
    src = policy.evidence_from
    cfg = read_env_config(src, root=root)
    s3 = s3 or s3_client(cfg.s3_endpoint)
    expected = gate.expected_hash(root, src, change.digest, change.image)
    reports = evidence.load(s3, cfg.bucket, cfg.report_prefix, change.digest)
    others = [] if reports else evidence.digests(s3, cfg.bucket, cfg.report_prefix)
    verdict = gate.judge(change.digest, expected, reports, policy, now, others)
    change.gate, change.missing = verdict.to_dict(), verdict.missing
    change.evidence = evidence_lines(verdict)


def finish(change: Change, root: Path, force: bool, reason: str, as_json: bool, body_file: str) -> int:
    """Refuse, or write the change and the pull request body."""
    if change.missing and not force:
        return refuse(change, as_json)
    change.reason = reason if change.missing else ""
    write_change(change, root)
    default = _in(root, repo.BUILD) / "promotion" / f"{change.env}-{change.kind}.md"
    emit(change, as_json, Path(body_file) if body_file else default)
    return 0


def main(digest: str, env: str = "prod", force: bool = False, reason: str = "", as_json: bool = False,
         body_file: str = "", root: Path = repo.ROOT, s3: Any | None = None,
         now: datetime | None = None) -> int:
    """`invoke promote`: exit 0 pinned, 1 refused (evidence missing), 2 cannot run."""
    from tooling.envconfig import EnvConfigError
    from tooling.gitops.evidence import EvidenceError
    from tooling.gitops.gate import GateError

    if force and not reason.strip():
        print("promote: --force needs --reason \"…\" (it goes into the pull request)", file=sys.stderr)
        return 2
    try:
        repo.overlay_dir(env)
        if not DIGEST.match(digest):
            raise PromoteError(f"not an image digest: {digest!r} (expected sha256: and 64 hex digits)")
        change = Change("promotion", env, digest, runner_repository(env, root))
        run_gate(change, root, s3, now or datetime.now(UTC))
        return finish(change, root, force, reason, as_json, body_file)
    except (ValueError, PromoteError, GateError, EvidenceError, EnvConfigError) as e:
        print(f"promote: {e}", file=sys.stderr)
        return 2
