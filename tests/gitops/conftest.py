"""Fixtures of the GitOps tests: a throw-away git repository holding the real base/,
components/ and overlays/ (promotions and rollbacks commit there, never in this checkout), the
loopback S3 server for the report store, and staging conformance reports recorded in it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tooling import repo
from tooling.gitops import evidence

IMAGE = evidence.RUNNER_IMAGE
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def clone(tmp_path: Path, s3_bucket: str) -> Path:  # noqa: F811
    """A git repository with this checkout's base/, components/, overlays/, one commit; its
    staging overlay's bucket is the loopback one (the report store)."""
    root = tmp_path / "deploy"
    root.mkdir()
    for name in ("base", "components", "overlays"):
        shutil.copytree(repo.ROOT / name, root / name)
    kustomization = root / "overlays" / "staging" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("output_bucket=eopf-geozarr-staging",
                                                               f"output_bucket={s3_bucket}"))
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "initial")
    return root


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


@pytest.fixture
def record(s3_server, s3_bucket) -> Callable[..., str]:  # noqa: F811
    """Record a report in the loopback report store (as `invoke conformance --env staging` does)."""
    def put(rep: dict[str, Any]) -> str:
        return evidence.record(rep, s3_bucket, "geozarr/conformance", s3_server.client())

    return put
