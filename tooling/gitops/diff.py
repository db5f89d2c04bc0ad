"""What a change does to each env: the rendered manifests at a git ref against the
working tree (object by object), or the working tree against the live cluster
(`kubectl diff`). Secret values are masked in both (tooling.gitops.drift.redact).

Exit codes follow `kubectl diff`: 0 no difference, 1 differences, 2 cannot run.
"""

from __future__ import annotations

import difflib
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import yaml

from conformance.report import Report, Section, render_markdown
from tooling import envconfig, repo, yamlio
from tooling.errors import ToolingError
from tooling.gitops.drift import redact
from tooling.manifests import render, stdout

Key = tuple[str, str, str]  # (kind, namespace, name)


class DiffError(ToolingError):
    """The diff cannot be made (kubectl or git missing or failing, unknown ref)."""


@dataclass(frozen=True)
class ObjectChange:
    kind: str
    namespace: str
    name: str
    status: str  # added | removed | changed
    diff: str

    @property
    def ref(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


def kustomize_build(directory: Path) -> str:
    """Render a kustomization with the real `kubectl kustomize` (one implementation: manifests.render)."""
    try:
        return render.kustomize(directory)
    except render.RenderError as e:
        raise DiffError(str(e)) from e


def render_at_ref(ref: str, env: str) -> str:
    """Render ENV as it was at git REF (the tree is exported, the checkout is untouched)."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(repo.ROOT), "archive", "--format=tar", ref],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as e:
        raise DiffError("git not found on PATH") from e
    if archive.returncode != 0:
        msg = archive.stderr.decode(errors="replace").strip().splitlines()
        raise DiffError(f"cannot read git ref {ref!r}: {msg[-1] if msg else 'git archive failed'}")
    with tempfile.TemporaryDirectory(prefix="geozarr-diff-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        overlay = Path(tmp) / repo.overlay_dir(env).relative_to(repo.ROOT)
        if not overlay.is_dir():
            return ""  # the env did not exist at that ref: everything is added
        return kustomize_build(overlay)


def objects(rendered: str) -> dict[Key, str]:
    """Rendered YAML split into objects, each re-dumped canonically (sorted keys)."""
    out: dict[Key, str] = {}
    for doc in yamlio.load_all(rendered):
        if not isinstance(doc, dict):
            continue
        meta = doc.get("metadata") or {}
        key = (str(doc.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))
        if key[0] == "Secret":  # values never reach a diff (PR comments are public)
            doc = {**doc, **{f: {k: "***" for k in doc[f]} for f in ("data", "stringData")
                             if isinstance(doc.get(f), dict)}}
        out[key] = yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)
    return out


def compare(old: str, new: str, old_label: str = "old", new_label: str = "new") -> list[ObjectChange]:
    """Object-level changes from OLD to NEW rendered YAML, in a stable order."""
    before, after = objects(old), objects(new)
    changes: list[ObjectChange] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key, ""), after.get(key, "")
        if a == b:
            continue
        status = "added" if not a else "removed" if not b else "changed"
        text = "".join(
            difflib.unified_diff(
                a.splitlines(keepends=True),
                b.splitlines(keepends=True),
                fromfile=f"{old_label}/{key[0]}/{key[2]}",
                tofile=f"{new_label}/{key[0]}/{key[2]}",
            )
        )
        changes.append(ObjectChange(*key, status=status, diff=text))
    return changes


def live_diff(env: str) -> tuple[int, str]:
    """`kubectl diff` of the env's overlay against its cluster (context from env.yaml).

    Returns kubectl's exit code (0 same, 1 differs) and its output; >1 raises DiffError.
    """
    context = _env_context(env)
    cmd = ["kubectl", "diff", "-k", str(repo.overlay_dir(env))]
    if context:
        cmd[1:1] = ["--context", context]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise DiffError("kubectl not found on PATH") from e
    if done.returncode > 1:
        raise DiffError(f"kubectl diff for {env} failed (exit {done.returncode}): "
                        f"{stdout.tool_error_text(done.stderr)}")
    return done.returncode, done.stdout


def _env_context(env: str) -> str:
    try:
        return envconfig.read_env_file(env).context
    except envconfig.EnvConfigError as e:
        raise DiffError(str(e)) from e


def diff_report(per_env: dict[str, list[ObjectChange]], against: str) -> Report:
    """The changes as the one report (kind `diff`): one section per env with its unified diff,
    `changes` (per env: kind, namespace, name, status) in its JSON; differences fail it (exit 1)."""
    sections = [Section(f"{env}: " + (f"{len(changes)} object(s): " + ", ".join(f"{c.status} {c.ref}" for c in changes)
                                      if changes else "no change"),
                        text="".join(c.diff for c in changes), lang="diff")
                for env, changes in per_env.items()]
    return Report(kind="diff", target=f"{against} -> this change", ok=not any(per_env.values()), tool="invoke diff",
                  extra={"changes": {env: [{"kind": c.kind, "namespace": c.namespace, "name": c.name,
                                            "status": c.status} for c in changes]
                                     for env, changes in per_env.items()}},
                  sections=sections)


def live_report(per_env: dict[str, tuple[int, str]]) -> Report:
    """`kubectl diff` of each env as the one report (its output redacted; `envs` in its JSON)."""
    return Report(kind="diff", target="live cluster", tool="invoke diff", ok=not any(code for code, _ in per_env.values()),
                  extra={"envs": {env: {"differs": bool(code)} for env, (code, _) in per_env.items()}},
                  sections=[Section(f"{env}: " + ("differs" if code else "no difference"), text=redact(text),
                                    lang="diff") for env, (code, text) in per_env.items()])


def to_markdown(per_env: dict[str, list[ObjectChange]], against: str) -> str:
    """The changes in Markdown (the PR comment, a promotion's pull request body)."""
    return render_markdown(diff_report(per_env, against))


def main(envs: list[str] | None, against: str = "HEAD", live: bool = False,
         markdown: bool = False, as_json: bool = False, fmt: str = "") -> int:
    fmt = stdout.chosen_format("diff", fmt or ("markdown" if markdown else ""), as_json)
    if fmt is None:
        return 2
    envs = envs or list(repo.ENVS)
    try:
        if live:
            report = live_report({env: live_diff(env) for env in envs})
        else:
            report = diff_report({env: compare(render_at_ref(against, env), kustomize_build(repo.overlay_dir(env)),
                                               against, "worktree") for env in envs}, against)
    except (DiffError, ValueError) as e:
        return stdout.cannot_run("diff", str(e), fmt=fmt, target=against)
    return stdout.show(report, fmt)
