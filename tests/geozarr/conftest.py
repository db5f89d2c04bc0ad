from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tests.geozarr.stores import converted_sample, pipeline_store


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real converter's output for a 144 px sample (shared by the session; copy before editing)."""
    return converted_sample(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's own output for the same sample: `runner convert` (conversion + repair)."""
    return pipeline_store(tmp_path_factory.getbasetemp())
