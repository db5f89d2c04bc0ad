"""The one place S3 access is configured: from the standard AWS variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`,
`AWS_DEFAULT_REGION`) and the pipeline's bounds on retries and timeouts (`GEOZARR_S3_MAX_ATTEMPTS`,
default 3; `GEOZARR_S3_CONNECT_TIMEOUT`/`GEOZARR_S3_READ_TIMEOUT`, 10/60 s), so that a failing S3
API surfaces quickly and Argo's retryStrategy does the retrying.

The runner's storage (s3fs), the conformance checks (s3fs), the report step and the repo tooling
(boto3) all build their S3 access here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import BadInput


class MissingCredentials(BadInput):
    """No S3 credentials in the environment."""


@dataclass(frozen=True)
class S3Settings:
    key: str
    secret: str
    token: str
    region: str
    endpoint: str
    max_attempts: int
    connect_timeout: float
    read_timeout: float

    def require_credentials(self) -> S3Settings:
        if not self.key or not self.secret:
            raise MissingCredentials(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(and AWS_ENDPOINT_URL for a non-AWS S3 API)")
        return self

    def s3fs_options(self) -> dict[str, Any]:
        """Keyword arguments of `s3fs.S3FileSystem` / `fsspec.filesystem("s3", ...)`."""
        client_kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint:
            client_kwargs["endpoint_url"] = self.endpoint
        options: dict[str, Any] = {
            "client_kwargs": client_kwargs,
            "config_kwargs": {
                "retries": {"max_attempts": self.max_attempts, "mode": "standard"},
                "connect_timeout": self.connect_timeout,
                "read_timeout": self.read_timeout,
            },
        }
        if self.key and self.secret:  # else s3fs asks botocore's default chain
            options |= {"key": self.key, "secret": self.secret}
        if self.token:
            options["token"] = self.token
        return options

    def boto3_client(self) -> Any:
        """A boto3 S3 client."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint or None,
            aws_access_key_id=self.key or None,
            aws_secret_access_key=self.secret or None,
            aws_session_token=self.token or None,
            region_name=self.region,
            config=Config(retries={"max_attempts": self.max_attempts, "mode": "standard"},
                          connect_timeout=self.connect_timeout, read_timeout=self.read_timeout),
        )


def s3_settings(env: Mapping[str, str] | None = None, endpoint: str | None = None) -> S3Settings:
    """The S3 settings of ENV (default os.environ); ENDPOINT overrides the environment's."""
    env = os.environ if env is None else env
    return S3Settings(
        key=env.get("AWS_ACCESS_KEY_ID", ""),
        secret=env.get("AWS_SECRET_ACCESS_KEY", ""),
        token=env.get("AWS_SESSION_TOKEN", ""),
        region=env.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint=endpoint or env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3") or "",
        max_attempts=int(env.get("GEOZARR_S3_MAX_ATTEMPTS") or 3),
        connect_timeout=float(env.get("GEOZARR_S3_CONNECT_TIMEOUT") or 10),
        read_timeout=float(env.get("GEOZARR_S3_READ_TIMEOUT") or 60),
    )


def s3_client(endpoint: str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """A boto3 S3 client from the standard AWS variables (of ENV, default os.environ)."""
    return s3_settings(env, endpoint).boto3_client()
