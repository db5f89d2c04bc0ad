"""Fixtures of the recovery tests: the loopback S3 server (tests/fixtures_s3.py) and the real
STAC API (tests/fixtures_stacapi.py), both session-scoped."""

from __future__ import annotations

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tests.fixtures_stacapi import stac_api  # noqa: F401
