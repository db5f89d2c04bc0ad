"""The env's config: env.yaml (only what the render cannot say) and the facts read from the render."""

from __future__ import annotations

import copy

import pytest
import yaml

from tooling import envconfig, repo
from tooling.manifests.rendered import render_env


def test_valid_env_yaml(fixtures_dir):
    found, data = envconfig.check_env_schema(fixtures_dir / "env/valid.yaml", "prod")
    assert found == [] and data["context"] == "ovh-geozarr-prod"


def test_invalid_env_yaml(fixtures_dir):
    found, _ = envconfig.check_env_schema(fixtures_dir / "env/invalid.yaml", "prod")
    assert {f.rule for f in found} == {envconfig.SCHEMA.id}
    assert {f.path for f in found} == {"context", "images_by_digest", "namespace"}
    assert {f.file for f in found} == {"tests/manifests/fixtures/env/invalid.yaml"}


def test_unreadable_env_yaml(tmp_path):
    found, data = envconfig.check_env_schema(tmp_path / "missing.yaml", "prod")
    assert data == {} and [f.rule for f in found] == [envconfig.SCHEMA.id]


@pytest.mark.parametrize("env", repo.ENVS)
def test_repo_env_yaml_is_valid(env):
    assert envconfig.check_env_schema(repo.env_config_path(env), env)[0] == []


def test_broken_yaml(tmp_path):
    (tmp_path / "env.yaml").write_text("context: [unclosed\n")
    found, data = envconfig.check_env_schema(tmp_path / "env.yaml", "prod")
    assert data == {} and [f.rule for f in found] == [envconfig.SCHEMA.id]


def test_images_by_digest_is_the_env_files_switch():
    assert envconfig.read_env_file("prod").images_by_digest is True
    assert envconfig.read_env_file("staging").images_by_digest is False


@pytest.mark.parametrize("env", repo.ENVS)
def test_facts_come_from_the_render(env):
    """Namespace, bucket and image are the kustomization's, not repeated in env.yaml."""
    kustomization = yaml.safe_load((repo.overlay_dir(env) / "kustomization.yaml").read_text())
    literals = dict(lit.split("=", 1) for g in kustomization["configMapGenerator"]
                    if g["name"] == "geozarr-params" for lit in g["literals"])
    cfg = envconfig.read_env_config(env)
    assert cfg.namespace == kustomization["namespace"]
    assert (cfg.bucket, cfg.prefix, cfg.collection) == (
        literals["output_bucket"], literals["output_prefix"], literals["collection"])
    assert (cfg.s3_endpoint, cfg.stac_api_url) == (literals["s3_endpoint"], literals["stac_api_url"])
    assert cfg.report_prefix == f"{literals['output_prefix']}/conformance"
    [image] = kustomization["images"]
    assert cfg.runner_image.startswith(image["name"])
    assert envconfig.check_render_facts(render_env(env).docs, env, "k.yaml") == []


def test_render_without_the_facts_is_named(docs_of):
    docs = copy.deepcopy(docs_of("policy/valid.yaml"))
    docs[0].obj["metadata"]["namespace"] = "a"
    docs[1].obj["metadata"]["namespace"] = "b"
    found = envconfig.check_render_facts(docs, "prod", "k.yaml")
    assert {f.rule for f in found} == {envconfig.RENDER_FACTS.id}
    assert {f.path for f in found} == {"namespace", "bucket", "s3_endpoint", "stac_api_url"}
    with pytest.raises(envconfig.EnvConfigError, match="namespaces"):
        envconfig.env_config("prod", envconfig.read_env_file("prod"), docs)
