"""Small JSON documents on a local path or S3 (the reports), and the boto3 S3 client built
from the standard AWS variables. Used by the image's report step and by the repo tooling.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import bounded_json


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket, key)


def s3_client(endpoint: str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """A boto3 S3 client from the standard AWS variables (of ENV, default os.environ)."""
    import boto3
    from botocore.config import Config

    env = os.environ if env is None else env
    return boto3.client(
        "s3",
        endpoint_url=endpoint or env.get("AWS_ENDPOINT_URL") or None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        region_name=env.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def read_json(uri: str, client: Any | None = None) -> Any:
    """A JSON document from a local path or an s3:// URI."""
    if uri.startswith("s3://"):
        loc = S3Location.parse(uri)
        body = (client or s3_client()).get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()
        return bounded_json.loads(body)
    return bounded_json.loads(Path(uri).read_text())


def write_json(uri: str, obj: Any, client: Any | None = None) -> None:
    """Write OBJ as JSON to a local path (atomically) or an s3:// URI."""
    text = json.dumps(obj, indent=2) + "\n"
    if uri.startswith("s3://"):
        loc = S3Location.parse(uri)
        (client or s3_client()).put_object(Bucket=loc.bucket, Key=loc.key, Body=text.encode(),
                                           ContentType="application/json")
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    tmp.replace(path)
