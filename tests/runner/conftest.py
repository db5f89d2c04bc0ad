"""Shared fixtures of the runner tests: generated samples and converted stores
(session-scoped: each is made once), and the loopback S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
REFERENCE_S2_L2A = (
    SHARED / "reference" / "eopf-products"
    / "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613.json"
)


def run_runner(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m runner ARGS` in a subprocess (the real CLI, exit code and streams)."""
    full_env = dict(os.environ)
    full_env.pop("GEOZARR_PARAMS_DIR", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO,
    )


def json_lines(stderr: str) -> list[dict[str, object]]:
    """Every stderr line must be one JSON object; returns them."""
    out = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        out.append(json.loads(line))
    return out


@pytest.fixture(scope="session")
def sample_144(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from runner.sample_s2 import write_sample

    out = tmp_path_factory.mktemp("sample") / "S2_sample_144.zarr"
    write_sample(str(out), size=144, seed=7)
    return out


@pytest.fixture(scope="session")
def sample_72(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from runner.sample_s2 import write_sample

    out = tmp_path_factory.mktemp("sample") / "S2_sample_72.zarr"
    write_sample(str(out), size=72, seed=3)
    return out
