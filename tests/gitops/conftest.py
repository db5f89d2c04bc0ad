"""Fixtures of the GitOps tests: a throw-away git repository holding the real base/,
components/ and overlays/ (promotions and rollbacks commit there, never in this checkout), the
loopback S3 server for the report store, and staging conformance reports recorded in it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tests.gitops.gitopskit import commit_all, git
from tooling import repo
from tooling.gitops import evidence


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


@pytest.fixture
def record(s3_server, s3_bucket) -> Callable[..., str]:  # noqa: F811
    """Record a report in the loopback report store (as `invoke conformance --env staging` does)."""
    def put(rep: dict[str, Any]) -> str:
        return evidence.record(rep, s3_bucket, "geozarr/conformance", s3_server.client())

    return put
