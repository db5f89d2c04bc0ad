"""`invoke render`: an env's manifests exactly as the cluster gets them, rendered by the real
`kubectl kustomize` (kubectl v1.32, kustomize v5.5), never by a re-implementation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tooling import repo
from tooling.errors import ToolingError
from tooling.manifests import stdout


class RenderError(ToolingError):
    """The manifests cannot be rendered (kubectl missing or kustomize failing)."""


def kustomize(directory: Path | str) -> str:
    """`kubectl kustomize DIRECTORY`; RenderError with kustomize's whole message when it fails."""
    try:
        done = subprocess.run(
            ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as e:
        raise RenderError("kubectl not found on PATH (kubectl v1.32 renders the overlays)") from e
    if done.returncode != 0:
        raise RenderError(f"kubectl kustomize {repo.relpath(directory)} failed: "
                          f"{stdout.tool_error_text(done.stderr)}")
    return done.stdout


def render(env: str) -> str:
    """The rendered manifests of ENV (`overlays/ENV`)."""
    return kustomize(repo.overlay_dir(env))


def main(env: str) -> int:
    try:
        text = render(env)
    except (RenderError, ValueError) as e:
        print(f"render: {e}", file=sys.stderr)
        return 2
    return stdout.emit(text)  # 0, or 141 when the reader left early (`| head`)
