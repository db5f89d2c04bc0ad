"""runner.s3: the one S3 settings factory (runner storage, conformance checks, report step, tooling)."""

from __future__ import annotations

import pytest

from runner.s3 import MissingCredentials, s3_settings

ENV = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
       "GEOZARR_S3_MAX_ATTEMPTS": "1"}


def test_settings_from_the_aws_variables():
    s = s3_settings(ENV)
    assert (s.key, s.secret, s.region, s.endpoint, s.max_attempts) == ("k", "s", "us-east-1", "http://127.0.0.1:9", 1)
    assert (s.connect_timeout, s.read_timeout) == (10.0, 60.0)
    assert s3_settings(ENV, endpoint="http://other").endpoint == "http://other"
    assert s3_settings({"AWS_ENDPOINT_URL_S3": "http://s3only"}).endpoint == "http://s3only"


def test_s3fs_options_carry_credentials_only_when_set():
    opts = s3_settings(ENV | {"AWS_SESSION_TOKEN": "t"}).s3fs_options()
    assert (opts["key"], opts["secret"], opts["token"]) == ("k", "s", "t")
    assert opts["client_kwargs"] == {"region_name": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}
    assert opts["config_kwargs"]["retries"] == {"max_attempts": 1, "mode": "standard"}
    assert "key" not in s3_settings({}).s3fs_options()


def test_missing_credentials_are_named():
    with pytest.raises(MissingCredentials, match="AWS_ACCESS_KEY_ID"):
        s3_settings({}).require_credentials()


def test_boto3_client_uses_the_same_settings():
    client = s3_settings(ENV).boto3_client()
    assert client.meta.endpoint_url == "http://127.0.0.1:9" and client.meta.region_name == "us-east-1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}  # botocore: 1 retry
