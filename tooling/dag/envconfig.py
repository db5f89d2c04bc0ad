"""An env's tooling config, `overlays/<env>/env.yaml`, validated by `schemas/env.schema.yaml`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from tooling import repo

ENV_SCHEMA = repo.SCHEMAS / "env.schema.yaml"


class EnvConfigError(Exception):
    pass


@dataclass(frozen=True)
class EnvConfig:
    env: str
    context: str
    namespace: str
    bucket: str
    prefix: str
    s3_endpoint: str
    stac_api_url: str
    report_prefix: str

    def report_uri(self, workflow_name: str) -> str:
        """Where the DAG's report step writes (the template's s3://bucket/prefix/conformance/<workflow>/
        report.json, with report_prefix = prefix/conformance)."""
        return f"s3://{self.bucket}/{self.report_prefix}/{workflow_name}/report.json"


def read_env_config(env: str, path: Path | None = None, schema: Path | None = None) -> EnvConfig:
    try:
        path = path or repo.env_config_path(env)
    except ValueError as e:
        raise EnvConfigError(str(e)) from e
    schema = schema or ENV_SCHEMA
    if not path.is_file():
        raise EnvConfigError(f"{repo.relpath(path)} not found: the env's tooling config")
    try:
        import yamale
    except ImportError as e:
        raise EnvConfigError("yamale is not installed (the `ops` extra): cannot validate env.yaml") from e
    if not schema.is_file():
        raise EnvConfigError(f"{repo.relpath(schema)} not found")
    try:
        with warnings.catch_warnings():  # yamale evaluates regex('\s…') schema strings
            warnings.simplefilter("ignore", SyntaxWarning)
            compiled = yamale.make_schema(str(schema))
        yamale.validate(compiled, yamale.make_data(str(path)), strict=True)
    except yamale.YamaleError as e:
        problems = "; ".join(err for r in e.results for err in r.errors)
        raise EnvConfigError(f"{repo.relpath(path)}: {problems}") from e
    except (yaml.YAMLError, ValueError) as e:
        raise EnvConfigError(f"{repo.relpath(path)}: {e}") from e
    data = yaml.safe_load(path.read_text()) or {}
    values = {f.name: str(data.get(f.name, "")) for f in fields(EnvConfig) if f.name != "env"}
    return EnvConfig(env=env, **values)
