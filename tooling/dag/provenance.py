"""Where a conformance run's template came from: the hash of the rendered object and the
checkout's commit (both recorded in the report)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from typing import Any

from tooling import repo


def rendered_hash(doc: dict[str, Any]) -> str:
    """sha256 of a rendered object, over its canonical JSON (key order and YAML style don't count)."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def git_revision() -> str:
    """The checkout's commit, `+dirty` when the working tree differs from it; "" without git."""
    try:
        sha = subprocess.run(["git", "-C", str(repo.ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, check=False)
        if sha.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "-C", str(repo.ROOT), "status", "--porcelain", "--",
                                "base", "overlays", "components"],
                               capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
