"""Fixtures of the recovery tests: the loopback S3 server (tests/fixtures_s3.py)."""

from __future__ import annotations

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
