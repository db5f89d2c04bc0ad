"""Promotion staging → prod: pin the prod overlay's runner image to a digest.

Only the `digest:` of the matching entry in `overlays/prod/kustomization.yaml`'s
`images:` changes (a `newTag:` there is removed: prod runs digests only); the rest
of the file, comments included, is kept byte for byte. The promotion itself is
the pull request that carries this change (see .github/workflows/promote.yaml).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from tooling import repo
from tooling.errors import ToolingError
from tooling.manifests.images import repository, runner_image
from tooling.manifests.render import RenderError
from tooling.manifests.rendered import render_env

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class PromoteError(ToolingError):
    pass


def pin_digest(text: str, image: str, digest: str) -> str:
    """Return kustomization TEXT with IMAGE's `images:` entry pinned to DIGEST."""
    if not DIGEST.match(digest):
        raise PromoteError(f"not an image digest: {digest!r} (expected sha256: and 64 hex digits)")
    data = yaml.safe_load(text) or {}
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

    check = [e for e in (yaml.safe_load(new) or {}).get("images") or [] if e.get("name") == image]
    if len(check) != 1 or check[0].get("digest") != digest or "newTag" in check[0]:
        raise PromoteError("could not rewrite the images entry safely; edit it by hand")
    return new


def runner_repository(env: str) -> str:
    """The runner image's repository, as ENV's rendered WorkflowTemplates run it."""
    try:
        return repository(runner_image(render_env(env).docs))
    except RenderError as e:
        raise PromoteError(str(e)) from e


def main(digest: str, env: str = "prod", image: str | None = None) -> int:
    try:
        path: Path = repo.overlay_dir(env) / "kustomization.yaml"
    except ValueError as e:
        print(f"promote: {e}", file=sys.stderr)
        return 2
    try:
        image = image or runner_repository(env)
        text = path.read_text()
        new = pin_digest(text, image, digest)
    except (OSError, PromoteError, yaml.YAMLError) as e:
        print(f"promote: {repo.relpath(path)}: {e}", file=sys.stderr)
        return 2
    if new == text:
        print(f"{repo.relpath(path)}: {image} already at {digest}", file=sys.stderr)
        return 0
    path.write_text(new)
    print(f"{repo.relpath(path)}: {image} pinned to {digest}", file=sys.stderr)
    return 0
