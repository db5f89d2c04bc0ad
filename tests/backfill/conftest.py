from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tests.fixtures_stacapi import stac_api  # noqa: F401

