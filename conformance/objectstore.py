"""Small JSON documents on a local path or S3 (the reports), through the one S3 client factory
(runner.s3). Used by the image's report step and by the repo tooling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import bounded_json
from runner.s3 import s3_client


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
