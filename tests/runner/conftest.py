"""Shared fixtures of the runner tests: generated samples and converted stores
(session-scoped: each is made once), and the loopback S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tests.runner.runnerkit import Converted, run_runner


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


@pytest.fixture(scope="session")
def converted_144(sample_144: Path, tmp_path_factory: pytest.TempPathFactory) -> Converted:
    base = tmp_path_factory.mktemp("converted")
    out = base / "geozarr" / "S2_sample_144.zarr"
    r = run_runner("convert", str(sample_144), str(out), "--collection", "sentinel-2-l2a",
                   "--json", "--outputs-dir", str(base / "outs"))
    assert r.returncode == 0, r.stderr[-3000:]
    return Converted(output=str(out), result=r, outputs_dir=base / "outs")


@pytest.fixture(scope="session")
def converted_s3_72(sample_72: Path, s3_server,  # noqa: F811 - the session fixture
                     tmp_path_factory: pytest.TempPathFactory) -> tuple[Converted, dict[str, str]]:
    """sample (local) -> convert to s3://.../collection/item.zarr on the loopback S3 server."""
    s3_server.client().create_bucket(Bucket="geozarr-out")
    base = tmp_path_factory.mktemp("converted_s3")
    env = {**s3_server.env(), "GEOZARR_SCRATCH_DIR": str(base / "scratch")}
    r = run_runner("convert", str(sample_72), "--output-bucket", "geozarr-out", "--output-prefix", "tests",
                   "--collection", "sentinel-2-l2a", "--item-id", "S2_sample_72", "--json", "--quiet",
                   "--outputs-dir", str(base / "outs"), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return Converted(output="s3://geozarr-out/tests/sentinel-2-l2a/S2_sample_72.zarr", result=r,
                     outputs_dir=base / "outs"), env
