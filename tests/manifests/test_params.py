"""params.json, its schema and the templates' parameters (fixtures rendered for real)."""

from __future__ import annotations

import copy
import json

import pytest

from tooling import repo
from tooling.manifests import params

FIXTURE_PARAMS = {"output_bucket": "geozarr", "groups": ["/a", "/b"], "spatial_chunk": 4096, "enable_sharding": False}


def test_repo_params_json_is_valid():
    assert params.check_schema(params.load_params(), "base/params.json") == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: p.update(compression_level=12), "compression_level"),
        (lambda p: p.update(groups="/measurements/r10m"), "groups"),
        (lambda p: p.update(enable_sharding="false"), "enable_sharding"),
        (lambda p: p.update(extra_key=1), ""),
        (lambda p: p.pop("collection"), ""),
        (lambda p: p.update(output_bucket="Not_A_Bucket"), "output_bucket"),
    ],
)
def test_invalid_params_json(change, path):
    bad = copy.deepcopy(params.load_params())
    change(bad)
    found = params.check_schema(bad, "base/params.json")
    assert [f.rule for f in found] == [params.SCHEMA.id]
    assert found[0].path == path and found[0].file == "base/params.json"


def test_replaced_overlay_defaults_match(rendered_of):
    env = rendered_of("params/overlay-replaced")
    effective, problems = params.effective_params(env.docs, FIXTURE_PARAMS)
    assert problems == [] and effective["output_bucket"] == "prod-bucket" and effective["spatial_chunk"] == 2048
    assert params.check_defaults(env.docs, effective, "prod") == []
    assert params.check_keys(env.docs, list(FIXTURE_PARAMS), "prod") == []


def test_forgotten_replacement_is_caught(rendered_of):
    env = rendered_of("params/overlay-forgot-replacement")
    effective, _ = params.effective_params(env.docs, FIXTURE_PARAMS)
    found = params.check_defaults(env.docs, effective, "prod")
    assert [(f.rule, f.path, f.name) for f in found] == [
        (params.DEFAULTS.id, "spec.arguments.parameters[name=output_bucket].value", "convert")
    ]
    assert found[0].file.endswith("params/base/workflow.yaml")
    assert '"geozarr"' in found[0].message and '"prod-bucket"' in found[0].message


def test_lists_and_booleans_compare_as_values(rendered_of):
    env = rendered_of("params/base")
    wt = next(d for d in env.docs if d.kind == "WorkflowTemplate")
    wt.obj["spec"]["arguments"]["parameters"][1]["value"] = '[ "/a", "/b" ]'  # spacing differs: same list
    assert params.check_defaults([wt], FIXTURE_PARAMS) == []
    wt.obj["spec"]["arguments"]["parameters"][3]["value"] = "False"  # Argo/runner spelling is true/false
    assert [f.path for f in params.check_defaults([wt], FIXTURE_PARAMS)] == [
        "spec.arguments.parameters[name=enable_sharding].value"
    ]


@pytest.mark.parametrize(
    ("annotation", "extra", "expected"),
    [
        ("size,seed", ["size", "seed"], []),
        ("", ["size"], ["spec.arguments.parameters[name=size]"]),
        ("size, seed", ["size"], [f"metadata.annotations.{params.EXTRA_ANNOTATION}"]),
    ],
)
def test_extra_parameters_must_be_declared(rendered_of, annotation, extra, expected):
    wt = next(d for d in rendered_of("params/base").docs if d.kind == "WorkflowTemplate")
    wt.obj["spec"]["arguments"]["parameters"] += [{"name": n, "value": "1"} for n in extra]
    if annotation:
        wt.obj["metadata"].setdefault("annotations", {})[params.EXTRA_ANNOTATION] = annotation
    assert [f.path for f in params.check_keys([wt], list(FIXTURE_PARAMS))] == expected


def test_missing_and_duplicate_keys(rendered_of):
    wt = next(d for d in rendered_of("params/base").docs if d.kind == "WorkflowTemplate")
    ps = wt.obj["spec"]["arguments"]["parameters"]
    ps[:] = [p for p in ps if p["name"] != "groups"] + [dict(ps[0])]
    messages = [f.message for f in params.check_keys([wt], list(FIXTURE_PARAMS))]
    assert any("'output_bucket' is declared 2 times" in m for m in messages)
    assert any("'groups' is not a workflow parameter" in m for m in messages)


def test_literal_of_the_wrong_type_is_caught(rendered_of):
    env = rendered_of("params/base")
    cm = next(d for d in env.docs if d.kind == "ConfigMap")
    cm.obj["data"]["spatial_chunk"] = "big"
    found, _ = params.check_env_params(env.docs, FIXTURE_PARAMS, "prod", "overlays/prod/kustomization.yaml")
    assert any(f.rule == params.SCHEMA.id and f.path == "spatial_chunk" for f in found)


def test_repo_templates_match_params_json():
    """Both real WorkflowTemplates declare exactly params.json's keys with its defaults."""
    from tooling.manifests.render import kustomize
    from tooling.manifests.rendered import from_rendered

    base = from_rendered(kustomize(repo.BASE), repo.BASE, "base")
    keys = json.loads(repo.PARAMS_JSON.read_text())
    assert {d.name for d in base.docs if d.kind == "WorkflowTemplate"} == {"geozarr-convert", "geozarr-conformance",
                                                                                 "geozarr-backfill"}
    assert params.check_keys(base.docs, list(keys)) == []
    assert params.check_defaults(base.docs, keys) == []
