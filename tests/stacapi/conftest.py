"""Fixtures of the STAC API registration tests: the real STAC API and the loopback
S3 server (session-scoped), and a clean environment for in-process runs."""

from __future__ import annotations

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tests.fixtures_stacapi import stac_api  # noqa: F401
from tests.stacapi.register_cli import STEP_ENV


@pytest.fixture
def clean_step_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the step's variables from the outer environment (in-process runs)."""
    for key in STEP_ENV:
        monkeypatch.delenv(key, raising=False)
