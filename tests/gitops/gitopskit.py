"""Helpers of the GitOps tests (plain functions; the fixtures are in conftest.py): git in a
throw-away repository, and completed conformance reports as `invoke conformance` stamps them."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# the runner image's repository as the overlays render it (test_promote asserts the render says so)
IMAGE = "ghcr.io/eopf-explorer/geozarr-runner"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD").strip()


def report(digest: str, rendered_hash: str, *, passed: bool = True, age_hours: float = 48,
           run_id: str = "geozarr-conformance-abcde", convert: str = "Succeeded") -> dict[str, Any]:
    """A completed staging conformance report, as `invoke conformance --env staging` stamps it."""
    finished = NOW - timedelta(hours=age_hours)
    findings = [] if passed else [{"rule": "geozarr.multiscales-geometry", "severity": "error",
                                   "path": "/measurements/reflectance/r720m",
                                   "message": "transform is not its parent's scaled"}]
    return {"schema_version": "1", "kind": "conformance", "run_id": run_id, "target": run_id,
            "passed": passed, "exit_code": 0 if passed else 1, "env": "staging",
            "findings": findings, "summary": {"error": len(findings), "warning": 0, "info": 0},
            "tasks": [{"name": "convert", "phase": convert, "seconds": 40.0}],
            "template": {"name": "geozarr-conformance", "git_sha": "x",
                         "rendered_hash": rendered_hash},
            "image": f"{IMAGE}@{digest}", "image_digest": digest,
            "finished_at": finished.isoformat(timespec="seconds").replace("+00:00", "Z")}
