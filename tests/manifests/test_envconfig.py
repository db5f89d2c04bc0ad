"""overlays/<env>/env.yaml: its yamale schema and its agreement with the rendered env."""

from __future__ import annotations

import pytest

from tooling import repo
from tooling.manifests import envconfig


def test_valid_env_yaml(fixtures_dir):
    found, data = envconfig.check_env_schema(fixtures_dir / "env/valid.yaml", "prod")
    assert found == [] and data["namespace"] == "geozarr"


def test_invalid_env_yaml(fixtures_dir):
    found, _ = envconfig.check_env_schema(fixtures_dir / "env/invalid.yaml", "prod")
    assert {f.rule for f in found} == {envconfig.SCHEMA.id}
    assert {f.path for f in found} == {"namespace", "s3_endpoint", "report_prefix", "report_prefx"}
    assert {f.file for f in found} == {"tests/manifests/fixtures/env/invalid.yaml"}


def test_unreadable_env_yaml(tmp_path):
    found, data = envconfig.check_env_schema(tmp_path / "missing.yaml", "prod")
    assert data == {} and [f.rule for f in found] == [envconfig.SCHEMA.id]


@pytest.mark.parametrize("env", repo.ENVS)
def test_repo_env_yaml_is_valid(env):
    assert envconfig.check_env_schema(repo.env_config_path(env), env)[0] == []


def test_consistency(fixtures_dir, docs_of):
    _, config = envconfig.check_env_schema(fixtures_dir / "env/valid.yaml")
    docs = docs_of("policy/valid.yaml")
    for d in docs:
        d.obj["metadata"]["namespace"] = "geozarr"
    effective = {"output_bucket": "eopf-geozarr", "output_prefix": "geozarr",
                 "s3_endpoint": "https://s3.de.io.cloud.ovh.net",
                 "stac_api_url": "https://api.explorer.eopf.copernicus.eu/stac"}
    assert envconfig.check_env_consistency(config, docs, effective, "prod", "env.yaml") == []

    docs[0].obj["metadata"]["namespace"] = "geozarr-staging"
    found = envconfig.check_env_consistency(config, docs, effective | {"output_bucket": "other"}, "prod", "env.yaml")
    assert sorted((f.rule, f.path) for f in found) == [(envconfig.CONSISTENT.id, "bucket"), (envconfig.CONSISTENT.id, "namespace")]
    assert next(f for f in found if f.path == "namespace").name == docs[0].name


def test_report_prefix_follows_output_prefix(fixtures_dir):
    _, config = envconfig.check_env_schema(fixtures_dir / "env/valid.yaml")
    assert envconfig.check_env_consistency(config, [], {"output_prefix": "geozarr"}, "prod", "env.yaml") == []
    config = config | {"report_prefix": "reports"}
    found = envconfig.check_env_consistency(config, [], {"output_prefix": "geozarr"}, "prod", "env.yaml")
    assert [f.path for f in found] == ["report_prefix"]


def test_broken_yaml(tmp_path):
    (tmp_path / "env.yaml").write_text("namespace: [unclosed\n")
    found, data = envconfig.check_env_schema(tmp_path / "env.yaml", "prod")
    assert data == {} and [f.rule for f in found] == [envconfig.SCHEMA.id]
