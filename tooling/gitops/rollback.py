"""`invoke rollback --env prod [--to DIGEST]`: the promotion change, back to a digest the env ran.

The target is the digest pinned before the current one in the git history of
`overlays/<env>/kustomization.yaml` (or --to, which must appear in that history). No soak: it is
a way back, but the digest needs evidence that it once passed (a passed report in the evidence
env's store, any template), or --force with a reason. The change and the pull request body are
those of a promotion (tooling.gitops.promote).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling import repo
from tooling.gitops.promote import (
    DIGEST,
    Change,
    PromoteError,
    _in,
    current_ref,
    finish,
    runner_repository,
)


class RollbackError(Exception):
    pass


@dataclass(frozen=True)
class Pin:
    """One pinned digest in the history of an overlay."""

    digest: str
    commit: str
    date: str
    subject: str


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise RollbackError("git not found on PATH") from e
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RollbackError(f"git {args[0]}: {lines[-1] if lines else 'failed'}")
    return done.stdout


def pinned_history(root: Path, env: str, image: str) -> list[Pin]:
    """The digests ENV's overlay pinned IMAGE to, newest first, one entry per change of digest
    (the commit that introduced it)."""
    rel = str(repo.overlay_dir(env).relative_to(repo.ROOT) / "kustomization.yaml")
    log = _git(root, "log", "--format=%H%x1f%cI%x1f%s", "--", rel)
    pins: list[Pin] = []
    for line in reversed(log.splitlines()):  # oldest first, to keep the commit that introduced each
        commit, date, subject = line.split("\x1f", 2)
        ref = current_ref(_git(root, "show", f"{commit}:{rel}"), image)
        if DIGEST.match(ref) and (not pins or pins[-1].digest != ref):
            pins.append(Pin(ref, commit, date, subject))
    return pins[::-1]


def choose_target(pins: list[Pin], current: str, to: str = "") -> Pin:
    """--to's pin, or the newest pin before CURRENT; RollbackError when there is none."""
    if to:
        found = [p for p in pins if p.digest == to]
        if not found:
            raise RollbackError(f"{to} was never pinned in this env's history: roll back to a "
                                "digest it ran (`git log -p` of its kustomization.yaml)")
        if to == current:
            raise RollbackError(f"the env already runs {to}")
        return found[0]
    for p in pins:
        if p.digest != current:
            return p
    raise RollbackError(f"no earlier digest in the history of this env than {current or 'none'}")


def once_passed(change: Change, root: Path, s3: Any | None) -> None:
    """Evidence that change.digest once passed (any template): fills evidence or missing."""
    from tooling.dag.objectstore import s3_client
    from tooling.envconfig import read_env_config
    from tooling.gitops import evidence, gate

    policy = gate.read_policy(change.env, root)
    if policy is None:
        return
    src = policy.evidence_from
    cfg = read_env_config(src, root=root)
    reports = evidence.load(s3 or s3_client(cfg.s3_endpoint), cfg.bucket, cfg.report_prefix, change.digest)
    passed = [r for r in reports if r.passed]
    change.gate = {"reports": [r.to_dict() for r in reports], "missing": []}
    if not passed:
        change.missing = [(f"no passed {src} conformance report for {change.digest} in the report "
                           f"store ({len(reports)} report(s), none passed)")]
        change.gate["missing"] = change.missing
        return
    change.evidence += [f"- passed on {src}: `{r.run_id}` at {r.finished_at:%Y-%m-%d %H:%M}Z, `{r.uri}`"
                        for r in passed[-3:]]


def main(env: str = "prod", to: str = "", force: bool = False, reason: str = "", as_json: bool = False,
         body_file: str = "", root: Path = repo.ROOT, s3: Any | None = None) -> int:
    """Exit 0 pinned back, 1 refused (no such digest in history, or no evidence), 2 cannot run."""
    from tooling.envconfig import EnvConfigError
    from tooling.gitops.evidence import EvidenceError
    from tooling.gitops.gate import GateError

    if force and not reason.strip():
        print("rollback: --force needs --reason \"…\" (it goes into the pull request)", file=sys.stderr)
        return 2
    try:
        path = _in(root, repo.overlay_dir(env)) / "kustomization.yaml"
        if to and not DIGEST.match(to):
            raise PromoteError(f"not an image digest: {to!r} (expected sha256: and 64 hex digits)")
        image = runner_repository(env, root)
        current = current_ref(path.read_text(), image)
        pins = pinned_history(root, env, image)
        try:
            target = choose_target(pins, current, to)
        except RollbackError as e:
            print(f"rollback refused: {e}", file=sys.stderr)
            return 1
        change = Change("rollback", env, target.digest, image)
        change.evidence = [(f"- {target.digest} was pinned by {target.commit[:12]} ({target.date}): "
                            f"{target.subject}")]
        once_passed(change, root, s3)
        return finish(change, root, force, reason, as_json, body_file)
    except (OSError, ValueError, RollbackError, PromoteError, GateError, EvidenceError,
            EnvConfigError) as e:
        print(f"rollback: {e}", file=sys.stderr)
        return 2
